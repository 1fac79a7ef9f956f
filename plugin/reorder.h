/* reorder.h - the in-order window (reorder.c): pure logic, no I/O, no
 * threads of its own. */
#ifndef PF_REORDER_H
#define PF_REORDER_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* The smallest part the in-order plan makes. */
#define PF_REORDER_MIN_PART (64u * 1024)

/* The part size of an in-order download: window / (2 x streams), so that
 * the window holds every stream's part twice over (a stream can start its
 * next part while the head is still behind); rounded down to a multiple of
 * chunk (the streams' buffers then fill whole, part after part), at least
 * PF_REORDER_MIN_PART and one chunk. */
uint64_t pf_reorder_part_size(uint64_t window, unsigned streams, uint64_t chunk);

/* The in-order plan of an object of `size` bytes from byte `from` on: parts
 * of part_size bytes, in ascending order, the last one shorter; one part
 * for an unknown size, an empty object or no ranges. Returns the number of
 * parts; writes at most cap. */
size_t pf_reorder_plan(uint64_t from, uint64_t size, int ranges, uint64_t part_size, pf_part *parts,
                       size_t cap);

/* May a part [off, off + len) be started now, with the sink's next byte at
 * head? Only within the window: its end at most head + window; the part at
 * the head always (a window smaller than a part still makes progress). */
int pf_reorder_admits(uint64_t head, uint64_t window, uint64_t off, uint64_t len);

/* Pieces of the object that arrived ahead of the head, held until the gap
 * before them is filled. Sorted by offset, descending (the next one to go
 * is the last). At most cap pieces: the pool's chunk count, so that a put
 * never allocates. */
typedef struct pf_reorder_piece {
  uint64_t off;
  size_t len;
  void *item;
} pf_reorder_piece;

typedef struct pf_reorder {
  uint64_t head; /* the next byte the sink needs */
  pf_reorder_piece *v;
  size_t n, cap;
  uint64_t held; /* bytes in v */
} pf_reorder;

int pf_reorder_init(pf_reorder *r, uint64_t head, size_t cap); /* 0, or -1: no memory */
void pf_reorder_free(pf_reorder *r);

/* Hold a piece. -1 (and nothing held) if it is empty, overlaps the bytes
 * before the head or a piece held, or the window holds cap pieces. */
int pf_reorder_put(pf_reorder *r, uint64_t off, size_t len, void *item);

/* The piece that starts at the head, taken out (the head moves past it), or
 * NULL while the bytes at the head have not come. */
void *pf_reorder_take(pf_reorder *r, uint64_t *off, size_t *len);

/* Any piece held, taken out whatever its offset (the round is over: its
 * chunks go back to the pool); NULL when none is left. */
void *pf_reorder_drain(pf_reorder *r);

#endif
