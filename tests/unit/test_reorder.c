/* test_reorder.c - the in-order window (reorder.c): pieces leave in
 * ascending, contiguous order whatever order they came in; overlaps and a
 * full window are refused; the in-order plan covers the object exactly;
 * the window admits parts no further than its size ahead of the head. */
#include <stdlib.h>

#include <CUnit/CUnit.h>

#include "reorder.h"
#include "suites.h"

#define MiB (1024ull * 1024)

static void test_in_order_out(void) {
  pf_reorder r;
  CU_ASSERT_FATAL(pf_reorder_init(&r, 0, 8) == 0);
  int items[4];
  uint64_t off;
  size_t len;
  /* pieces of 10 bytes at 20, 10, 30 come first: nothing leaves */
  CU_ASSERT_EQUAL(pf_reorder_put(&r, 20, 10, &items[2]), 0);
  CU_ASSERT_EQUAL(pf_reorder_put(&r, 10, 10, &items[1]), 0);
  CU_ASSERT_EQUAL(pf_reorder_put(&r, 30, 5, &items[3]), 0);
  CU_ASSERT_PTR_NULL(pf_reorder_take(&r, &off, &len));
  CU_ASSERT_EQUAL(r.held, 25);
  /* the head arrives: all four leave in order */
  CU_ASSERT_EQUAL(pf_reorder_put(&r, 0, 10, &items[0]), 0);
  for (int i = 0; i < 4; i++) {
    CU_ASSERT_PTR_EQUAL(pf_reorder_take(&r, &off, &len), &items[i]);
    CU_ASSERT_EQUAL(off, (uint64_t)i * 10);
  }
  CU_ASSERT_EQUAL(len, 5);
  CU_ASSERT_EQUAL(r.head, 35);
  CU_ASSERT_EQUAL(r.held, 0);
  CU_ASSERT_PTR_NULL(pf_reorder_take(&r, &off, &len));
  pf_reorder_free(&r);
}

static void test_refused(void) {
  pf_reorder r;
  int x;
  CU_ASSERT_FATAL(pf_reorder_init(&r, 100, 2) == 0);
  CU_ASSERT_EQUAL(pf_reorder_put(&r, 50, 10, &x), -1); /* before the head */
  CU_ASSERT_EQUAL(pf_reorder_put(&r, 95, 10, &x), -1); /* straddles the head */
  CU_ASSERT_EQUAL(pf_reorder_put(&r, 200, 0, &x), -1); /* empty */
  CU_ASSERT_EQUAL(pf_reorder_put(&r, 200, 10, &x), 0);
  CU_ASSERT_EQUAL(pf_reorder_put(&r, 205, 10, &x), -1); /* overlaps the piece below */
  CU_ASSERT_EQUAL(pf_reorder_put(&r, 195, 6, &x), -1);  /* runs into the piece above */
  CU_ASSERT_EQUAL(pf_reorder_put(&r, 190, 10, &x), 0);  /* touches it: fine */
  CU_ASSERT_EQUAL(pf_reorder_put(&r, 300, 10, &x), -1); /* the window is full */
  CU_ASSERT_PTR_NOT_NULL(pf_reorder_drain(&r));
  CU_ASSERT_PTR_NOT_NULL(pf_reorder_drain(&r));
  CU_ASSERT_PTR_NULL(pf_reorder_drain(&r));
  CU_ASSERT_EQUAL(r.held, 0);
  CU_ASSERT_EQUAL(r.head, 100); /* a drain does not move the head */
  pf_reorder_free(&r);
}

/* Many pieces in a shuffled order: out in order, every byte once. */
static void test_shuffled(void) {
  enum { N = 200 };
  pf_reorder r;
  CU_ASSERT_FATAL(pf_reorder_init(&r, 0, N) == 0);
  size_t order[N], lens[N];
  uint64_t offs[N], at = 0;
  for (size_t i = 0; i < N; i++) {
    order[i] = i;
    lens[i] = 1 + (i * 7919) % 300;
    offs[i] = at;
    at += lens[i];
  }
  srand(12);
  for (size_t i = N - 1; i > 0; i--) {
    size_t k = (size_t)rand() % (i + 1), t = order[i];
    order[i] = order[k];
    order[k] = t;
  }
  uint64_t expect = 0;
  size_t out = 0;
  for (size_t i = 0; i < N; i++) {
    CU_ASSERT_EQUAL(pf_reorder_put(&r, offs[order[i]], lens[order[i]], &offs[order[i]]), 0);
    uint64_t off;
    size_t len;
    void *item;
    while ((item = pf_reorder_take(&r, &off, &len)) != NULL) {
      CU_ASSERT_EQUAL(off, expect);
      CU_ASSERT_PTR_EQUAL(item, &offs[out]);
      expect += len;
      out++;
    }
  }
  CU_ASSERT_EQUAL(out, N);
  CU_ASSERT_EQUAL(expect, at);
  pf_reorder_free(&r);
}

