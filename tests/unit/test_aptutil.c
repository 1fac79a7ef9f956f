/* test_aptutil.c - the apt method's own pure pieces (host-shim/apt/apt_util.c):
 * dates as apt sends them, FailReason, the checksum chosen from Expected-*,
 * credentials in a URI, Basic auth and a proxy URL with credentials. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "apt/apt_util.h"
#include "suites.h"

static void test_time_parse(void) {
  CU_ASSERT_EQUAL(apt_time_parse("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  CU_ASSERT_EQUAL(apt_time_parse("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  CU_ASSERT_EQUAL(apt_time_parse("Sun Nov  6 08:49:37 1994"), 784111777);
  CU_ASSERT_EQUAL(apt_time_parse("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  CU_ASSERT_EQUAL(apt_time_parse("Tue, 29 Feb 2000 00:00:00 GMT"), 951782400);
  CU_ASSERT_EQUAL(apt_time_parse("Thu, 31 Dec 2026 23:59:59 GMT"), 1798761599);
  const char *bad[] = {"",
                       "yesterday",
                       "Sun, 06 Nov 1994 08:49:37",      /* no zone */
                       "Sun, 06 Nov 1994 08:49:37 CET",  /* not GMT */
                       "Sun, 06 Foo 1994 08:49:37 GMT",  /* no such month */
                       "Sun, 06 Nov 1994 25:49:37 GMT",  /* no such hour */
                       "Sun, 06 Nov 1994 08:49:37 GMT x", /* trailing text */
                       "Sun, 06 Nov 1969 08:49:37 GMT"}; /* before the epoch */
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CU_ASSERT_EQUAL(apt_time_parse(bad[i]), -1);
  CU_ASSERT_EQUAL(apt_time_parse(NULL), -1);
}

static void test_fail_reason(void) {
  char b[32];
  int t;
  CU_ASSERT_STRING_EQUAL(apt_fail_reason(PF_E_HTTP, 404, 0, &t, b, sizeof b), "HttpError404");
  CU_ASSERT_EQUAL(t, 0);
  unsigned transient[] = {408, 429, 500, 502, 503, 504, 599};
  for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++) {
    apt_fail_reason(PF_E_HTTP, transient[i], 0, &t, b, sizeof b);
    CU_ASSERT_EQUAL(t, 1);
  }
  apt_fail_reason(PF_E_HTTP, 501, 0, &t, b, sizeof b);
  CU_ASSERT_EQUAL(t, 0);
  CU_ASSERT_STRING_EQUAL(apt_fail_reason(PF_E_NETWORK, 0, PF_NET_RESOLVE, &t, b, sizeof b),
                         "ResolveFailure");
  CU_ASSERT_EQUAL(t, 1);
  CU_ASSERT_STRING_EQUAL(apt_fail_reason(PF_E_NETWORK, 0, PF_NET_REFUSED, &t, b, sizeof b),
                         "ConnectionRefused");
  CU_ASSERT_STRING_EQUAL(apt_fail_reason(PF_E_NETWORK, 0, PF_NET_TIMEOUT, &t, b, sizeof b),
                         "Timeout");
  CU_ASSERT_PTR_NULL(apt_fail_reason(PF_E_NETWORK, 0, PF_NET_OTHER, &t, b, sizeof b));
  CU_ASSERT_EQUAL(t, 1); /* a reset: apt retries it */
  CU_ASSERT_STRING_EQUAL(apt_fail_reason(PF_E_CHECKSUM, 0, 0, &t, b, sizeof b),
                         "HashSumMismatch");
  CU_ASSERT_EQUAL(t, 0);
  CU_ASSERT_STRING_EQUAL(apt_fail_reason(PF_E_TOO_LARGE, 0, 0, &t, b, sizeof b),
                         "MaximumSizeExceeded");
  CU_ASSERT_EQUAL(t, 0);
  CU_ASSERT_PTR_NULL(apt_fail_reason(PF_E_CHANGED, 0, 0, &t, b, sizeof b));
  CU_ASSERT_EQUAL(t, 1);
  CU_ASSERT_PTR_NULL(apt_fail_reason(PF_E_IO, 0, 0, &t, b, sizeof b));
  CU_ASSERT_EQUAL(t, 0);
}

