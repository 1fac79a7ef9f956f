/* test_digest.c - checksum specs and EVP digests against known vectors. */
#include <string.h>

#include <CUnit/CUnit.h>

#include "internal.h"
#include "suites.h"

static int verify(const char *spec, const char *data, size_t split) {
  char err[256], got[200];
  pf_digest *d = pf_digest_new(spec, err, sizeof err);
  if (!d)
    return -2;
  size_t len = strlen(data);
  pf_digest_update(d, data, split);
  pf_digest_update(d, data + split, len - split);
  int r = pf_digest_verify(d, got, sizeof got);
  pf_digest_free(d);
  return r;
}

static void test_known_vectors(void) {
  CU_ASSERT_EQUAL(verify("sha256=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                         "abc", 1),
                  1);
  CU_ASSERT_EQUAL(verify("SHA1=A9993E364706816ABA3E25717850C26C9CD0D89D", "abc", 3), 1);
  CU_ASSERT_EQUAL(verify("md5=900150983cd24fb0d6963f7d28e17f72", "abc", 0), 1);
  CU_ASSERT_EQUAL(verify("sha512=ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                         "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
                         "abc", 2),
                  1);
  CU_ASSERT_EQUAL(verify("md5=d41d8cd98f00b204e9800998ecf8427e", "", 0), 1);
}

static void test_mismatch_reports_actual(void) {
  char err[256], got[200];
  pf_digest *d = pf_digest_new("md5=00000000000000000000000000000000", err, sizeof err);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  pf_digest_update(d, "abc", 3);
  CU_ASSERT_EQUAL(pf_digest_verify(d, got, sizeof got), 0);
  CU_ASSERT_STRING_EQUAL(got, "900150983cd24fb0d6963f7d28e17f72");
  CU_ASSERT_STRING_EQUAL(pf_digest_algo(d), "md5");
  pf_digest_free(d);
}

static void test_bad_specs(void) {
  char err[256];
  CU_ASSERT_PTR_NULL(pf_digest_new("sha256", err, sizeof err));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "ALGO=HEX"));
  CU_ASSERT_PTR_NULL(pf_digest_new("crc32=12345678", err, sizeof err));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown algorithm"));
  CU_ASSERT_PTR_NULL(pf_digest_new("sha1=abc", err, sizeof err));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "40 hex digits"));
  CU_ASSERT_PTR_NULL(pf_digest_new("md5=zz0150983cd24fb0d6963f7d28e17f72", err, sizeof err));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "not hexadecimal"));
}

int pf_suite_digest(void) {
  CU_pSuite s = CU_add_suite("digest", NULL, NULL);
  if (!s || !CU_add_test(s, "known vectors", test_known_vectors) ||
      !CU_add_test(s, "mismatch reports the actual digest", test_mismatch_reports_actual) ||
      !CU_add_test(s, "bad specs", test_bad_specs))
    return CU_get_error();
  return CUE_SUCCESS;
}
