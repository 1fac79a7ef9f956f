/* test_journal.c - the resume journal's encoding (round trip, torn and
 * foreign records refused) and the planner's "what is still missing". */
#include <string.h>

#include <CUnit/CUnit.h>

#include "journal.h"
#include "suites.h"

static unsigned char slot[PF_JOURNAL_SLOT];

/* The decoded list l holds exactly the n ranges r. */
static void list_is(const pf_journal_list *l, const pf_range *r, uint32_t n) {
  CU_ASSERT_EQUAL_FATAL(l->n, n);
  for (uint32_t i = 0; i < n; i++) {
    uint64_t a, b;
    pf_journal_range(l, i, &a, &b);
    CU_ASSERT_EQUAL(a, r[i].start);
    CU_ASSERT_EQUAL(b, r[i].end);
  }
}

static void test_round_trip(void) {
  pf_range r[3] = {{0, 4096}, {10000, 20000}, {1u << 30, (1u << 30) + 5}};
  pf_range w[2] = {{0, 8192}, {10000, (1u << 30) + 5}};
  pf_journal j = {7, 5ull << 30, "http://127.0.0.1/x", "\"abc\"", NULL, "boot-1", r, 3, w, 2};
  size_t len = pf_journal_encode(&j, slot, sizeof slot);
  CU_ASSERT_FATAL(len > 0);
  pf_journal_view v;
  CU_ASSERT_EQUAL_FATAL(pf_journal_decode(slot, sizeof slot, &v), 0);
  CU_ASSERT_EQUAL(v.seq, 7);
  CU_ASSERT_EQUAL(v.size, 5ull << 30);
  CU_ASSERT(pf_journal_str_is(v.url, "http://127.0.0.1/x"));
  CU_ASSERT(pf_journal_str_is(v.etag, "\"abc\""));
  CU_ASSERT(pf_journal_str_is(v.last_modified, NULL));
  CU_ASSERT(pf_journal_str_is(v.last_modified, ""));
  CU_ASSERT(!pf_journal_str_is(v.url, "http://127.0.0.1/"));
  CU_ASSERT(!pf_journal_str_is(v.url, "http://127.0.0.1/xy"));
  CU_ASSERT(pf_journal_str_is(v.boot, "boot-1"));
  list_is(&v.durable, r, 3);
  list_is(&v.written, w, 2);
}

static void test_torn_or_corrupt_refused(void) {
  pf_range r[1] = {{0, 100}};
  pf_journal j = {1, 1000, "http://h/x", "\"e\"", "Mon", "b", r, 1, r, 1};
  size_t len = pf_journal_encode(&j, slot, sizeof slot);
  CU_ASSERT_FATAL(len > 0);
  pf_journal_view v;
  /* any flipped byte is caught */
  for (size_t i = 0; i < len; i++) {
    slot[i] ^= 0x40;
    CU_ASSERT_EQUAL(pf_journal_decode(slot, sizeof slot, &v), -1);
    slot[i] ^= 0x40;
  }
  CU_ASSERT_EQUAL(pf_journal_decode(slot, sizeof slot, &v), 0);
  /* a record cut short (torn write) */
  CU_ASSERT_EQUAL(pf_journal_decode(slot, len - 1, &v), -1);
  /* zeroes, as fallocate leaves a slot that was never written */
  memset(slot, 0, sizeof slot);
  CU_ASSERT_EQUAL(pf_journal_decode(slot, sizeof slot, &v), -1);
}

static void test_ranges_outside_object_refused(void) {
  pf_range r[2] = {{0, 100}, {50, 200}}; /* overlapping: never written by us */
  pf_journal j = {1, 1000, "u", NULL, NULL, NULL, r, 2, NULL, 0};
  CU_ASSERT_FATAL(pf_journal_encode(&j, slot, sizeof slot) > 0);
  pf_journal_view v;
  CU_ASSERT_EQUAL(pf_journal_decode(slot, sizeof slot, &v), -1);
  pf_range past[1] = {{900, 1001}};
  pf_journal k = {1, 1000, "u", NULL, NULL, NULL, past, 1, NULL, 0};
  CU_ASSERT_FATAL(pf_journal_encode(&k, slot, sizeof slot) > 0);
  CU_ASSERT_EQUAL(pf_journal_decode(slot, sizeof slot, &v), -1);
}

