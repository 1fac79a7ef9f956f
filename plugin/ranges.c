/*
 * ranges.c - a set of written byte ranges: sorted, disjoint, merged when
 * adjacent. The sink uses it to know when every byte is stored and how far
 * the in-order digest can advance. Not thread-safe: the caller holds the
 * session's mutex.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void pf_rangeset_init(pf_rangeset *rs) {
  rs->v = NULL;
  rs->n = rs->cap = 0;
}

void pf_rangeset_free(pf_rangeset *rs) {
  free(rs->v);
  pf_rangeset_init(rs);
}

int pf_rangeset_add(pf_rangeset *rs, uint64_t start, uint64_t end) {
  if (start >= end)
    return 0;
  /* first range whose end >= start (a candidate to merge with) */
  size_t lo = 0, hi = rs->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (rs->v[mid].end < start)
      lo = mid + 1;
    else
      hi = mid;
  }
  size_t i = lo;
  if (i < rs->n && rs->v[i].start < end && start < rs->v[i].end)
    return 1; /* overlap */
  if (i + 1 < rs->n && rs->v[i + 1].start < end)
    return 1;
  int join_left = i < rs->n && rs->v[i].end == start;
  size_t right = join_left ? i + 1 : i;
  int join_right = right < rs->n && rs->v[right].start == end;
  if (join_left && join_right) {
    rs->v[i].end = rs->v[right].end;
    memmove(&rs->v[right], &rs->v[right + 1], (rs->n - right - 1) * sizeof *rs->v);
    rs->n--;
    return 0;
  }
  if (join_left) {
    rs->v[i].end = end;
    return 0;
  }
  if (join_right) {
    rs->v[right].start = start;
    return 0;
  }
  if (rs->n == rs->cap) {
    size_t ncap = rs->cap ? rs->cap * 2 : 16;
    pf_range *nv = realloc(rs->v, ncap * sizeof *nv);
    if (!nv)
      return -1;
    rs->v = nv;
    rs->cap = ncap;
  }
  memmove(&rs->v[i + 1], &rs->v[i], (rs->n - i) * sizeof *rs->v);
  rs->v[i].start = start;
  rs->v[i].end = end;
  rs->n++;
  return 0;
}

uint64_t pf_rangeset_prefix(const pf_rangeset *rs) {
  return (rs->n > 0 && rs->v[0].start == 0) ? rs->v[0].end : 0;
}

uint64_t pf_rangeset_total(const pf_rangeset *rs) {
  uint64_t t = 0;
  for (size_t i = 0; i < rs->n; i++)
    t += rs->v[i].end - rs->v[i].start;
  return t;
}

int pf_rangeset_overlaps(const pf_rangeset *rs, uint64_t start, uint64_t end) {
  /* the first range that ends after start */
  size_t lo = 0, hi = rs->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (rs->v[mid].end <= start)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < rs->n && rs->v[lo].start < end && start < end;
}
