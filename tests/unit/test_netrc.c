/* test_netrc.c - host-shim/netrc.c: .netrc as curl reads it (the first
 * matching entry, default, quoting, comments, macdef, errors with
 * line:column), the URL's host, the Basic header. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "netrc.h"
#include "suites.h"

/* find in text for host: the return value; login and password into l, p
 * ("" when not found), the error into err. */
static int find(const char *text, const char *host, char *l, char *p, char *err) {
  char *login = NULL, *password = NULL;
  err[0] = '\0';
  int rc = pfh_netrc_find(text, strlen(text), "n", host, &login, &password, err, 256);
  strcpy(l, login ? login : "");
  strcpy(p, password ? password : "");
  if (rc != 1)
    CU_ASSERT(!login && !password);
  free(login);
  free(password);
  return rc;
}

static void test_machine(void) {
  char l[256], p[256], e[256];
  const char *t = "machine a.example login al password pa\n"
                  "machine b.example\n  login bl\n  password bp\n";
  CU_ASSERT_EQUAL(find(t, "a.example", l, p, e), 1);
  CU_ASSERT_STRING_EQUAL(l, "al");
  CU_ASSERT_STRING_EQUAL(p, "pa");
  CU_ASSERT_EQUAL(find(t, "B.EXAMPLE", l, p, e), 1); /* host names: any case */
  CU_ASSERT_STRING_EQUAL(l, "bl");
  CU_ASSERT_STRING_EQUAL(p, "bp");
  CU_ASSERT_EQUAL(find(t, "c.example", l, p, e), 0);
  CU_ASSERT_EQUAL(find(t, "a.exampl", l, p, e), 0); /* no prefix match */
  /* the first matching entry wins; keywords in any case */
  CU_ASSERT_EQUAL(find("MACHINE h LOGIN one\nmachine h login two password x\n", "h", l, p, e), 1);
  CU_ASSERT_STRING_EQUAL(l, "one");
  CU_ASSERT_STRING_EQUAL(p, ""); /* the entry had none */
  /* account takes a value, ignored */
  CU_ASSERT_EQUAL(find("machine h account login login u password p", "h", l, p, e), 1);
  CU_ASSERT_STRING_EQUAL(l, "u");
}

static void test_default(void) {
  char l[256], p[256], e[256];
  const char *t = "machine a login al password pa\ndefault login dl password dp\n";
  CU_ASSERT_EQUAL(find(t, "a", l, p, e), 1);
  CU_ASSERT_STRING_EQUAL(l, "al");
  CU_ASSERT_EQUAL(find(t, "zzz", l, p, e), 1);
  CU_ASSERT_STRING_EQUAL(l, "dl");
  CU_ASSERT_STRING_EQUAL(p, "dp");
  /* a default before a machine entry serves that host too (curl reads in order) */
  CU_ASSERT_EQUAL(find("default login dl\nmachine a login al\n", "a", l, p, e), 1);
  CU_ASSERT_STRING_EQUAL(l, "dl");
}

static void test_quoting(void) {
  char l[256], p[256], e[256];
  CU_ASSERT_EQUAL(find("machine h login \"a b\" password \"q\\\"x\\\\y\\n\\tz\\w\"\n", "h", l, p, e),
                  1);
  CU_ASSERT_STRING_EQUAL(l, "a b");
  CU_ASSERT_STRING_EQUAL(p, "q\"x\\y\n\tzw");
  /* a quoted keyword is a plain value; "" an empty one */
  CU_ASSERT_EQUAL(find("machine h login \"machine\" password \"\"", "h", l, p, e), 1);
  CU_ASSERT_STRING_EQUAL(l, "machine");
  CU_ASSERT_STRING_EQUAL(p, "");
  /* an unterminated quote: line and column */
  CU_ASSERT_EQUAL(find("machine h\nlogin u password \"abc\n\"\n", "h", l, p, e), -1);
  CU_ASSERT_STRING_EQUAL(e, "n:2:18: unterminated quoted token");
}

static void test_comments_macdef(void) {
  char l[256], p[256], e[256];
  const char *t = "# machine h login commented\n"
                  "macdef init\n"
                  "machine h login inmacro\n"
                  "\n"
                  "machine h login real password pw # not a comment\n";
  CU_ASSERT_EQUAL(find(t, "h", l, p, e), 1);
  CU_ASSERT_STRING_EQUAL(l, "real");
  CU_ASSERT_STRING_EQUAL(p, "pw");
  /* CRLF lines; a macdef ends the matching entry */
  CU_ASSERT_EQUAL(find("machine h\r\nlogin u\r\nmacdef m\r\nlogin x\r\n\r\n", "h", l, p, e), 1);
  CU_ASSERT_STRING_EQUAL(l, "u");
}

