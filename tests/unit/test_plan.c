/* test_plan.c - the planner: parts cover the object exactly, in order, with
 * the reference's stream count and sizes. */
#include <CUnit/CUnit.h>

#include "internal.h"
#include "suites.h"

#define MiB (1024ull * 1024)

/* Parts are contiguous, in order, cover [0, size) and follow remaining /
 * parts_left. Returns the number of parts. */
static size_t check_plan(uint64_t size, uint64_t min_part, unsigned streams) {
  size_t n = pf_plan(size, 1, min_part, streams, NULL, 0);
  pf_part parts[256];
  CU_ASSERT_FATAL(n >= 1 && n <= 256);
  CU_ASSERT_EQUAL(pf_plan(size, 1, min_part, streams, parts, 256), n);
  uint64_t off = 0, remaining = size;
  for (size_t i = 0; i < n; i++) {
    CU_ASSERT_EQUAL(parts[i].index, i);
    CU_ASSERT_EQUAL(parts[i].offset, off);
    CU_ASSERT_EQUAL(parts[i].length, remaining / (n - i));
    if (i > 0)
      CU_ASSERT(parts[i].length >= parts[i - 1].length); /* the last parts absorb the rest */
    off += parts[i].length;
    remaining -= parts[i].length;
  }
  CU_ASSERT_EQUAL(off, size);
  return n;
}

static void test_zero_and_one_byte(void) {
  pf_part p[2];
  CU_ASSERT_EQUAL(pf_plan(0, 1, 8 * MiB, 8, p, 2), 1);
  CU_ASSERT_EQUAL(p[0].offset, 0);
  CU_ASSERT_EQUAL(p[0].length, 0);
  CU_ASSERT_EQUAL(pf_plan(1, 1, 8 * MiB, 8, p, 2), 1);
  CU_ASSERT_EQUAL(p[0].length, 1);
  CU_ASSERT_EQUAL(check_plan(1, 1, 8), 1);
}

static void test_around_part_size(void) {
  CU_ASSERT_EQUAL(check_plan(8 * MiB - 1, 8 * MiB, 8), 1);
  CU_ASSERT_EQUAL(check_plan(8 * MiB, 8 * MiB, 8), 1);
  CU_ASSERT_EQUAL(check_plan(8 * MiB + 1, 8 * MiB, 8), 1);
  CU_ASSERT_EQUAL(check_plan(16 * MiB - 1, 8 * MiB, 8), 1);
  CU_ASSERT_EQUAL(check_plan(16 * MiB, 8 * MiB, 8), 2);
  CU_ASSERT_EQUAL(check_plan(16 * MiB + 1, 8 * MiB, 8), 2);
}

static void test_defaults_give_parallelism(void) {
  /* 256 MiB with the defaults (8 MiB parts, 8 streams): 8 parts of 32 MiB */
  pf_part p[8];
  CU_ASSERT_EQUAL(pf_plan(256 * MiB, 1, 8 * MiB, 8, p, 8), 8);
  for (int i = 0; i < 8; i++)
    CU_ASSERT_EQUAL(p[i].length, 32 * MiB);
  CU_ASSERT_EQUAL(check_plan(1024 * MiB, 8 * MiB, 8), 8);
  CU_ASSERT_EQUAL(check_plan(40 * MiB, 8 * MiB, 8), 5);
}

static void test_primes(void) {
  CU_ASSERT_EQUAL(check_plan(10000019, 1000003, 8), 8);
  CU_ASSERT_EQUAL(check_plan(7919, 997, 16), 7);
  CU_ASSERT_EQUAL(check_plan(104729, 13, 7), 7);
  /* remaining / parts_left: 10 bytes in 3 parts -> 3, 3, 4 */
  pf_part p[3];
  CU_ASSERT_EQUAL(pf_plan(10, 1, 3, 3, p, 3), 3);
  CU_ASSERT_EQUAL(p[0].length, 3);
  CU_ASSERT_EQUAL(p[1].length, 3);
  CU_ASSERT_EQUAL(p[2].length, 4);
}

static void test_huge(void) {
  uint64_t five_gib = 5ull * 1024 * MiB + 12345;
  CU_ASSERT_EQUAL(check_plan(five_gib, 8 * MiB, 16), 16);
  CU_ASSERT_EQUAL(check_plan(UINT64_MAX - 1, 1ull << 40, 128), 128);
}

static void test_single_part_cases(void) {
  pf_part p[1];
  /* no range support: one part whatever the size */
  CU_ASSERT_EQUAL(pf_plan(1024 * MiB, 0, 8 * MiB, 8, p, 1), 1);
  CU_ASSERT_EQUAL(p[0].length, 1024 * MiB);
  /* unknown size: one part of unknown length */
  CU_ASSERT_EQUAL(pf_plan(PF_SIZE_UNKNOWN, 1, 8 * MiB, 8, p, 1), 1);
  CU_ASSERT_EQUAL(p[0].offset, 0);
  CU_ASSERT_EQUAL(p[0].length, PF_SIZE_UNKNOWN);
  /* one stream allowed */
  CU_ASSERT_EQUAL(check_plan(1024 * MiB, 8 * MiB, 1), 1);
}

static void test_cap_respected(void) {
  pf_part p[4] = {{99, 99, 99}, {99, 99, 99}, {99, 99, 99}, {99, 99, 99}};
  CU_ASSERT_EQUAL(pf_plan(100, 1, 10, 8, p, 2), 8); /* says how many, writes 2 */
  CU_ASSERT_EQUAL(p[1].offset, 12);
  CU_ASSERT_EQUAL(p[2].index, 99);
}

int pf_suite_plan(void) {
  CU_pSuite s = CU_add_suite("plan", NULL, NULL);
  if (!s || !CU_add_test(s, "0 B and 1 B", test_zero_and_one_byte) ||
      !CU_add_test(s, "part-1, part, part+1", test_around_part_size) ||
      !CU_add_test(s, "defaults: 8 streams for 256 MiB", test_defaults_give_parallelism) ||
      !CU_add_test(s, "prime sizes", test_primes) || !CU_add_test(s, "> 4 GiB", test_huge) ||
      !CU_add_test(s, "single-part cases", test_single_part_cases) ||
      !CU_add_test(s, "cap respected", test_cap_respected))
    return CU_get_error();
  return CUE_SUCCESS;
}
