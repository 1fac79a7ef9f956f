/*
 * plan.c - the planner: a pure function of the object's size and the config.
 * It follows b2sdk's ParallelDownloader: streams = size / min_part_size,
 * capped by max_streams, at least 1; part i gets remaining / parts_left
 * bytes, so the last parts absorb the remainder. No I/O, no threads.
 */
#include "internal.h"

size_t pf_plan(uint64_t size, int ranges, uint64_t min_part_size, unsigned max_streams,
               pf_part *parts, size_t cap) {
  uint64_t n = 1;
  if (size != PF_SIZE_UNKNOWN && ranges && size > 0 && min_part_size > 0) {
    n = size / min_part_size;
    if (n > max_streams)
      n = max_streams;
    if (n < 1)
      n = 1;
  }
  if (!parts)
    return (size_t)n;
  uint64_t off = 0, remaining = size;
  for (uint64_t i = 0; i < n && i < cap; i++) {
    uint64_t len = (size == PF_SIZE_UNKNOWN) ? PF_SIZE_UNKNOWN : remaining / (n - i);
    parts[i].index = (uint32_t)i;
    parts[i].offset = off;
    parts[i].length = len;
    if (size != PF_SIZE_UNKNOWN) {
      off += len;
      remaining -= len;
    }
  }
  return (size_t)n;
}

size_t pf_plan_merge(pf_part *parts, size_t n, uint64_t min_part_size) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (k > 0 && parts[k - 1].offset + parts[k - 1].length == parts[i].offset &&
        (parts[k - 1].length < min_part_size || parts[i].length < min_part_size)) {
      parts[k - 1].length += parts[i].length;
      continue;
    }
    parts[k] = parts[i];
    parts[k].index = (uint32_t)k;
    k++;
  }
  return k;
}

size_t pf_plan_missing(const pf_part *full, size_t nfull, const pf_range *done, size_t ndone,
                       pf_part *out, size_t cap) {
  size_t n = 0, d = 0;
  for (size_t i = 0; i < nfull; i++) {
    uint64_t pos = full[i].offset, end = full[i].offset + full[i].length;
    while (d < ndone && done[d].end <= pos)
      d++;
    for (size_t k = d; pos < end; k++) {
      uint64_t gap_end = (k < ndone && done[k].start < end) ? done[k].start : end;
      if (gap_end > pos) {
        if (n < cap) {
          out[n].index = (uint32_t)n;
          out[n].offset = pos;
          out[n].length = gap_end - pos;
        }
        n++;
      }
      if (k >= ndone || done[k].start >= end)
        break;
      pos = done[k].end;
    }
  }
  return n;
}
