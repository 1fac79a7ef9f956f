/* test_http.c - reply parsing: status lines, header lines, Content-Range
 * (strict), Content-Length, the bound on every number a server states,
 * Retry-After and Location. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "internal.h"
#include "suites.h"

#define S(lit) lit, sizeof(lit) - 1

static void test_status_line(void) {
  CU_ASSERT_EQUAL(pf_http_status_line(S("HTTP/1.1 206 Partial Content\r\n")), 206);
  CU_ASSERT_EQUAL(pf_http_status_line(S("HTTP/2 200\r\n")), 200);
  CU_ASSERT_EQUAL(pf_http_status_line(S("HTTP/1.0 404 Not Found\r\n")), 404);
  CU_ASSERT_EQUAL(pf_http_status_line(S("Content-Range: bytes 0-1/2\r\n")), -1);
  CU_ASSERT_EQUAL(pf_http_status_line(S("HTTP/1.1 2x6 Partial\r\n")), -1);
  CU_ASSERT_EQUAL(pf_http_status_line(S("HTTP/1.1 2066 Partial\r\n")), -1);
  CU_ASSERT_EQUAL(pf_http_status_line(S("\r\n")), -1);
}

static void test_header_split(void) {
  const char *n, *v;
  size_t nl, vl;
  CU_ASSERT_EQUAL(pf_http_header_split(S("ETag:  \"abc\" \r\n"), &n, &nl, &v, &vl), 0);
  CU_ASSERT_EQUAL(nl, 4);
  CU_ASSERT(pf_http_name_is(n, nl, "etag"));
  CU_ASSERT_EQUAL(vl, 5);
  CU_ASSERT_EQUAL(strncmp(v, "\"abc\"", vl), 0);
  CU_ASSERT_EQUAL(pf_http_header_split(S("X-Empty:\r\n"), &n, &nl, &v, &vl), 0);
  CU_ASSERT_EQUAL(vl, 0);
  CU_ASSERT_EQUAL(pf_http_header_split(S("no colon here\r\n"), &n, &nl, &v, &vl), -1);
  CU_ASSERT_EQUAL(pf_http_header_split(S(": value\r\n"), &n, &nl, &v, &vl), -1);
  CU_ASSERT(!pf_http_name_is("ETags", 5, "etag"));
}

static void test_content_range_good(void) {
  uint64_t a, b, t;
  int u;
  CU_ASSERT_EQUAL(pf_http_content_range(S("bytes 0-99/100"), &a, &b, &t, &u), 0);
  CU_ASSERT(a == 0 && b == 99 && t == 100 && u == 0);
  CU_ASSERT_EQUAL(pf_http_content_range(S("bytes 5-5/6"), &a, &b, &t, &u), 0);
  CU_ASSERT(a == 5 && b == 5 && t == 6);
  CU_ASSERT_EQUAL(pf_http_content_range(S("bytes */0"), &a, &b, &t, &u), 0);
  CU_ASSERT(u == 1 && t == 0);
  CU_ASSERT_EQUAL(pf_http_content_range(S("bytes 0-9/*"), &a, &b, &t, &u), 0);
  CU_ASSERT_EQUAL(t, PF_SIZE_UNKNOWN);
  CU_ASSERT_EQUAL(
      pf_http_content_range(S("bytes 4294967296-8589934591/8589934592"), &a, &b, &t, &u), 0);
  CU_ASSERT(a == 4294967296ull && b == 8589934591ull && t == 8589934592ull);
  CU_ASSERT_EQUAL(pf_http_content_range(S("BYTES 1-2/3"), &a, &b, &t, &u), 0);
}

