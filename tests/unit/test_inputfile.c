/*
 * test_inputfile.c - host-shim/inputfile.c: the `parfetch -i` list (URLs,
 * TAB-separated mirrors, out=/dir=/checksum= options, comments, CRLF), every
 * error with its line:column, aria2c's checksum spellings, the relative-path
 * rule for names from untrusted text; and the board's object line.
 *
 * Threads: the CUnit thread only.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inputfile.h"
#include "progress.h"
#include "suites.h"

static int parse(const char *text, pfh_input *in, char *err, size_t errlen) {
  return pfh_input_parse(text, strlen(text), "list", in, err, errlen);
}

static const char H64[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

static void test_list_good(void) {
  char text[1024], err[256] = "";
  snprintf(text, sizeof text,
           "# comment\n"
           "\n"
           "http://a/x.bin\n"
           "  out=sub/y.bin\n"
           "\tchecksum=sha-256=%s\n"
           "   # an indented comment\n"
           "http://b/1\thttp://c/1\t\thttp://d/1  \r\n"
           " dir=d\r\n"
           "http://e/last",
           H64);
  pfh_input in;
  CU_ASSERT_EQUAL_FATAL(parse(text, &in, err, sizeof err), 0);
  CU_ASSERT_EQUAL_FATAL(in.count, 3);
  CU_ASSERT_EQUAL(in.items[0].nurls, 1);
  CU_ASSERT_STRING_EQUAL(in.items[0].urls[0], "http://a/x.bin");
  CU_ASSERT_PTR_NULL(in.items[0].urls[1]);
  CU_ASSERT_STRING_EQUAL(in.items[0].out, "sub/y.bin");
  CU_ASSERT_PTR_NULL(in.items[0].dir);
  char want[100];
  snprintf(want, sizeof want, "sha256=%s", H64);
  CU_ASSERT_STRING_EQUAL(in.items[0].checksum, want); /* aria2c's spelling becomes ours */
  CU_ASSERT_EQUAL(in.items[0].line, 3);
  CU_ASSERT_EQUAL_FATAL(in.items[1].nurls, 3); /* empty TAB fields and trailing blanks skipped */
  CU_ASSERT_STRING_EQUAL(in.items[1].urls[0], "http://b/1");
  CU_ASSERT_STRING_EQUAL(in.items[1].urls[1], "http://c/1");
  CU_ASSERT_STRING_EQUAL(in.items[1].urls[2], "http://d/1");
  CU_ASSERT_PTR_NULL(in.items[1].urls[3]);
  CU_ASSERT_STRING_EQUAL(in.items[1].dir, "d");
  CU_ASSERT_EQUAL(in.items[1].line, 7);
  CU_ASSERT_STRING_EQUAL(in.items[2].urls[0], "http://e/last"); /* no final newline */
  pfh_input_free(&in);
  CU_ASSERT_EQUAL(in.count, 0);

  CU_ASSERT_EQUAL(parse("", &in, err, sizeof err), 0); /* nothing listed: not a syntax error */
  CU_ASSERT_EQUAL(in.count, 0);
  CU_ASSERT_EQUAL(parse("# only\n\n  \n", &in, err, sizeof err), 0);
  CU_ASSERT_EQUAL(in.count, 0);
}

/* Each bad list gives exactly this "list:LINE:COL: ..." prefix and a word. */
static void test_list_errors(void) {
  static const struct {
    const char *text;
    const char *prefix;
    const char *word;
  } cases[] = {
      {"  out=x\nhttp://a/\n", "list:1:3: ", "before any URL"},
      {"http://a/\n  bogus\n", "list:2:3: ", "expected NAME=VALUE"},
      {"http://a/\n nope=1\n", "list:2:2: ", "unknown option 'nope'"},
      {"http://a/\n out=\n", "list:2:6: ", "expected a value"},
      {"http://a/\n out=a\n out=b\n", "list:3:2: ", "given twice"},
      {"http://a/\n out=../x\n", "list:2:6: ", "'..'"},
      {"http://a/\n out=a/../../x\n", "list:2:6: ", "'..'"},
      {"http://a/\n out=/etc/x\n", "list:2:6: ", "absolute"},
      {"http://a/\n dir=/srv\n", "list:2:6: ", "absolute"},
      {"http://a/\n out=.\n", "list:2:6: ", "'.'"},
      {"http://a/\n checksum=sha-256=abcd\n", "list:2:11: ", "64 hex digits"},
      {"http://a/\n checksum=sha256=zz\n", "list:2:18: ", "not a hex digest"},
      {"http://a/\n checksum=crc32=abcd\n", "list:2:11: ", "unknown algorithm"},
      {"http://a/\n checksum=abcd\n", "list:2:11: ", "ALGO=HEX"},
      {"http://a/ b\n", "list:1:10: ", "a space"},
      {"http://a/\x01x\n", "list:1:10: ", "control character"},
      {"http://a/\n out=a\x02\n", "list:2:7: ", "control character"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pfh_input in = {0};
    char err[256] = "";
    int rc = parse(cases[i].text, &in, err, sizeof err);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_EQUAL(in.count, 0);
    if (strncmp(err, cases[i].prefix, strlen(cases[i].prefix)) != 0 || !strstr(err, cases[i].word))
      fprintf(stderr, "\ncase %zu: got '%s', want '%s...%s'\n", i, err, cases[i].prefix,
              cases[i].word);
    CU_ASSERT(strncmp(err, cases[i].prefix, strlen(cases[i].prefix)) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].word));
  }
  /* A NUL byte, which strlen() would hide. */
  pfh_input in;
  char err[256];
  CU_ASSERT_EQUAL(pfh_input_parse("http://a/\n o\0ut=x\n", 18, "list", &in, err, sizeof err), -1);
  CU_ASSERT_STRING_EQUAL(err, "list:2:3: a NUL byte; expected text");
}

