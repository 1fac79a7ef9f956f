/*
 * http.c - pure parsers for what an HTTP reply says: the status line, header
 * lines, Content-Range, Content-Length, Retry-After and a redirect's
 * Location. Strict on purpose: a reply that does not say exactly what was
 * asked is never written anywhere, and no number a server states above
 * PF_SIZE_MAX is taken. No I/O, no shared state; any thread.
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

/* Digits at *p (no sign, no spaces) into *out; advances *p past them all.
 * Returns 0, -1 if there are none, or -2 if the number is above PF_SIZE_MAX
 * (however many digits follow: nothing is computed past the bound). */
static int parse_num(const char **p, const char *end, uint64_t *out) {
  const char *s = *p;
  uint64_t v = 0;
  int over = 0;
  if (s >= end || !isdigit((unsigned char)*s))
    return -1;
  for (; s < end && isdigit((unsigned char)*s); s++) {
    if (!over)
      v = v * 10 + (unsigned)(*s - '0');
    if (v > PF_SIZE_MAX)
      over = 1;
  }
  *p = s;
  *out = v;
  return over ? -2 : 0;
}

int pf_http_content_range(const char *value, size_t len, uint64_t *start, uint64_t *end,
                          uint64_t *total, int *unsat) {
  const char *p = value, *e = value + len;
  int over = 0, r;
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
    if ((r = parse_num(&p, e, total)) == -1 || p != e)
      return -1;
    *unsat = 1;
    *start = *end = 0;
    return r;
  }
  if ((r = parse_num(&p, e, start)) == -1 || p >= e || *p != '-')
    return -1;
  over |= r;
  p++;
  if ((r = parse_num(&p, e, end)) == -1 || p >= e || *p != '/')
    return -1;
  over |= r;
  p++;
  if (p < e && *p == '*' && p + 1 == e) {
    *total = PF_SIZE_UNKNOWN;
  } else {
    if ((r = parse_num(&p, e, total)) == -1 || p != e)
      return -1;
    over |= r;
  }
  /* every number is now at most PF_SIZE_MAX: end + 1 cannot wrap */
  if (over || *end >= PF_SIZE_MAX)
    return -2;
  if (*start > *end || (*total != PF_SIZE_UNKNOWN && *end >= *total))
    return -1;
  return 0;
}

int pf_http_content_length(const char *value, size_t len, uint64_t *out) {
  const char *p = value;
  int r = parse_num(&p, value + len, out);
  if (r == -1 || p != value + len)
    return -1;
  return r;
}

long pf_http_retry_after(const char *value, size_t len, long long now) {
  char buf[128];
  if (len == 0 || len >= sizeof buf)
    return -1;
  memcpy(buf, value, len);
  buf[len] = '\0';
  const char *p = buf;
  uint64_t secs;
  int r = parse_num(&p, buf + len, &secs);
  if (r != -1 && p == buf + len)
    return r == -2 || secs > 86400 ? 86400 : (long)secs;
  time_t when = curl_getdate(buf, NULL);
  if (when == (time_t)-1)
    return -1;
  long long d = (long long)when - now;
  if (d < 0)
    d = 0;
  return d > 86400 ? 86400 : (long)d;
}

char *pf_http_resolve_location(const char *base, const char *location) {
  CURLU *u = curl_url();
  char *abs = NULL, *scheme = NULL, *out = NULL;
  if (u && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_URL, location, CURLU_URLENCODE) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0) &&
      curl_url_get(u, CURLUPART_URL, &abs, 0) == CURLUE_OK)
    out = strdup(abs);
  curl_free(abs);
  curl_free(scheme);
  curl_url_cleanup(u);
  return out;
}

size_t pf_http_date(char *out, size_t cap, int64_t when) {
  static const char days[7][4] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
  static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (when < 0 || when > 253402300799LL) /* 9999-12-31T23:59:59Z */
    return 0;
  /* days since 1970-01-01 (a Thursday) to a civil date: no locale, no
   * time zone, no libc state (strftime's names follow LC_TIME) */
  int64_t day = when / 86400, sec = when % 86400;
  int64_t z = day + 719468, era = z / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
  int64_t y = yoe + era * 400 + (m <= 2);
  int n = snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[day % 7], (int)d,
                   months[m - 1], (int)y, (int)(sec / 3600), (int)(sec / 60 % 60),
                   (int)(sec % 60));
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
