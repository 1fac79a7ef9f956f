/* test_ranges.c - the written-range set: merging, overlap refusal, prefix. */
#include <CUnit/CUnit.h>

#include "internal.h"
#include "suites.h"

static void test_merge_and_prefix(void) {
  pf_rangeset rs;
  pf_rangeset_init(&rs);
  CU_ASSERT_EQUAL(pf_rangeset_prefix(&rs), 0);
  CU_ASSERT_EQUAL(pf_rangeset_add(&rs, 100, 200), 0);
  CU_ASSERT_EQUAL(pf_rangeset_prefix(&rs), 0);
  CU_ASSERT_EQUAL(pf_rangeset_add(&rs, 300, 400), 0);
  CU_ASSERT_EQUAL(rs.n, 2);
  CU_ASSERT_EQUAL(pf_rangeset_add(&rs, 0, 100), 0); /* joins the first */
  CU_ASSERT_EQUAL(rs.n, 2);
  CU_ASSERT_EQUAL(pf_rangeset_prefix(&rs), 200);
  CU_ASSERT_EQUAL(pf_rangeset_add(&rs, 200, 300), 0); /* bridges both */
  CU_ASSERT_EQUAL(rs.n, 1);
  CU_ASSERT_EQUAL(pf_rangeset_prefix(&rs), 400);
  CU_ASSERT_EQUAL(pf_rangeset_total(&rs), 400);
  CU_ASSERT_EQUAL(pf_rangeset_add(&rs, 500, 500), 0); /* empty: no-op */
  CU_ASSERT_EQUAL(rs.n, 1);
  pf_rangeset_free(&rs);
}

static void test_overlap_refused(void) {
  pf_rangeset rs;
  pf_rangeset_init(&rs);
  CU_ASSERT_EQUAL(pf_rangeset_add(&rs, 10, 20), 0);
  CU_ASSERT_EQUAL(pf_rangeset_add(&rs, 30, 40), 0);
  CU_ASSERT_EQUAL(pf_rangeset_add(&rs, 15, 16), 1);
  CU_ASSERT_EQUAL(pf_rangeset_add(&rs, 5, 11), 1);
  CU_ASSERT_EQUAL(pf_rangeset_add(&rs, 19, 31), 1);
  CU_ASSERT_EQUAL(pf_rangeset_add(&rs, 0, 100), 1);
  CU_ASSERT_EQUAL(pf_rangeset_add(&rs, 39, 41), 1);
  CU_ASSERT_EQUAL(pf_rangeset_total(&rs), 20);
  CU_ASSERT_EQUAL(pf_rangeset_add(&rs, 20, 30), 0);
  CU_ASSERT_EQUAL(rs.n, 1);
  pf_rangeset_free(&rs);
}

static void test_many_out_of_order(void) {
  /* 1000 blocks added in a scrambled order end as one range */
  pf_rangeset rs;
  pf_rangeset_init(&rs);
  for (unsigned i = 0; i < 1000; i++) {
    unsigned k = (i * 617) % 1000; /* 617 is prime to 1000: a permutation */
    CU_ASSERT_EQUAL_FATAL(pf_rangeset_add(&rs, k * 4096ull, (k + 1) * 4096ull), 0);
  }
  CU_ASSERT_EQUAL(rs.n, 1);
  CU_ASSERT_EQUAL(pf_rangeset_prefix(&rs), 4096000);
  pf_rangeset_free(&rs);
}

static void test_overlaps_query(void) {
  pf_rangeset rs;
  pf_rangeset_init(&rs);
  CU_ASSERT_FALSE(pf_rangeset_overlaps(&rs, 0, 10));
  CU_ASSERT_EQUAL(pf_rangeset_add(&rs, 10, 20), 0);
  CU_ASSERT_EQUAL(pf_rangeset_add(&rs, 30, 40), 0);
  CU_ASSERT_FALSE(pf_rangeset_overlaps(&rs, 0, 10));  /* touching is not sharing */
  CU_ASSERT_FALSE(pf_rangeset_overlaps(&rs, 20, 30));
  CU_ASSERT_FALSE(pf_rangeset_overlaps(&rs, 40, 50));
  CU_ASSERT_FALSE(pf_rangeset_overlaps(&rs, 15, 15)); /* empty */
  CU_ASSERT_TRUE(pf_rangeset_overlaps(&rs, 19, 21));
  CU_ASSERT_TRUE(pf_rangeset_overlaps(&rs, 0, 11));
  CU_ASSERT_TRUE(pf_rangeset_overlaps(&rs, 25, 31));
  CU_ASSERT_TRUE(pf_rangeset_overlaps(&rs, 0, 100));
  CU_ASSERT_TRUE(pf_rangeset_overlaps(&rs, 39, 40));
  pf_rangeset_free(&rs);
}

int pf_suite_ranges(void) {
  CU_pSuite s = CU_add_suite("ranges", NULL, NULL);
  if (!s || !CU_add_test(s, "merge and prefix", test_merge_and_prefix) ||
      !CU_add_test(s, "overlap refused", test_overlap_refused) ||
      !CU_add_test(s, "1000 blocks out of order", test_many_out_of_order) ||
      !CU_add_test(s, "overlap query", test_overlaps_query))
    return CU_get_error();
  return CUE_SUCCESS;
}