static void test_checksum_spelling(void) {
  char why[256];
  static const struct {
    const char *in, *out;
  } good[] = {{"sha-1=da39a3ee5e6b4b0d3255bfef95601890afd80709",
               "sha1=da39a3ee5e6b4b0d3255bfef95601890afd80709"},
              {"SHA1=da39a3ee5e6b4b0d3255bfef95601890afd80709",
               "sha1=da39a3ee5e6b4b0d3255bfef95601890afd80709"},
              {"md5=d41d8cd98f00b204e9800998ecf8427e", "md5=d41d8cd98f00b204e9800998ecf8427e"}};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char *n = pfh_checksum_normalise(good[i].in, 0, why, sizeof why, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n);
    CU_ASSERT_STRING_EQUAL(n, good[i].out);
    free(n);
  }
  /* --checksum passes an unknown algorithm on (a newer plugin may know it);
   * an input file does not. */
  char *n = pfh_checksum_normalise("blake3=abcd", 1, why, sizeof why, NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(n);
  CU_ASSERT_STRING_EQUAL(n, "blake3=abcd");
  free(n);
  CU_ASSERT_PTR_NULL(pfh_checksum_normalise("blake3=abcd", 0, why, sizeof why, NULL));
  CU_ASSERT_PTR_NULL(pfh_checksum_normalise("blake3=abc", 1, why, sizeof why, NULL));
  CU_ASSERT_PTR_NULL(pfh_checksum_normalise("sha-512=abcd", 1, why, sizeof why, NULL));
  CU_ASSERT_PTR_NOT_NULL(strstr(why, "128 hex digits"));
}

static void test_relative_path(void) {
  char why[256];
  static const char *const ok[] = {"a", "a/b", "a/./b", "..a", "a..", "a/..b/c", ".hidden"};
  static const char *const bad[] = {"", ".", "..", "../a", "a/..", "a/../b", "/a", "//a", "a\tb"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    CU_ASSERT_EQUAL(pfh_check_relative_path(ok[i], why, sizeof why), 0);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CU_ASSERT_EQUAL(pfh_check_relative_path(bad[i], why, sizeof why), -1);
}

static void test_board_line(void) {
  char line[256];
  pfh_progress_view v = {.done = 512, .total = 1024, .rate = 100, .streams = 2};
  size_t n = pfh_board_format_object(line, sizeof line, "short.iso", &v, 100);
  CU_ASSERT(n <= 100 && strlen(line) == n);
  CU_ASSERT(strncmp(line, "short.iso ", 10) == 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(line, " 50% "));
  /* a long name keeps its end */
  n = pfh_board_format_object(line, sizeof line,
                              "a-very-long-directory-name/and-a-long-file-name.iso", &v, 100);
  CU_ASSERT(n <= 100 && strlen(line) == n);
  CU_ASSERT(strncmp(line, "...", 3) == 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(line, "file-name.iso "));
  char tiny[8];
  n = pfh_board_format_object(tiny, sizeof tiny, "short.iso", &v, 100);
  CU_ASSERT(n < sizeof tiny && strlen(tiny) == n);
}

int pf_suite_inputfile(void) {
  CU_pSuite s = CU_add_suite("inputfile", NULL, NULL);
  if (!s)
    return CU_get_error();
  struct {
    const char *name;
    void (*fn)(void);
  } tests[] = {
      {"input file: URLs, mirrors, options, comments, CRLF", test_list_good},
      {"input file: every error names line:column", test_list_errors},
      {"checksum: aria2c's spellings and ours, lengths, unknown algorithms", test_checksum_spelling},
      {"names from untrusted text: relative, no '..'", test_relative_path},
      {"board: an object's line", test_board_line},
  };
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
    if (!CU_add_test(s, tests[i].name, tests[i].fn))
      return CU_get_error();
  return CUE_SUCCESS;
}
