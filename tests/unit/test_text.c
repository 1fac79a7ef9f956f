/* test_text.c - pf_text_clean, the filter of every line the plugin and the
 * CLI show: control characters escaped, valid UTF-8 kept, URL passwords
 * redacted, output always bounded and NUL-terminated. */
#include <stdarg.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "suites.h"
#include "text.h"

static char out[4096];

static const char *clean(const char *in) {
  pf_text_clean(out, sizeof out, in, strlen(in));
  return out;
}

static void test_plain_text_unchanged(void) {
  CU_ASSERT_STRING_EQUAL(clean(""), "");
  CU_ASSERT_STRING_EQUAL(clean("HTTP 404 from http://127.0.0.1:8080/x"),
                         "HTTP 404 from http://127.0.0.1:8080/x");
  CU_ASSERT_STRING_EQUAL(clean("back\\slash stays"), "back\\slash stays");
  CU_ASSERT_STRING_EQUAL(clean("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
                         "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"); /* valid UTF-8 */
}

static void test_controls_escaped(void) {
  CU_ASSERT_STRING_EQUAL(clean("a\r\nb\tc"), "a\\r\\nb\\tc");
  CU_ASSERT_STRING_EQUAL(clean("\x1b[2J\x07"), "\\x1b[2J\\x07"); /* ESC, BEL */
  CU_ASSERT_STRING_EQUAL(clean("del\x7f"), "del\\x7f");
  CU_ASSERT_STRING_EQUAL(clean("c1 \xc2\x9b"
                               "31m"),
                         "c1 \\xc2\\x9b31m"); /* U+009B CSI */
  CU_ASSERT_STRING_EQUAL(clean("\xff\xfe"), "\\xff\\xfe");
  CU_ASSERT_STRING_EQUAL(clean("\xc3"), "\\xc3");                            /* cut sequence */
  CU_ASSERT_STRING_EQUAL(clean("\xc0\xaf"), "\\xc0\\xaf");                   /* overlong '/' */
  CU_ASSERT_STRING_EQUAL(clean("\xed\xa0\x80"), "\\xed\\xa0\\x80");          /* surrogate */
  CU_ASSERT_STRING_EQUAL(clean("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80"); /* > U+10FFFF */
  char nul[] = {'a', '\0', 'b'};
  pf_text_clean(out, sizeof out, nul, sizeof nul);
  CU_ASSERT_STRING_EQUAL(out, "a\\x00b");
}

static void test_passwords_redacted(void) {
  CU_ASSERT_STRING_EQUAL(clean("GET http://alice:PW@host/f"),
                         "GET http://alice:" PF_TEXT_REDACTED "@host/f");
  CU_ASSERT_STRING_EQUAL(clean("https://a:b@h:443/x and ftp://u:p@q"),
                         "https://a:" PF_TEXT_REDACTED "@h:443/x and ftp://u:" PF_TEXT_REDACTED
                         "@q");
  /* the authority's last '@' ends the userinfo; ':' in the password */
  CU_ASSERT_STRING_EQUAL(clean("http://u:p@ss:w@host?q=1"),
                         "http://u:" PF_TEXT_REDACTED "@host?q=1");
  CU_ASSERT_STRING_EQUAL(clean("http://u::@host"), "http://u:" PF_TEXT_REDACTED "@host");
  CU_ASSERT_STRING_EQUAL(clean("http://:pw@host"), "http://:" PF_TEXT_REDACTED "@host");
  /* user only, or an '@' after the authority: nothing secret */
  CU_ASSERT_STRING_EQUAL(clean("http://alice@host/f"), "http://alice@host/f");
  CU_ASSERT_STRING_EQUAL(clean("http://host/a:b@c"), "http://host/a:b@c");
  CU_ASSERT_STRING_EQUAL(clean("http://host:80/x"), "http://host:80/x");
  CU_ASSERT_STRING_EQUAL(clean("mail me: a:b@c"), "mail me: a:b@c");
  /* a URL at the end of a message, and the message goes on after a space */
  CU_ASSERT_STRING_EQUAL(clean("x http://u:secret@h"), "x http://u:" PF_TEXT_REDACTED "@h");
  CU_ASSERT_STRING_EQUAL(clean("http://u:s3@h: HTTP 401"),
                         "http://u:" PF_TEXT_REDACTED "@h: HTTP 401");
  /* a control character in the password is not shown either */
  CU_ASSERT_STRING_EQUAL(clean("http://u:a\xc3\xa9z@h"), "http://u:" PF_TEXT_REDACTED "@h");
  CU_ASSERT_PTR_NULL(strstr(clean("http://alice:PW@host/f"), "PW"));
  /* a control byte in the authority does not hide the password (found by
   * tests/fuzz/fuzz_text.c: "al\0ice:PW@" was shown, and redacted only when
   * the cleaned text was cleaned again) */
  CU_ASSERT_STRING_EQUAL(clean("http://a\nb:pw@h/x"), "http://a\\nb:" PF_TEXT_REDACTED "@h/x");
  char nul[] = "http://al\0ice:PW@h";
  pf_text_clean(out, sizeof out, nul, sizeof nul - 1);
  CU_ASSERT_STRING_EQUAL(out, "http://al\\x00ice:" PF_TEXT_REDACTED "@h");
}

static void test_idempotent(void) {
  const char *in[] = {"http://alice:PW@host/f\r\n", "\x1b\xff ok",
                      "https://u:" PF_TEXT_REDACTED "@h"};
  char once[256], twice[256];
  for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
    pf_text_clean(once, sizeof once, in[i], strlen(in[i]));
    pf_text_clean(twice, sizeof twice, once, strlen(once));
    CU_ASSERT_STRING_EQUAL(once, twice);
  }
}

static void test_bounded(void) {
  char small[8];
  /* cut before a unit that does not fit: never half an escape */
  CU_ASSERT_EQUAL(pf_text_clean(small, sizeof small,
                                "abcd\x1b"
                                "ef",
                                7),
                  4);
  CU_ASSERT_STRING_EQUAL(small, "abcd");
  CU_ASSERT_EQUAL(pf_text_clean(small, sizeof small, "abcdefghij", 10), 7);
  CU_ASSERT_STRING_EQUAL(small, "abcdefg");
  /* never part of a password, never half the marker */
  char mid[15]; /* "http://u:" fits, the marker does not */
  pf_text_clean(mid, sizeof mid, "http://u:secret@host", 20);
  CU_ASSERT_STRING_EQUAL(mid, "http://u:");
  char one[1] = {'x'};
  CU_ASSERT_EQUAL(pf_text_clean(one, 1, "abc", 3), 0);
  CU_ASSERT_STRING_EQUAL(one, "");
  /* the documented bound is enough for the worst input */
  char worst[64], big[PF_TEXT_CLEAN_MAX(sizeof worst)];
  memset(worst, 0x01, sizeof worst);
  CU_ASSERT_EQUAL(pf_text_clean(big, sizeof big, worst, sizeof worst), 4 * sizeof worst);
  const char *pat = "a://:@"; /* the most redaction markers per input byte */
  for (size_t i = 0; i < sizeof worst; i++)
    worst[i] = pat[i % 6];
  size_t n = pf_text_clean(big, sizeof big, worst, sizeof worst);
  CU_ASSERT(n < sizeof big - 1);
  CU_ASSERT(strstr(big, PF_TEXT_REDACTED) != NULL);
}

static size_t fmt(char *dst, size_t cap, const char *f, ...) __attribute__((format(printf, 3, 4)));
static size_t fmt(char *dst, size_t cap, const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  size_t n = pf_text_vformat(dst, cap, f, ap);
  va_end(ap);
  return n;
}

static void test_vformat(void) {
  char line[64];
  CU_ASSERT_EQUAL(fmt(line, sizeof line, "HTTP %d from %s", 404, "http://a:b@h/\r\n"), 40);
  CU_ASSERT_STRING_EQUAL(line, "HTTP 404 from http://a:" PF_TEXT_REDACTED "@h/\\r\\n");
}


/* A message cut to a buffer before the text is cleaned (snprintf into a
 * fixed buffer, or vformat's 4 KiB) may end inside a URL's password, before
 * its '@': nothing of it is shown. A port or a bracketed address at the end
 * of a line is not a password. */
static void test_cut_before_at(void) {
  CU_ASSERT_STRING_EQUAL(clean("HTTP 401 from http://alice:s3cretTok"),
                         "HTTP 401 from http://alice:" PF_TEXT_REDACTED);
  CU_ASSERT_STRING_EQUAL(clean("http://u:12ab"), "http://u:" PF_TEXT_REDACTED);
  CU_ASSERT_STRING_EQUAL(clean("to http://127.0.0.1:8080"), "to http://127.0.0.1:8080");
  CU_ASSERT_STRING_EQUAL(clean("to http://host:"), "to http://host:");
  CU_ASSERT_STRING_EQUAL(clean("to http://[::1]:8080"), "to http://[::1]:8080");
  CU_ASSERT_STRING_EQUAL(clean("to http://[::1]"), "to http://[::1]");
  char once[64], twice[64];
  pf_text_clean(once, sizeof once, "http://alice:s3cret", 19);
  pf_text_clean(twice, sizeof twice, once, strlen(once));
  CU_ASSERT_STRING_EQUAL(once, twice);
  /* the 4 KiB cut of pf_text_vformat, inside a long token */
  static char pw[5000], line[8192];
  memset(pw, 'k', sizeof pw - 1);
  fmt(line, sizeof line, "GET http://alice:%s@host/f", pw);
  CU_ASSERT_PTR_NULL(strstr(line, "kkkk"));
  CU_ASSERT_PTR_NOT_NULL(strstr(line, "http://alice:" PF_TEXT_REDACTED));
}

int pf_suite_text(void) {
  CU_pSuite s = CU_add_suite("text", NULL, NULL);
  if (!s || !CU_add_test(s, "plain text and UTF-8 unchanged", test_plain_text_unchanged) ||
      !CU_add_test(s, "control characters escaped", test_controls_escaped) ||
      !CU_add_test(s, "URL passwords redacted", test_passwords_redacted) ||
      !CU_add_test(s, "cleaning twice changes nothing", test_idempotent) ||
      !CU_add_test(s, "output bounded, cut between units", test_bounded) ||
      !CU_add_test(s, "format, then clean", test_vformat) ||
      !CU_add_test(s, "a URL cut before its @ shows no password", test_cut_before_at))
    return CU_get_error();
  return CUE_SUCCESS;
}
