/* fuzz_journal.c - the resume journal decoder (plugin/journal.c) on a crafted
 * side file's slot: a side file left on disk is input parfetch did not write
 * this run. The first byte picks how the rest is used: even, as a slot as
 * found; odd, as a record's payload, wrapped in a valid header and CRC so
 * that the fuzzer reaches past the checksum. Promises checked for a decoded
 * record: strings inside the input; both lists' ranges non-empty,
 * sorted, disjoint and inside the object; the view points into the input.
 * (Wrapped payloads are read as the current version.) */
#include <string.h>

#include "fuzz.h"
#include "journal.h"

static void put_le32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static void check_list(const unsigned char *buf, size_t len, const pf_journal_view *v,
                       const pf_journal_list *l) {
  if (l->n > 0)
    fuzz_assert(l->p >= buf && l->p + (size_t)l->n * 16 <= buf + len);
  uint64_t prev_end = 0;
  for (uint32_t i = 0; i < l->n; i++) {
    uint64_t a, b;
    pf_journal_range(l, i, &a, &b);
    fuzz_assert(a < b && b <= v->size);
    fuzz_assert(i == 0 || a > prev_end);
    prev_end = b;
  }
}

static void check(const unsigned char *buf, size_t len) {
  pf_journal_view v;
  if (pf_journal_decode(buf, len, &v) != 0)
    return;
  const pf_journal_str *strs[] = {&v.url, &v.etag, &v.last_modified, &v.boot};
  for (size_t i = 0; i < 4; i++)
    fuzz_assert(strs[i]->len == 0 ||
                (strs[i]->p >= (const char *)buf &&
                 strs[i]->p + strs[i]->len <= (const char *)buf + len));
  check_list(buf, len, &v, &v.durable);
  check_list(buf, len, &v, &v.written);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  if (!(data[0] & 1)) {
    check(data + 1, size - 1);
    return 0;
  }
  size_t plen = size - 1;
  unsigned char *rec = malloc(20 + plen);
  if (!rec)
    return 0;
  memcpy(rec, "PFJOURN1", 8);
  put_le32(rec + 8, PF_JOURNAL_VERSION);
  put_le32(rec + 12, pf_crc32(data + 1, plen));
  put_le32(rec + 16, (uint32_t)plen);
  memcpy(rec + 20, data + 1, plen);
  check(rec, 20 + plen);
  free(rec);
  return 0;
}