static void test_too_many_ranges_truncated_safely(void) {
  static pf_range r[10000];
  for (size_t i = 0; i < 10000; i++) {
    r[i].start = i * 10;
    r[i].end = i * 10 + 5;
  }
  pf_journal j = {3, 200000, "u", NULL, NULL, NULL, r, 10000, r, 10000};
  CU_ASSERT_FATAL(pf_journal_encode(&j, slot, sizeof slot) > 0);
  pf_journal_view v;
  CU_ASSERT_EQUAL_FATAL(pf_journal_decode(slot, sizeof slot, &v), 0);
  CU_ASSERT(v.durable.n > 1000 && v.durable.n < 10000); /* fewer claimed: safe */
  CU_ASSERT_EQUAL(v.written.n, 0); /* no room left: claims nothing more */
  uint64_t a, b;
  pf_journal_range(&v.durable, v.durable.n - 1, &a, &b);
  CU_ASSERT_EQUAL(a, (uint64_t)(v.durable.n - 1) * 10);
}

/* A record with a URL of ulen bytes and an ETag of elen bytes: either the
 * encoder refuses it, or the decoder gives back exactly what was encoded
 * (never a record its own decoder refuses, never a string cut short).
 * Returns 1 if it was encoded. */
static int round_trip_lengths(size_t ulen, size_t elen) {
  static char url[70000], etag[70000];
  memset(url, 'u', ulen);
  url[ulen] = '\0';
  memset(etag, 'e', elen);
  etag[elen] = '\0';
  if (ulen >= 7)
    memcpy(url, "http://", 7);
  pf_range r[1] = {{0, 10}};
  pf_journal j = {2, 100, url, elen ? etag : NULL, "Tue, 01 Dec 2026 20:00:00 GMT", NULL, r, 1, r, 1};
  size_t len = pf_journal_encode(&j, slot, sizeof slot);
  if (len == 0)
    return 0;
  pf_journal_view v;
  CU_ASSERT_EQUAL_FATAL(pf_journal_decode(slot, sizeof slot, &v), 0);
  CU_ASSERT_EQUAL(v.url.len, ulen);
  CU_ASSERT(pf_journal_str_is(v.url, url));
  CU_ASSERT(pf_journal_str_is(v.etag, elen ? etag : NULL));
  CU_ASSERT(pf_journal_str_is(v.last_modified, "Tue, 01 Dec 2026 20:00:00 GMT"));
  CU_ASSERT(v.durable.n <= 1 && v.written.n <= 1); /* left out where the slot is full: safe */
  return 1;
}

static void test_string_limits_shared(void) {
  /* the decoder used to refuse URLs from 8 KiB and ETags from 512 bytes */
  size_t urls[] = {0, 1, 8191, 8192, 8193, 16384, 40000};
  for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++)
    CU_ASSERT(round_trip_lengths(urls[i], 10));
  size_t etags[] = {1, 511, 512, 513, 2000, 30000};
  for (size_t i = 0; i < sizeof etags / sizeof etags[0]; i++)
    CU_ASSERT(round_trip_lengths(100, etags[i]));
  /* the slot is the limit: header 20, seq+size 16, four lengths 8, the
   * Last-Modified above 29, two range counts 8 (ranges are left out) */
  size_t max = PF_JOURNAL_SLOT - 20 - 16 - 8 - 29 - 8;
  CU_ASSERT(round_trip_lengths(max, 0));
  CU_ASSERT(!round_trip_lengths(max + 1, 0));
  CU_ASSERT(!round_trip_lengths(65535, 0));
  CU_ASSERT(!round_trip_lengths(65536, 0)); /* more than a u16: refused, not cut */
  CU_ASSERT(!round_trip_lengths(100, 65536));
  /* every length in between: encoded and decoded alike */
  for (size_t n = max - 40; n <= max + 40; n++)
    round_trip_lengths(n, 0);
}