static void test_plan(void) {
  CU_ASSERT_EQUAL(pf_reorder_part_size(32 * MiB, 8, 256 * 1024), 2 * MiB);
  CU_ASSERT_EQUAL(pf_reorder_part_size(1 * MiB, 128, 16 * 1024), PF_REORDER_MIN_PART);
  CU_ASSERT_EQUAL(pf_reorder_part_size(1 * MiB, 0, 0), 512 * 1024);
  /* whole chunks: 3 MiB / 6 = 512 KiB is two of 256 KiB; 3 MiB / 8 = 384 KiB is one */
  CU_ASSERT_EQUAL(pf_reorder_part_size(3 * MiB, 3, 256 * 1024), 512 * 1024);
  CU_ASSERT_EQUAL(pf_reorder_part_size(3 * MiB, 4, 256 * 1024), 256 * 1024);
  /* a chunk larger than the share: one chunk */
  CU_ASSERT_EQUAL(pf_reorder_part_size(1 * MiB, 8, 1 * MiB), 1 * MiB);
  pf_part p[8];
  /* not a multiple of the part size: the last part is shorter */
  CU_ASSERT_EQUAL(pf_reorder_plan(0, 10 * MiB + 5, 1, 2 * MiB, p, 8), 6);
  uint64_t off = 0;
  for (size_t i = 0; i < 6; i++) {
    CU_ASSERT_EQUAL(p[i].index, i);
    CU_ASSERT_EQUAL(p[i].offset, off);
    off += p[i].length;
  }
  CU_ASSERT_EQUAL(p[5].length, 5);
  CU_ASSERT_EQUAL(off, 10 * MiB + 5);
  /* from a prefix on */
  CU_ASSERT_EQUAL(pf_reorder_plan(MiB, 4 * MiB, 1, 2 * MiB, p, 8), 2);
  CU_ASSERT_EQUAL(p[0].offset, MiB);
  CU_ASSERT_EQUAL(p[1].offset + p[1].length, 4 * MiB);
  /* one part: unknown size, no ranges, small, empty */
  CU_ASSERT_EQUAL(pf_reorder_plan(0, PF_SIZE_UNKNOWN, 1, 2 * MiB, p, 8), 1);
  CU_ASSERT_EQUAL(p[0].length, PF_SIZE_UNKNOWN);
  CU_ASSERT_EQUAL(pf_reorder_plan(0, 100 * MiB, 0, 2 * MiB, p, 8), 1);
  CU_ASSERT_EQUAL(p[0].length, 100 * MiB);
  CU_ASSERT_EQUAL(pf_reorder_plan(0, 1000, 1, 2 * MiB, p, 8), 1);
  CU_ASSERT_EQUAL(p[0].length, 1000);
  CU_ASSERT_EQUAL(pf_reorder_plan(0, 0, 1, 2 * MiB, p, 8), 1);
  CU_ASSERT_EQUAL(p[0].length, 0);
}

static void test_admits(void) {
  CU_ASSERT(pf_reorder_admits(0, 8 * MiB, 0, 100 * MiB));     /* the head's part: always */
  CU_ASSERT(pf_reorder_admits(0, 8 * MiB, 6 * MiB, 2 * MiB)); /* ends at the window's end */
  CU_ASSERT(!pf_reorder_admits(0, 8 * MiB, 6 * MiB, 2 * MiB + 1));
  CU_ASSERT(pf_reorder_admits(4 * MiB, 8 * MiB, 10 * MiB, 2 * MiB));
  CU_ASSERT(!pf_reorder_admits(4 * MiB, 8 * MiB, 12 * MiB, 1));
  CU_ASSERT(!pf_reorder_admits(0, 8 * MiB, 1, PF_SIZE_UNKNOWN));
  CU_ASSERT(!pf_reorder_admits(1, UINT64_MAX, UINT64_MAX - 1, 5)); /* no wrap-around */
}

int pf_suite_reorder(void) {
  CU_pSuite s = CU_add_suite("reorder", NULL, NULL);
  if (!s)
    return CU_get_error();
  if (!CU_add_test(s, "pieces leave in order", test_in_order_out) ||
      !CU_add_test(s, "overlaps and a full window refused", test_refused) ||
      !CU_add_test(s, "shuffled pieces, every byte once", test_shuffled) ||
      !CU_add_test(s, "in-order plan", test_plan) ||
      !CU_add_test(s, "window admission", test_admits))
    return CU_get_error();
  return CUE_SUCCESS;
}
