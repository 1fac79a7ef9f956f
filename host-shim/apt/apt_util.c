/*
 * apt_util.c - see apt_util.h. Pure: no I/O, no threads, no globals.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "apt_util.h"

static int month_of(const char *m) {
  static const char names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; i++)
    if (strncasecmp(m, names[i], 3) == 0)
      return i;
  return -1;
}

/* seconds since the epoch of a UTC civil time; no libc time zone state */
static int64_t civil_to_epoch(int y, int mon /* 0..11 */, int d, int h, int mi, int s) {
  int m = mon + 1;
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = era * 146097 + doe - 719468;
  return days * 86400 + h * 3600 + mi * 60 + s;
}

static int valid(int y, int mon, int d, int h, int mi, int s) {
  return y >= 1970 && y <= 9999 && mon >= 0 && d >= 1 && d <= 31 && h >= 0 && h <= 23 &&
         mi >= 0 && mi <= 59 && s >= 0 && s <= 60;
}

int64_t apt_time_parse(const char *s) {
  if (!s)
    return -1;
  char wd[16], mon[4], tz[8];
  int d, y, h, mi, sec, n = 0;
  /* RFC 1123: "Sun, 06 Nov 1994 08:49:37 GMT" */
  if (sscanf(s, "%15[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %7s%n", wd, &d, mon, &y, &h, &mi,
             &sec, tz, &n) == 8 &&
      s[n] == '\0' && (strcmp(tz, "GMT") == 0 || strcmp(tz, "UTC") == 0)) {
    int m = month_of(mon);
    return m >= 0 && valid(y, m, d, h, mi, sec) ? civil_to_epoch(y, m, d, h, mi, sec) : -1;
  }
  /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
  n = 0;
  if (sscanf(s, "%15[A-Za-z], %2d-%3[A-Za-z]-%4d %2d:%2d:%2d %7s%n", wd, &d, mon, &y, &h, &mi,
             &sec, tz, &n) == 8 &&
      s[n] == '\0' && strcmp(tz, "GMT") == 0) {
    int m = month_of(mon);
    if (y < 100)
      y += y < 70 ? 2000 : 1900;
    return m >= 0 && valid(y, m, d, h, mi, sec) ? civil_to_epoch(y, m, d, h, mi, sec) : -1;
  }
  /* asctime: "Sun Nov  6 08:49:37 1994" */
  n = 0;
  if (sscanf(s, "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", wd, mon, &d, &h, &mi, &sec, &y,
             &n) == 7 &&
      s[n] == '\0') {
    int m = month_of(mon);
    return m >= 0 && valid(y, m, d, h, mi, sec) ? civil_to_epoch(y, m, d, h, mi, sec) : -1;
  }
  return -1;
}

const char *apt_fail_reason(pf_status st, unsigned http_status, unsigned net_error,
                            int *transient, char *buf, size_t cap) {
  *transient = 0;
  switch (st) {
  case PF_E_HTTP:
    if (http_status >= 100 && http_status <= 999) {
      *transient = http_status == 408 || http_status == 429 || http_status == 500 ||
                   http_status == 502 || http_status == 503 || http_status == 504 ||
                   http_status == 599;
      snprintf(buf, cap, "HttpError%u", http_status);
      return buf;
    }
    *transient = 1;
    return NULL;
  case PF_E_NETWORK:
    *transient = 1;
    switch (net_error) {
    case PF_NET_RESOLVE:
      return "ResolveFailure";
    case PF_NET_REFUSED:
      return "ConnectionRefused";
    case PF_NET_TIMEOUT:
      return "Timeout";
    default:
      return NULL;
    }
  case PF_E_CHECKSUM:
    return "HashSumMismatch";
  case PF_E_TOO_LARGE:
    return "MaximumSizeExceeded";
  case PF_E_CHANGED:
  case PF_E_BAD_REPLY:
    *transient = 1; /* the mirror was updated meanwhile, or a proxy glitched */
    return NULL;
  default:
    return NULL;
  }
}