/* A record of version 1 (before the durable/written split): its one list
 * was flushed before it was recorded, so it is the durable list. */
static void test_version1_read_as_durable(void) {
  unsigned char *p = slot + 20;
  size_t n = 0;
  uint64_t fields[2] = {5, 1000};
  for (int f = 0; f < 2; f++)
    for (int i = 0; i < 8; i++)
      p[n++] = (unsigned char)(fields[f] >> (8 * i));
  const char *strs[3] = {"u", "\"e\"", ""};
  for (int k = 0; k < 3; k++) {
    size_t len = strlen(strs[k]);
    p[n++] = (unsigned char)len;
    p[n++] = 0;
    memcpy(p + n, strs[k], len);
    n += len;
  }
  uint64_t list[3] = {1, 100, 300}; /* one range: [100, 300) */
  for (int i = 0; i < 4; i++)
    p[n++] = (unsigned char)(list[0] >> (8 * i));
  for (int f = 1; f < 3; f++)
    for (int i = 0; i < 8; i++)
      p[n++] = (unsigned char)(list[f] >> (8 * i));
  memcpy(slot, "PFJOURN1", 8);
  uint32_t h[3] = {1, pf_crc32(p, n), (uint32_t)n};
  for (int f = 0; f < 3; f++)
    for (int i = 0; i < 4; i++)
      slot[8 + 4 * f + i] = (unsigned char)(h[f] >> (8 * i));
  pf_journal_view v;
  CU_ASSERT_EQUAL_FATAL(pf_journal_decode(slot, 20 + n, &v), 0);
  CU_ASSERT_EQUAL(v.seq, 5);
  CU_ASSERT(pf_journal_str_is(v.etag, "\"e\""));
  CU_ASSERT_EQUAL(v.boot.len, 0); /* no boot: the written list never counts alone */
  CU_ASSERT_EQUAL_FATAL(v.durable.n, 1);
  CU_ASSERT_EQUAL(v.written.n, 1);
  uint64_t a, b;
  pf_journal_range(&v.durable, 0, &a, &b);
  CU_ASSERT(a == 100 && b == 300);
  /* a version this build does not know is refused */
  slot[8] = 3;
  CU_ASSERT_EQUAL(pf_journal_decode(slot, 20 + n, &v), -1);
}

/* The written list is checked like the durable one. */
static void test_written_list_checked(void) {
  pf_range d[1] = {{0, 100}};
  pf_range w[2] = {{0, 300}, {200, 400}}; /* overlapping */
  pf_journal j = {1, 1000, "u", NULL, NULL, "b", d, 1, w, 2};
  CU_ASSERT_FATAL(pf_journal_encode(&j, slot, sizeof slot) > 0);
  pf_journal_view v;
  CU_ASSERT_EQUAL(pf_journal_decode(slot, sizeof slot, &v), -1);
  pf_range past[1] = {{0, 1001}};
  pf_journal k = {1, 1000, "u", NULL, NULL, "b", d, 1, past, 1};
  CU_ASSERT_FATAL(pf_journal_encode(&k, slot, sizeof slot) > 0);
  CU_ASSERT_EQUAL(pf_journal_decode(slot, sizeof slot, &v), -1);
}

static void test_crc32_vector(void) {
  CU_ASSERT_EQUAL(pf_crc32("123456789", 9), 0xcbf43926u);
  CU_ASSERT_EQUAL(pf_journal_offset(0), 0);
  CU_ASSERT_EQUAL(pf_journal_offset(1), 4096);
  CU_ASSERT_EQUAL(pf_journal_offset(4096), 4096);
}