static void test_errors(void) {
  char l[256], p[256], e[256];
  CU_ASSERT_EQUAL(find("machine h login u password", "h", l, p, e), -1);
  CU_ASSERT_STRING_EQUAL(e, "n:1:19: 'password' without a value");
  CU_ASSERT_EQUAL(find("machine a\nmachine", "a", l, p, e), 0); /* a's entry ended: done */
  CU_ASSERT_EQUAL(find("login x\nmachine", "a", l, p, e), -1);
  CU_ASSERT_STRING_EQUAL(e, "n:2:1: 'machine' without a value");
  CU_ASSERT_EQUAL(find("", "a", l, p, e), 0);
  /* a NUL byte separates tokens */
  char *login = NULL, *password = NULL;
  static const char nul[] = "machine h login a\0b password c";
  CU_ASSERT_EQUAL(pfh_netrc_find(nul, sizeof nul - 1, "n", "h", &login, &password, e, sizeof e), 1);
  CU_ASSERT_STRING_EQUAL(login, "a");
  free(login);
  free(password);
}

/* a file far larger than any .netrc (a mistaken path, /dev/zero) is refused
 * at a bound, not read whole into memory */
static void test_read_bound(void) {
  char path[] = "/tmp/pf-netrc-XXXXXX", e[256] = "";
  int fd = mkstemp(path);
  CU_ASSERT_FATAL(fd >= 0);
  static char line[4096];
  memset(line, ' ', sizeof line);
  int ok = 1;
  for (int i = 0; i < 512 && ok; i++) /* 2 MiB of blanks */
    ok = write(fd, line, sizeof line) == (ssize_t)sizeof line;
  close(fd);
  CU_ASSERT_TRUE(ok);
  char *text = NULL;
  size_t len = 0;
  CU_ASSERT_EQUAL(pfh_netrc_read(path, &text, &len, NULL, e, sizeof e), -1);
  CU_ASSERT_PTR_NULL(text);
  CU_ASSERT_PTR_NOT_NULL(strstr(e, "larger than"));
  free(text);
  /* one within the bound is read */
  CU_ASSERT_EQUAL(truncate(path, 1000), 0);
  CU_ASSERT_EQUAL(pfh_netrc_read(path, &text, &len, NULL, e, sizeof e), 0);
  CU_ASSERT_EQUAL(len, 1000);
  free(text);
  unlink(path);
}

static void test_url_host(void) {
  char h[64];
  int ui;
  CU_ASSERT_EQUAL(pfh_url_host("http://Example.org:8080/p?q", h, sizeof h, &ui), 0);
  CU_ASSERT_STRING_EQUAL(h, "Example.org");
  CU_ASSERT_EQUAL(ui, 0);
  CU_ASSERT_EQUAL(pfh_url_host("https://u:p@w@host/x", h, sizeof h, &ui), 0);
  CU_ASSERT_STRING_EQUAL(h, "host");
  CU_ASSERT_EQUAL(ui, 1);
  CU_ASSERT_EQUAL(pfh_url_host("http://[::1]:80/", h, sizeof h, &ui), 0);
  CU_ASSERT_STRING_EQUAL(h, "::1");
  CU_ASSERT_EQUAL(pfh_url_host("http://host", h, sizeof h, &ui), 0);
  CU_ASSERT_STRING_EQUAL(h, "host");
  CU_ASSERT_EQUAL(pfh_url_host("host/x", h, sizeof h, &ui), -1);
  CU_ASSERT_EQUAL(pfh_url_host("http:///x", h, sizeof h, &ui), -1);
  CU_ASSERT_EQUAL(pfh_url_host("http://[::1/", h, sizeof h, &ui), -1);
  CU_ASSERT_EQUAL(pfh_url_host("http://abcdefgh/", h, 8, &ui), -1); /* does not fit */
}

static void test_basic_auth(void) {
  char *h = pfh_basic_auth("Aladdin", "open sesame"); /* RFC 7617's example */
  CU_ASSERT_STRING_EQUAL(h, "Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  free(h);
  h = pfh_basic_auth("u", "");
  CU_ASSERT_STRING_EQUAL(h, "Authorization: Basic dTo=");
  free(h);
  h = pfh_basic_auth("ab", "c"); /* 4 bytes: one = */
  CU_ASSERT_STRING_EQUAL(h, "Authorization: Basic YWI6Yw==");
  free(h);
  h = pfh_basic_auth("ab", "cd"); /* 5 bytes */
  CU_ASSERT_STRING_EQUAL(h, "Authorization: Basic YWI6Y2Q=");
  free(h);
  h = pfh_basic_auth("\xff", NULL); /* bytes as they are */
  CU_ASSERT_STRING_EQUAL(h, "Authorization: Basic /zo=");
  free(h);
}

int pf_suite_netrc(void) {
  CU_pSuite s = CU_add_suite("netrc", NULL, NULL);
  if (!s || !CU_add_test(s, "machine entries, the first match wins", test_machine) ||
      !CU_add_test(s, "default", test_default) ||
      !CU_add_test(s, "quoted tokens and escapes", test_quoting) ||
      !CU_add_test(s, "comments and macdef", test_comments_macdef) ||
      !CU_add_test(s, "errors name line:column", test_errors) ||
      !CU_add_test(s, "a huge file is refused", test_read_bound) ||
      !CU_add_test(s, "the URL's host", test_url_host) ||
      !CU_add_test(s, "the Basic header", test_basic_auth))
    return CU_get_error();
  return CUE_SUCCESS;
}
