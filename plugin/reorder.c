/*
 * reorder.c - the in-order window: pieces of an object that arrive out of
 * order (several streams fetch parts ahead of the byte the sink needs
 * next) wait here until the gap before them is filled, and leave in
 * ascending, contiguous order. Also the in-order plan (parts small enough
 * that the window holds several) and the window's admission rule. Pure
 * logic: the pieces' memory is the caller's (run.c's pooled chunks), and
 * the caller's lock, if any, guards a pf_reorder (run.c's writer thread
 * alone uses one).
 */
#include <stdlib.h>
#include <string.h>

#include "reorder.h"

uint64_t pf_reorder_part_size(uint64_t window, unsigned streams, uint64_t chunk) {
  uint64_t p = window / (2 * (uint64_t)(streams ? streams : 1));
  if (chunk > 0)
    p -= p % chunk;
  if (p < chunk)
    p = chunk;
  return p < PF_REORDER_MIN_PART ? PF_REORDER_MIN_PART : p;
}

size_t pf_reorder_plan(uint64_t from, uint64_t size, int ranges, uint64_t part_size, pf_part *parts,
                       size_t cap) {
  uint64_t n = 1;
  if (size != PF_SIZE_UNKNOWN && ranges && part_size > 0 && size > from)
    n = (size - from + part_size - 1) / part_size;
  for (uint64_t i = 0; parts && i < n && i < cap; i++) {
    parts[i].index = (uint32_t)i;
    parts[i].offset = from + i * part_size;
    if (size == PF_SIZE_UNKNOWN)
      parts[i].length = PF_SIZE_UNKNOWN;
    else if (n == 1)
      parts[i].length = size > from ? size - from : 0;
    else
      parts[i].length = i + 1 < n ? part_size : size - parts[i].offset;
  }
  return (size_t)n;
}

int pf_reorder_admits(uint64_t head, uint64_t window, uint64_t off, uint64_t len) {
  if (off <= head)
    return 1;
  if (len == PF_SIZE_UNKNOWN || len > UINT64_MAX - off || window > UINT64_MAX - head)
    return 0;
  return off + len <= head + window;
}

int pf_reorder_init(pf_reorder *r, uint64_t head, size_t cap) {
  memset(r, 0, sizeof *r);
  r->head = head;
  r->cap = cap;
  r->v = calloc(cap ? cap : 1, sizeof *r->v);
  return r->v ? 0 : -1;
}

void pf_reorder_free(pf_reorder *r) {
  free(r->v);
  r->v = NULL;
  r->n = r->cap = 0;
}

int pf_reorder_put(pf_reorder *r, uint64_t off, size_t len, void *item) {
  if (len == 0 || r->n >= r->cap || off < r->head || off > UINT64_MAX - len)
    return -1;
  /* v descending by offset: the first index whose piece starts below off */
  size_t i = 0;
  while (i < r->n && r->v[i].off > off)
    i++;
  if (i > 0 && off + len > r->v[i - 1].off) /* runs into the piece above */
    return -1;
  if (i < r->n && r->v[i].off + r->v[i].len > off) /* the piece below runs into it */
    return -1;
  memmove(&r->v[i + 1], &r->v[i], (r->n - i) * sizeof *r->v);
  r->v[i] = (pf_reorder_piece){off, len, item};
  r->n++;
  r->held += len;
  return 0;
}

void *pf_reorder_take(pf_reorder *r, uint64_t *off, size_t *len) {
  if (r->n == 0 || r->v[r->n - 1].off != r->head)
    return NULL;
  pf_reorder_piece p = r->v[--r->n];
  r->head += p.len;
  r->held -= p.len;
  *off = p.off;
  *len = p.len;
  return p.item;
}

void *pf_reorder_drain(pf_reorder *r) {
  if (r->n == 0)
    return NULL;
  pf_reorder_piece p = r->v[--r->n];
  r->held -= p.len;
  return p.item;
}
