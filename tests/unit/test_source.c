/*
 * test_source.c - how run() deals its streams over an object's sources
 * (source.c, ABI 1.4 mirrors): the least loaded source first, a stream that
 * stays on its source, a dropped or much slower source passed over, the
 * budget of each host (in all and on the stream's lane) never exceeded,
 * and the rate a source's requests add up to.
 */
#include <stddef.h>

#include <CUnit/CUnit.h>

#include "internal.h"
#include "suites.h"

/* {live, rate, streams, lane_streams, host, unproven} */

static void test_least_loaded(void) {
  pf_source_view v[3] = {{1, 0, 2, 1, 0, 0}, {1, 0, 1, 0, 1, 0}, {1, 0, 1, 1, 2, 0}};
  CU_ASSERT_EQUAL(pf_source_pick(v, 3, PF_NO_SOURCE, 8, 4), 1); /* fewest, then first */
  v[1].streams = 2;
  CU_ASSERT_EQUAL(pf_source_pick(v, 3, PF_NO_SOURCE, 8, 4), 2);
  /* equal load: the faster one */
  pf_source_view w[2] = {{1, 1e6, 1, 0, 0, 0}, {1, 2e6, 1, 0, 1, 0}};
  CU_ASSERT_EQUAL(pf_source_pick(w, 2, PF_NO_SOURCE, 8, 4), 1);
}

static void test_stays(void) {
  /* on a source with more streams than another: it keeps its connection */
  pf_source_view v[2] = {{1, 0, 3, 1, 0, 0}, {1, 0, 0, 0, 1, 0}};
  CU_ASSERT_EQUAL(pf_source_pick(v, 2, 0, 8, 4), 0);
}

static void test_dropped_and_slow(void) {
  pf_source_view v[3] = {{1, 8e6, 1, 0, 0, 0}, {0, 9e6, 0, 0, 1, 0}, {1, 1e6, 0, 0, 2, 0}};
  /* 1 was dropped; 2 is 8 x slower than the best live one: 0 it is */
  CU_ASSERT_FALSE(pf_source_slow(v, 3, 0));
  CU_ASSERT_TRUE(pf_source_slow(v, 3, 2));
  CU_ASSERT_EQUAL(pf_source_pick(v, 3, 2, 8, 4), 0);
  CU_ASSERT_EQUAL(pf_source_pick(v, 3, 1, 8, 4), 0);
  /* not measured yet: never slow */
  v[2].rate = 0;
  CU_ASSERT_FALSE(pf_source_slow(v, 3, 2));
  CU_ASSERT_EQUAL(pf_source_pick(v, 3, PF_NO_SOURCE, 8, 4), 2);
  /* a dropped source's rate does not make the others slow */
  pf_source_view w[2] = {{1, 1e6, 0, 0, 0, 0}, {0, 9e6, 0, 0, 1, 0}};
  CU_ASSERT_FALSE(pf_source_slow(w, 2, 0));
  /* 3 x slower is not slow enough to pass over */
  pf_source_view u[2] = {{1, 3e6, 0, 0, 0, 0}, {1, 1e6, 0, 0, 1, 0}};
  CU_ASSERT_FALSE(pf_source_slow(u, 2, 1));
}

static void test_host_budget(void) {
  /* sources 0 and 1 on one host with 2 streams: per_host 2 is full */
  pf_source_view v[3] = {{1, 0, 1, 0, 0, 0}, {1, 0, 1, 0, 0, 0}, {1, 0, 2, 0, 1, 0}};
  CU_ASSERT_EQUAL(pf_source_pick(v, 3, PF_NO_SOURCE, 2, 2), PF_NO_SOURCE);
  CU_ASSERT_EQUAL(pf_source_pick(v, 3, 0, 2, 2), PF_NO_SOURCE); /* not even to stay */
  CU_ASSERT_EQUAL(pf_source_pick(v, 3, PF_NO_SOURCE, 3, 3), 0);
  /* the lane's share of a host: full on this lane, room on another host */
  pf_source_view w[2] = {{1, 0, 1, 1, 0, 0}, {1, 0, 3, 0, 1, 0}};
  CU_ASSERT_EQUAL(pf_source_pick(w, 2, PF_NO_SOURCE, 8, 1), 1);
  CU_ASSERT_EQUAL(pf_source_pick(w, 2, 0, 8, 1), 1);
  w[1].lane_streams = 1;
  CU_ASSERT_EQUAL(pf_source_pick(w, 2, PF_NO_SOURCE, 8, 1), PF_NO_SOURCE);
}

/* a mirror none of whose replies has come yet takes one stream: its first
 * reply sets the validator the others are held to (with two at once, the
 * second version of an object that changes could set it) */
static void test_unproven_one_stream(void) {
  pf_source_view v[2] = {{1, 0, 3, 0, 0, 0}, {1, 0, 1, 0, 1, 1}};
  CU_ASSERT_EQUAL(pf_source_pick(v, 2, PF_NO_SOURCE, 8, 4), 0);
  CU_ASSERT_EQUAL(pf_source_pick(v, 2, 1, 8, 4), 0);
  v[1].streams = 0; /* the asking stream is the one on it: it stays */
  CU_ASSERT_EQUAL(pf_source_pick(v, 2, 1, 8, 4), 1);
  CU_ASSERT_EQUAL(pf_source_pick(v, 2, PF_NO_SOURCE, 8, 4), 1);
  v[1].streams = 1, v[1].unproven = 0; /* proven: as many as its host allows */
  CU_ASSERT_EQUAL(pf_source_pick(v, 2, PF_NO_SOURCE, 8, 4), 1);
}

static void test_pace(void) {
  CU_ASSERT_DOUBLE_EQUAL(pf_source_pace(0, 5e6), 5e6, 1);
  CU_ASSERT_DOUBLE_EQUAL(pf_source_pace(4e6, 2e6), 3e6, 1);
}

int pf_suite_source(void) {
  CU_pSuite s = CU_add_suite("source", NULL, NULL);
  if (!s || !CU_add_test(s, "the least loaded source", test_least_loaded) ||
      !CU_add_test(s, "a stream stays on its source", test_stays) ||
      !CU_add_test(s, "dropped and slow sources passed over", test_dropped_and_slow) ||
      !CU_add_test(s, "each host's budget", test_host_budget) ||
      !CU_add_test(s, "an unproven mirror: one stream", test_unproven_one_stream) ||
      !CU_add_test(s, "a source's rate", test_pace))
    return CU_get_error();
  return CUE_SUCCESS;
}