static void test_plan_missing(void) {
  pf_part full[4];
  CU_ASSERT_EQUAL(pf_plan(400, 1, 100, 4, full, 4), 4); /* 0-100-200-300-400 */
  pf_range done[3] = {{0, 150}, {210, 220}, {300, 400}};
  pf_part out[8];
  size_t n = pf_plan_missing(full, 4, done, 3, out, 8);
  CU_ASSERT_EQUAL_FATAL(n, 3);
  CU_ASSERT(out[0].offset == 150 && out[0].length == 50 && out[0].index == 0);
  CU_ASSERT(out[1].offset == 200 && out[1].length == 10 && out[1].index == 1);
  CU_ASSERT(out[2].offset == 220 && out[2].length == 80 && out[2].index == 2);
  /* nothing done: the plan itself; everything done: nothing */
  CU_ASSERT_EQUAL(pf_plan_missing(full, 4, NULL, 0, out, 8), 4);
  CU_ASSERT(out[3].offset == 300 && out[3].length == 100);
  pf_range all[1] = {{0, 400}};
  CU_ASSERT_EQUAL(pf_plan_missing(full, 4, all, 1, out, 8), 0);
}

/* a sliver left by a stored range joins the part it touches */
static void test_plan_merge(void) {
  pf_part full[4], out[8];
  CU_ASSERT_EQUAL(pf_plan(400, 1, 100, 4, full, 4), 4);
  pf_range done[1] = {{0, 190}}; /* 190-200 is a sliver of part 1 */
  size_t n = pf_plan_missing(full, 4, done, 1, out, 8);
  CU_ASSERT_EQUAL_FATAL(n, 3);
  n = pf_plan_merge(out, n, 100);
  CU_ASSERT_EQUAL_FATAL(n, 2);
  CU_ASSERT(out[0].offset == 190 && out[0].length == 110 && out[0].index == 0);
  CU_ASSERT(out[1].offset == 300 && out[1].length == 100 && out[1].index == 1);
  /* parts apart (a stored range between) stay apart, however short */
  pf_range holes[2] = {{0, 150}, {210, 220}};
  n = pf_plan_missing(full, 4, holes, 2, out, 8);
  CU_ASSERT_EQUAL_FATAL(n, 4); /* 150-200, 200-210, 220-300, 300-400 */
  n = pf_plan_merge(out, n, 100);
  CU_ASSERT_EQUAL_FATAL(n, 2);
  CU_ASSERT(out[0].offset == 150 && out[0].length == 60);
  CU_ASSERT(out[1].offset == 220 && out[1].length == 180);
  /* parts of min_part_size or more are kept as planned */
  CU_ASSERT_EQUAL(pf_plan_missing(full, 4, NULL, 0, out, 8), 4);
  CU_ASSERT_EQUAL(pf_plan_merge(out, 4, 100), 4);
}

int pf_suite_journal(void) {
  CU_pSuite s = CU_add_suite("journal", NULL, NULL);
  if (!s || !CU_add_test(s, "round trip", test_round_trip) ||
      !CU_add_test(s, "torn or corrupt records refused", test_torn_or_corrupt_refused) ||
      !CU_add_test(s, "slivers join their neighbours", test_plan_merge) ||
      !CU_add_test(s, "impossible ranges refused", test_ranges_outside_object_refused) ||
      !CU_add_test(s, "too many ranges: fewer claimed", test_too_many_ranges_truncated_safely) ||
      !CU_add_test(s, "one string limit for encoder and decoder", test_string_limits_shared) ||
      !CU_add_test(s, "crc32 and slot offset", test_crc32_vector) ||
      !CU_add_test(s, "a version 1 record is durable", test_version1_read_as_durable) ||
      !CU_add_test(s, "the written list is checked", test_written_list_checked) ||
      !CU_add_test(s, "plan of what is missing", test_plan_missing))
    return CU_get_error();
  return CUE_SUCCESS;
}