static void test_content_range_bad(void) {
  uint64_t a, b, t;
  int u;
  const char *bad[] = {"bytes 10-5/100",  /* start > end */
                       "bytes 0-100/100", /* end past total */
                       "bytes 0-99",      "bytes -1-99/100", "bytes 0-99/100x", "items 0-99/100",
                       "bytes 0 - 99/100", "bytes=0-99/100", "bytes 0-99/",    "bytes */",
                       ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CU_ASSERT_EQUAL(pf_http_content_range(bad[i], strlen(bad[i]), &a, &b, &t, &u), -1);
}

/* Numbers above PF_SIZE_MAX are refused (-2) before anything adds to them:
 * an end of UINT64_MAX would make end + 1 wrap to 0, a total of UINT64_MAX
 * would read as PF_SIZE_UNKNOWN, a total near INT64_MAX is no real file. */
static void test_content_range_bounds(void) {
  uint64_t a, b, t;
  int u;
  CU_ASSERT_EQUAL(pf_http_content_range(S("bytes 0-18446744073709551615/*"), &a, &b, &t, &u), -2);
  CU_ASSERT_EQUAL(pf_http_content_range(S("bytes 0-99/18446744073709551615"), &a, &b, &t, &u), -2);
  CU_ASSERT_EQUAL(pf_http_content_range(S("bytes 0-99/9223372036854775807"), &a, &b, &t, &u), -2);
  CU_ASSERT_EQUAL(pf_http_content_range(S("bytes 0-99/9223372036853727232"), &a, &b, &t, &u), -2);
  CU_ASSERT_EQUAL(pf_http_content_range(S("bytes */18446744073709551615"), &a, &b, &t, &u), -2);
  CU_ASSERT_EQUAL(
      pf_http_content_range(S("bytes 0-18446744073709551616/18446744073709551617"), &a, &b, &t, &u),
      -2);
  char v[96];
  snprintf(v, sizeof v, "bytes 0-99/%llu", (unsigned long long)PF_SIZE_MAX);
  CU_ASSERT_EQUAL(pf_http_content_range(v, strlen(v), &a, &b, &t, &u), 0);
  CU_ASSERT_EQUAL(t, PF_SIZE_MAX);
  snprintf(v, sizeof v, "bytes 0-99/%llu", (unsigned long long)PF_SIZE_MAX + 1);
  CU_ASSERT_EQUAL(pf_http_content_range(v, strlen(v), &a, &b, &t, &u), -2);
  snprintf(v, sizeof v, "bytes %llu-%llu/*", (unsigned long long)PF_SIZE_MAX - 1,
           (unsigned long long)PF_SIZE_MAX - 1);
  CU_ASSERT_EQUAL(pf_http_content_range(v, strlen(v), &a, &b, &t, &u), 0);
  CU_ASSERT(a == PF_SIZE_MAX - 1 && b == PF_SIZE_MAX - 1 && t == PF_SIZE_UNKNOWN);
  snprintf(v, sizeof v, "bytes 0-%llu/*", (unsigned long long)PF_SIZE_MAX);
  CU_ASSERT_EQUAL(pf_http_content_range(v, strlen(v), &a, &b, &t, &u), -2);
}

static void test_content_length(void) {
  uint64_t v = 7;
  CU_ASSERT_EQUAL(pf_http_content_length(S("12"), &v), 0);
  CU_ASSERT_EQUAL(v, 12);
  CU_ASSERT_EQUAL(pf_http_content_length(S("0"), &v), 0);
  CU_ASSERT_EQUAL(v, 0);
  char buf[32];
  snprintf(buf, sizeof buf, "%llu", (unsigned long long)PF_SIZE_MAX);
  CU_ASSERT_EQUAL(pf_http_content_length(buf, strlen(buf), &v), 0);
  CU_ASSERT_EQUAL(v, PF_SIZE_MAX);
  snprintf(buf, sizeof buf, "%llu", (unsigned long long)PF_SIZE_MAX + 1);
  CU_ASSERT_EQUAL(pf_http_content_length(buf, strlen(buf), &v), -2);
  CU_ASSERT_EQUAL(pf_http_content_length(S("18446744073709551615"), &v), -2);
  CU_ASSERT_EQUAL(pf_http_content_length(S("9223372036854775807"), &v), -2);
  CU_ASSERT_EQUAL(pf_http_content_length(S("99999999999999999999999"), &v), -2);
  const char *bad[] = {"", "-1", "+5", "12x", "1 2", "0x10", "12,12"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CU_ASSERT_EQUAL(pf_http_content_length(bad[i], strlen(bad[i]), &v), -1);
}

static void check_location(const char *base, const char *loc, const char *want) {
  char *got = pf_http_resolve_location(base, loc);
  if (!want) {
    CU_ASSERT_PTR_NULL(got);
  } else {
    CU_ASSERT(got && strcmp(got, want) == 0);
  }
  free(got);
}

static void test_resolve_location(void) {
  check_location("http://h/a/b?q", "c", "http://h/a/c");
  check_location("http://h/a/b", "/x/y", "http://h/x/y");
  check_location("http://h/a/b", "//o:81/z", "http://o:81/z");
  check_location("http://h/a/b", "https://o/y", "https://o/y");
  check_location("https://h/a", "?p=1", "https://h/a?p=1");
  check_location("http://h/a", "/a b", "http://h/a%20b");
  check_location("http://h/a", "ftp://o/y", NULL);
  check_location("http://h/a", "file:///etc/passwd", NULL);
  check_location("http://h/a", "http://", NULL);
}

static void test_retry_after(void) {
  CU_ASSERT_EQUAL(pf_http_retry_after(S("3"), 0), 3);
  CU_ASSERT_EQUAL(pf_http_retry_after(S("0"), 0), 0);
  CU_ASSERT_EQUAL(pf_http_retry_after(S("999999999"), 0), 86400);
  CU_ASSERT_EQUAL(pf_http_retry_after(S("99999999999999999999999"), 0), 86400);
  /* Sun, 06 Nov 1994 08:49:37 GMT = 784111777 */
  CU_ASSERT_EQUAL(pf_http_retry_after(S("Sun, 06 Nov 1994 08:49:37 GMT"), 784111770LL), 7);
  CU_ASSERT_EQUAL(pf_http_retry_after(S("Sun, 06 Nov 1994 08:49:37 GMT"), 784111800LL), 0);
  CU_ASSERT_EQUAL(pf_http_retry_after(S("soon"), 0), -1);
  CU_ASSERT_EQUAL(pf_http_retry_after(S("-5"), 0), -1);
  CU_ASSERT_EQUAL(pf_http_retry_after("", 0, 0), -1);
}

/* If-Modified-Since's date: IMF-fixdate, English names whatever the locale */
static void test_http_date(void) {
  char b[PF_HTTP_DATE_MAX];
  CU_ASSERT_EQUAL(pf_http_date(b, sizeof b, 784111777), 29);
  CU_ASSERT_STRING_EQUAL(b, "Sun, 06 Nov 1994 08:49:37 GMT");
  CU_ASSERT(pf_http_date(b, sizeof b, 0) > 0);
  CU_ASSERT_STRING_EQUAL(b, "Thu, 01 Jan 1970 00:00:00 GMT");
  CU_ASSERT(pf_http_date(b, sizeof b, 951782400) > 0); /* a leap day */
  CU_ASSERT_STRING_EQUAL(b, "Tue, 29 Feb 2000 00:00:00 GMT");
  CU_ASSERT(pf_http_date(b, sizeof b, 1798761599) > 0);
  CU_ASSERT_STRING_EQUAL(b, "Thu, 31 Dec 2026 23:59:59 GMT");
  CU_ASSERT(pf_http_date(b, sizeof b, 253402300799LL) > 0);
  CU_ASSERT_STRING_EQUAL(b, "Fri, 31 Dec 9999 23:59:59 GMT");
  CU_ASSERT_EQUAL(pf_http_date(b, sizeof b, -1), 0);
  CU_ASSERT_EQUAL(pf_http_date(b, sizeof b, 253402300800LL), 0);
  CU_ASSERT_EQUAL(pf_http_date(b, 29, 0), 0); /* no room for the NUL */
}

int pf_suite_http(void) {
  CU_pSuite s = CU_add_suite("http", NULL, NULL);
  if (!s || !CU_add_test(s, "status line", test_status_line) ||
      !CU_add_test(s, "header split", test_header_split) ||
      !CU_add_test(s, "Content-Range accepted", test_content_range_good) ||
      !CU_add_test(s, "Content-Range rejected", test_content_range_bad) ||
      !CU_add_test(s, "numbers above PF_SIZE_MAX refused", test_content_range_bounds) ||
      !CU_add_test(s, "Content-Length", test_content_length) ||
      !CU_add_test(s, "Location resolved", test_resolve_location) ||
      !CU_add_test(s, "Retry-After", test_retry_after) ||
      !CU_add_test(s, "HTTP-date", test_http_date))
    return CU_get_error();
  return CUE_SUCCESS;
}
