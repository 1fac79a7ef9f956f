/* test_report.c - host-shim/report.c: the --json object of one download:
 * every key in order, nulls for what is unknown, awkward strings (quotes,
 * backslashes, control bytes, invalid UTF-8, URL passwords) still one valid
 * object, checked by parsing it back with jansson. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "report.h"
#include "suites.h"

static json_t *parse(const struct pfh_report *r) {
  char *s = pfh_report_json(r);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  CU_ASSERT_PTR_NULL(strchr(s, '\n')); /* compact: one line */
  json_error_t e;
  json_t *o = json_loads(s, JSON_REJECT_DUPLICATES, &e);
  CU_ASSERT_PTR_NOT_NULL(o);
  free(s);
  return o;
}

static const char *str(json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static void test_ok(void) {
  struct pfh_report r = {.url = "http://h/f",
                         .effective_url = "http://h2/f",
                         .output = "f",
                         .have_stats = 1,
                         .size = 5000000000ULL, /* past 32 bits */
                         .bytes_fetched = 5000000001ULL,
                         .bytes_resumed = 7,
                         .elapsed_ns = 1500000000ULL,
                         .streams = 4,
                         .retries = 2,
                         .steals = 1,
                         .digest = "SHA256=ABcd",
                         .status = PF_OK};
  char *s = pfh_report_json(&r);
  CU_ASSERT_STRING_EQUAL(s, "{\"url\":\"http://h/f\",\"effective_url\":\"http://h2/f\",\"output\":"
                            "\"f\",\"size\":5000000000,\"bytes_fetched\":5000000001,"
                            "\"bytes_resumed\":7,\"elapsed\":1.5,\"streams\":4,\"retries\":2,"
                            "\"steals\":1,\"http_status\":null,\"digest\":\"sha256:abcd\","
                            "\"status\":\"ok\",\"exit_code\":0,\"error\":null}");
  free(s);
}

static void test_nulls(void) {
  /* open() failed before a session: no counters, no effective URL */
  struct pfh_report r = {.url = "http://h/f", .status = PF_E_NOMEM, .exit_code = 4,
                         .digest = "sha1=00", .error = "out of memory: open"};
  json_t *o = parse(&r);
  const char *nullable[] = {"effective_url", "size",    "bytes_fetched", "bytes_resumed",
                            "elapsed",       "streams", "retries",       "steals",
                            "http_status",   "digest"};
  for (size_t i = 0; i < sizeof nullable / sizeof nullable[0]; i++)
    CU_ASSERT(json_is_null(json_object_get(o, nullable[i])));
  CU_ASSERT_STRING_EQUAL(str(o, "output"), "-"); /* none given: stdout */
  CU_ASSERT_STRING_EQUAL(str(o, "status"), "nomem");
  CU_ASSERT_STRING_EQUAL(str(o, "error"), "out of memory: open");
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "exit_code")), 4);
  CU_ASSERT_EQUAL(json_object_size(o), 15);
  json_decref(o);
  /* a session of unknown size; an HTTP status; a signal */
  struct pfh_report c = {.url = "u", .have_stats = 1, .size = PF_SIZE_UNKNOWN,
                         .http_status = 404, .status = PF_E_HTTP, .cancelled = 1};
  o = parse(&c);
  CU_ASSERT(json_is_null(json_object_get(o, "size")));
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "http_status")), 404);
  CU_ASSERT_STRING_EQUAL(str(o, "status"), "cancelled");
  CU_ASSERT(json_is_null(json_object_get(o, "error"))); /* "" or NULL: null */
  json_decref(o);
}

static void test_awkward(void) {
  struct pfh_report r = {.url = "http://user:hunter2@h/a\"b\\c\x01\xff\xc3(\xe2\x82\xac",
                         .output = "dir/new\nline",
                         .status = PF_E_NETWORK,
                         .exit_code = 1,
                         .error = "bad \xc0\xaf byte, tab\there"};
  json_t *o = parse(&r);
  CU_ASSERT_PTR_NOT_NULL_FATAL(o);
  /* the message filter: password redacted, controls and bad bytes as \xNN,
   * valid UTF-8 (the euro sign) kept; then JSON's own escaping of " and \ */
  CU_ASSERT_STRING_EQUAL(str(o, "url"),
                         "http://user:<redacted>@h/a\"b\\c\\x01\\xff\\xc3(\xe2\x82\xac");
  CU_ASSERT_STRING_EQUAL(str(o, "output"), "dir/new\\nline");
  CU_ASSERT_STRING_EQUAL(str(o, "error"), "bad \\xc0\\xaf byte, tab\\there");
  json_decref(o);
}

static void test_words(void) {
  CU_ASSERT_STRING_EQUAL(pfh_status_word(PF_OK), "ok");
  CU_ASSERT_STRING_EQUAL(pfh_status_word(PF_E_CHECKSUM), "checksum");
  CU_ASSERT_STRING_EQUAL(pfh_status_word(PF_E_TOO_LARGE), "too_large");
  CU_ASSERT_STRING_EQUAL(pfh_status_word((pf_status)99), "unknown");
}

static void test_write(void) {
  struct pfh_report r = {.url = "u", .output = "o", .status = PF_OK};
  char buf[1024] = "";
  FILE *f = fmemopen(buf, sizeof buf, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  CU_ASSERT_EQUAL(pfh_report_write(&r, f), 0);
  fclose(f);
  size_t n = strlen(buf);
  CU_ASSERT(n > 2 && buf[0] == '{' && buf[n - 2] == '}' && buf[n - 1] == '\n');
  CU_ASSERT_PTR_EQUAL(strchr(buf, '\n'), buf + n - 1);
}

int pf_suite_report(void) {
  CU_pSuite s = CU_add_suite("report", NULL, NULL);
  if (!s || !CU_add_test(s, "a finished download, keys in order", test_ok) ||
      !CU_add_test(s, "nulls for what is unknown", test_nulls) ||
      !CU_add_test(s, "awkward strings: still one valid object", test_awkward) ||
      !CU_add_test(s, "status words", test_words) ||
      !CU_add_test(s, "one line, flushed", test_write))
    return CU_get_error();
  return CUE_SUCCESS;
}
