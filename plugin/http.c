/*
 * http.c - pure parsers for what an HTTP reply says: the status line, header
 * lines, Content-Range and Retry-After. Strict on purpose: a reply that does
 * not say exactly what was asked is never written anywhere. No I/O.
 */
#include <ctype.h>
#include <string.h>

#include <curl/curl.h>

#include "internal.h"

int pf_http_status_line(const char *line, size_t len) {
  if (len < 12 || memcmp(line, "HTTP/", 5) != 0)
    return -1;
  size_t i = 5;
  while (i < len && line[i] != ' ')
    i++;
  while (i < len && line[i] == ' ')
    i++;
  if (i + 3 > len)
    return -1;
  int code = 0;
  for (size_t k = 0; k < 3; k++) {
    if (!isdigit((unsigned char)line[i + k]))
      return -1;
    code = code * 10 + (line[i + k] - '0');
  }
  if (i + 3 < len && line[i + 3] != ' ' && line[i + 3] != '\r' && line[i + 3] != '\n')
    return -1;
  return code;
}

static int is_ows(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int pf_http_header_split(const char *line, size_t len, const char **name, size_t *name_len,
                         const char **value, size_t *value_len) {
  const char *colon = memchr(line, ':', len);
  if (!colon || colon == line)
    return -1;
  size_t nl = (size_t)(colon - line);
  while (nl > 0 && is_ows(line[nl - 1]))
    nl--;
  if (nl == 0)
    return -1;
  const char *v = colon + 1, *end = line + len;
  while (v < end && is_ows(*v))
    v++;
  while (end > v && is_ows(end[-1]))
    end--;
  *name = line;
  *name_len = nl;
  *value = v;
  *value_len = (size_t)(end - v);
  return 0;
}

int pf_http_name_is(const char *name, size_t len, const char *want) {
  return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* Digits at *p (no sign, no spaces) into *out; advances *p. */
static int parse_u64(const char **p, const char *end, uint64_t *out) {
  const char *s = *p;
  uint64_t v = 0;
  if (s >= end || !isdigit((unsigned char)*s))
    return -1;
  while (s < end && isdigit((unsigned char)*s)) {
    unsigned d = (unsigned)(*s - '0');
    if (v > (UINT64_MAX - d) / 10)
      return -1;
    v = v * 10 + d;
    s++;
  }
  *p = s;
  *out = v;
  return 0;
}

int pf_http_content_range(const char *value, size_t len, uint64_t *start, uint64_t *end,
                          uint64_t *total, int *unsat) {
  const char *p = value, *e = value + len;
  if (len < 6 || strncasecmp(p, "bytes", 5) != 0)
    return -1;
  p += 5;
  if (p >= e || *p != ' ')
    return -1;
  while (p < e && *p == ' ')
    p++;
  *unsat = 0;
  if (p < e && *p == '*') {
    p++;
    if (p >= e || *p != '/')
      return -1;
    p++;
    if (parse_u64(&p, e, total) != 0 || p != e)
      return -1;
    *unsat = 1;
    *start = *end = 0;
    return 0;
  }
  if (parse_u64(&p, e, start) != 0 || p >= e || *p != '-')
    return -1;
  p++;
  if (parse_u64(&p, e, end) != 0 || p >= e || *p != '/')
    return -1;
  p++;
  if (p < e && *p == '*' && p + 1 == e) {
    *total = PF_SIZE_UNKNOWN;
  } else if (parse_u64(&p, e, total) != 0 || p != e) {
    return -1;
  }
  if (*start > *end || (*total != PF_SIZE_UNKNOWN && *end >= *total))
    return -1;
  return 0;
}

long pf_http_retry_after(const char *value, size_t len, long long now) {
  char buf[128];
  if (len == 0 || len >= sizeof buf)
    return -1;
  memcpy(buf, value, len);
  buf[len] = '\0';
  const char *p = buf;
  uint64_t secs;
  if (parse_u64(&p, buf + len, &secs) == 0 && p == buf + len)
    return secs > 86400 ? 86400 : (long)secs;
  time_t when = curl_getdate(buf, NULL);
  if (when == (time_t)-1)
    return -1;
  long long d = (long long)when - now;
  if (d < 0)
    d = 0;
  return d > 86400 ? 86400 : (long)d;
}