static void field(struct apt_msg *m, struct apt_field *f, size_t n) {
  memset(m, 0, sizeof *m);
  m->code = 600;
  m->fields = f;
  m->nfields = n;
}

static void test_expected_checksum(void) {
  char out[160], err[256];
  char s256[65], s512[129];
  memset(s256, 'a', 64), s256[64] = 0;
  memset(s512, 'b', 128), s512[128] = 0;
  struct apt_field f[3] = {{"Expected-MD5Sum", "0123456789abcdef0123456789abcdef"},
                           {"Expected-SHA256", s256},
                           {"Expected-SHA512", s512}};
  struct apt_msg m;
  field(&m, f, 3);
  CU_ASSERT_EQUAL(apt_expected_checksum(&m, out, sizeof out, err, sizeof err), 1);
  CU_ASSERT_EQUAL(strncmp(out, "sha512=", 7), 0); /* the strongest */
  field(&m, f, 2);
  CU_ASSERT_EQUAL(apt_expected_checksum(&m, out, sizeof out, err, sizeof err), 1);
  CU_ASSERT_EQUAL(strncmp(out, "sha256=", 7), 0);
  field(&m, f, 1);
  CU_ASSERT_EQUAL(apt_expected_checksum(&m, out, sizeof out, err, sizeof err), 1);
  CU_ASSERT_STRING_EQUAL(out, "md5=0123456789abcdef0123456789abcdef");
  field(&m, f, 0);
  CU_ASSERT_EQUAL(apt_expected_checksum(&m, out, sizeof out, err, sizeof err), 0);
  struct apt_field bad[1] = {{"Expected-SHA256", "abc"}};
  field(&m, bad, 1);
  CU_ASSERT_EQUAL(apt_expected_checksum(&m, out, sizeof out, err, sizeof err), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "Expected-SHA256"));
}

static void test_userinfo(void) {
  char *u, *user, *pass;
  CU_ASSERT_EQUAL(apt_uri_userinfo("http://ann:s%40cret@host:8080/a/b", &u, &user, &pass), 0);
  CU_ASSERT_STRING_EQUAL(u, "http://host:8080/a/b");
  CU_ASSERT_STRING_EQUAL(user, "ann");
  CU_ASSERT_STRING_EQUAL(pass, "s@cret");
  free(u), free(user), free(pass);
  CU_ASSERT_EQUAL(apt_uri_userinfo("https://bob@host/x@y", &u, &user, &pass), 0);
  CU_ASSERT_STRING_EQUAL(u, "https://host/x@y"); /* an '@' in the path is not userinfo */
  CU_ASSERT_STRING_EQUAL(user, "bob");
  CU_ASSERT_PTR_NULL(pass);
  free(u), free(user), free(pass);
  CU_ASSERT_EQUAL(apt_uri_userinfo("http://host/p", &u, &user, &pass), 0);
  CU_ASSERT_STRING_EQUAL(u, "http://host/p");
  CU_ASSERT_PTR_NULL(user);
  CU_ASSERT_PTR_NULL(pass);
  free(u);
}

static void test_url_with_userinfo(void) {
  char *u = apt_url_with_userinfo("http://proxy:3128/", "ann", "p@ss:w/rd");
  CU_ASSERT_STRING_EQUAL(u, "http://ann:p%40ss%3Aw%2Frd@proxy:3128/");
  free(u);
  u = apt_url_with_userinfo("http://proxy:3128", "bob~x", NULL);
  CU_ASSERT_STRING_EQUAL(u, "http://bob~x@proxy:3128");
  free(u);
}

int pf_suite_aptutil(void) {
  CU_pSuite s = CU_add_suite("aptutil", NULL, NULL);
  if (!s || !CU_add_test(s, "HTTP dates as apt sends them", test_time_parse) ||
      !CU_add_test(s, "FailReason and Transient-Failure", test_fail_reason) ||
      !CU_add_test(s, "the strongest Expected-* hash", test_expected_checksum) ||
      !CU_add_test(s, "credentials in a URI", test_userinfo) ||
      !CU_add_test(s, "a proxy URL with credentials", test_url_with_userinfo))
    return CU_get_error();
  return CUE_SUCCESS;
}
