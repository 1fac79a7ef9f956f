/*
 * test_rate.c - rate_limit's token bucket (rate.c) on a fake clock: a full
 * bucket's burst, the debt one read makes and the wait that pays it, the
 * long-run rate of a stream that takes whenever it may, a refill that stops
 * at a full bucket, a clock read out of order, and the read size under a
 * limit.
 */
#include <stdint.h>

#include <CUnit/CUnit.h>

#include "rate.h"
#include "suites.h"

#define MS 1000000ull
#define S 1000000000ull

static void test_burst_and_debt(void) {
  uint64_t t = 5 * S;
  pf_rate *r = pf_rate_new(1000000, t); /* 1 MB/s: a full bucket is 125 KB */
  CU_ASSERT_FATAL(r != NULL);
  CU_ASSERT_EQUAL(pf_rate_wait_ns(r, t), 0);
  pf_rate_take(r, 125000, t); /* the whole burst: not in debt yet */
  CU_ASSERT_EQUAL(pf_rate_wait_ns(r, t), 0);
  pf_rate_take(r, 50000, t); /* 50 KB of debt: 50 ms of refill */
  uint64_t w = pf_rate_wait_ns(r, t);
  CU_ASSERT(w >= 50 * MS && w <= 50 * MS + 1000);
  CU_ASSERT(pf_rate_wait_ns(r, t + 25 * MS) > 0);
  CU_ASSERT_EQUAL(pf_rate_wait_ns(r, t + 51 * MS), 0);
  /* idle for an hour: no more than a full bucket again */
  t += 3600 * S;
  pf_rate_take(r, 125000, t);
  CU_ASSERT_EQUAL(pf_rate_wait_ns(r, t), 0);
  pf_rate_take(r, 1, t);
  CU_ASSERT(pf_rate_wait_ns(r, t) > 0);
  pf_rate_free(r);
  CU_ASSERT_PTR_NULL(pf_rate_new(0, t)); /* 0 is no limit: no bucket */
  pf_rate_free(NULL);
}

/* Streams that take a read whenever the bucket lets them and sleep its
 * wait otherwise move rate x time, give or take a burst and a read each. */
static void test_long_run_rate(void) {
  const uint64_t rate = 2 * 1024 * 1024, read = 64 * 1024;
  uint64_t t = 0, moved = 0;
  pf_rate *r = pf_rate_new(rate, t);
  CU_ASSERT_FATAL(r != NULL);
  uint64_t next[8] = {0};
  while (t < 4 * S) {
    uint64_t soonest = UINT64_MAX;
    for (int i = 0; i < 8; i++) {
      if (next[i] <= t) {
        uint64_t w = pf_rate_wait_ns(r, t);
        if (w == 0) {
          pf_rate_take(r, read, t);
          moved += read;
          next[i] = t + MS; /* the next read comes a millisecond later */
        } else {
          next[i] = t + w;
        }
      }
      if (next[i] < soonest)
        soonest = next[i];
    }
    t = soonest;
  }
  double want = (double)rate * 4;
  CU_ASSERT((double)moved >= want - (double)read * 8);
  CU_ASSERT((double)moved <= want + (double)rate / 8 + (double)read * 8);
  pf_rate_free(r);
}

static void test_clock_out_of_order(void) {
  pf_rate *r = pf_rate_new(1000, 10 * S);
  CU_ASSERT_FATAL(r != NULL);
  pf_rate_take(r, 1125, 10 * S); /* 1 s of debt */
  /* another thread's earlier clock reading adds nothing and takes nothing */
  CU_ASSERT(pf_rate_wait_ns(r, 9 * S) >= S);
  CU_ASSERT_EQUAL(pf_rate_wait_ns(r, 11 * S + 1), 0);
  pf_rate_free(r);
}

static void test_read_size(void) {
  CU_ASSERT_EQUAL(pf_rate_read_size(2 * 1024 * 1024, 512 * 1024), 65536);
  CU_ASSERT_EQUAL(pf_rate_read_size(100, 512 * 1024), 1024); /* libcurl's least */
  CU_ASSERT_EQUAL(pf_rate_read_size(UINT64_C(1) << 40, 512 * 1024), 512 * 1024);
}

int pf_suite_rate(void) {
  CU_pSuite s = CU_add_suite("rate", NULL, NULL);
  if (!s || !CU_add_test(s, "burst, debt and its wait", test_burst_and_debt) ||
      !CU_add_test(s, "eight streams keep the rate", test_long_run_rate) ||
      !CU_add_test(s, "a clock read out of order", test_clock_out_of_order) ||
      !CU_add_test(s, "read size under a limit", test_read_size))
    return CU_get_error();
  return CUE_SUCCESS;
}