static int all_hex(const char *v, size_t want) {
  size_t n = strlen(v);
  if (n != want)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isxdigit((unsigned char)v[i]))
      return 0;
  return 1;
}

int apt_expected_checksum(const struct apt_msg *m, char *out, size_t cap, char *err,
                          size_t errlen) {
  static const struct {
    const char *field, *algo;
    size_t hexlen;
  } order[] = {{"Expected-SHA512", "sha512", 128},
               {"Expected-SHA256", "sha256", 64},
               {"Expected-SHA1", "sha1", 40},
               {"Expected-MD5Sum", "md5", 32}};
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    const char *v = apt_msg_get(m, order[i].field);
    if (!v || !*v)
      continue;
    if (!all_hex(v, order[i].hexlen)) {
      snprintf(err, errlen, "%s is not %zu hexadecimal digits: \"%.140s\"", order[i].field,
               order[i].hexlen, v);
      return -1;
    }
    int n = snprintf(out, cap, "%s=%s", order[i].algo, v);
    if (n < 0 || (size_t)n >= cap) {
      snprintf(err, errlen, "no room for the checksum");
      return -1;
    }
    return 1;
  }
  return 0;
}

/* s[0..len) %-decoded as apt's DeQuoteString does (apt_dequote) */
static char *pct_decode(const char *s, size_t len) {
  char *t = strndup(s, len);
  char *o = t ? apt_dequote(t) : NULL;
  free(t);
  return o;
}

int apt_uri_userinfo(const char *uri, char **stripped, char **user, char **password) {
  *stripped = *user = *password = NULL;
  const char *sep = strstr(uri, "://");
  const char *auth = sep ? sep + 3 : NULL;
  size_t alen = auth ? strcspn(auth, "/?#") : 0;
  const char *at = NULL;
  for (size_t i = 0; auth && i < alen; i++)
    if (auth[i] == '@')
      at = auth + i; /* the last one: a password may hold '@' unencoded */
  if (!at) {
    *stripped = strdup(uri);
    return *stripped ? 0 : -1;
  }
  const char *colon = memchr(auth, ':', (size_t)(at - auth));
  size_t ulen = colon ? (size_t)(colon - auth) : (size_t)(at - auth);
  *user = pct_decode(auth, ulen);
  if (colon)
    *password = pct_decode(colon + 1, (size_t)(at - colon - 1));
  size_t head = (size_t)(auth - uri);
  *stripped = malloc(strlen(uri) + 1);
  if (!*user || (colon && !*password) || !*stripped) {
    free(*user), free(*password), free(*stripped);
    *stripped = *user = *password = NULL;
    return -1;
  }
  memcpy(*stripped, uri, head);
  strcpy(*stripped + head, at + 1);
  return 0;
}

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

/* s %-encoded but for the unreserved characters, appended at o */
static size_t pct_encode(char *o, const char *s) {
  size_t k = 0;
  for (; *s; s++) {
    if (unreserved((unsigned char)*s))
      o[k++] = *s;
    else
      k += (size_t)sprintf(o + k, "%%%02X", (unsigned char)*s);
  }
  return k;
}

char *apt_url_with_userinfo(const char *url, const char *user, const char *password) {
  const char *sep = strstr(url, "://");
  if (!sep)
    return strdup(url);
  size_t head = (size_t)(sep + 3 - url);
  size_t cap = strlen(url) + 3 * (strlen(user) + (password ? strlen(password) : 0)) + 3;
  char *o = malloc(cap);
  if (!o)
    return NULL;
  memcpy(o, url, head);
  size_t k = head + pct_encode(o + head, user);
  if (password) {
    o[k++] = ':';
    k += pct_encode(o + k, password);
  }
  o[k++] = '@';
  strcpy(o + k, sep + 3);
  return o;
}
