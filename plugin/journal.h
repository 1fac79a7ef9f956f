/*
 * journal.h - the resume journal kept at the end of the side file; see
 * journal.c for the layout. Pure encoding and decoding, no I/O.
 */
#ifndef PF_JOURNAL_H
#define PF_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#define PF_JOURNAL_VERSION 2u /* 1 is still read */
#define PF_JOURNAL_SLOT (64u * 1024) /* bytes per slot; two slots */

typedef struct pf_journal {
  uint64_t seq;
  uint64_t size;
  const char *url, *etag, *last_modified; /* NULL = none */
  const char *boot;                       /* the kernel's boot id; NULL = unknown */
  const pf_range *durable;                /* flushed before this record; sorted, disjoint */
  size_t ndurable;
  const pf_range *written;                /* stored before it (a superset); sorted, disjoint */
  size_t nwritten;
} pf_journal;

/* A string of a record: bytes in the record (not NUL-terminated). */
typedef struct pf_journal_str {
  const char *p;
  size_t len;
} pf_journal_str;

/* Ranges of a record, encoded; read with pf_journal_range. */
typedef struct pf_journal_list {
  uint32_t n;
  const unsigned char *p;
} pf_journal_list;

/* A decoded record; everything points into the buffer that was decoded.
 * Strings are as long as the record holds (the slot is the only limit, the
 * same one the encoder has). */
typedef struct pf_journal_view {
  uint64_t seq, size;
  pf_journal_str url, etag, last_modified, boot; /* len 0 = none */
  pf_journal_list durable, written; /* version 1: both the one list */
} pf_journal_view;

uint32_t pf_crc32(const void *data, size_t len);
/* Where the slots start in the side file of an object of `size` bytes. */
uint64_t pf_journal_offset(uint64_t size);
/* Encode into buf (cap bytes, at most a slot). Returns the length, or 0 if
 * even the header and strings do not fit (a URL or validator that long: the
 * download is not resumable; nothing is ever cut short). Ranges that do not
 * fit are left out, the written list's first (claiming less is safe). Whatever this encodes,
 * pf_journal_decode accepts. */
size_t pf_journal_encode(const pf_journal *j, unsigned char *buf, size_t cap);
/* Decode and validate (magic, version, CRC, bounds, sorted ranges inside the
 * object). Returns 0, or -1 for anything torn, foreign or corrupt. The view
 * points into buf. */
int pf_journal_decode(const unsigned char *buf, size_t len, pf_journal_view *out);
/* Does the record's string equal s (NULL = none)? */
int pf_journal_str_is(pf_journal_str v, const char *s);
void pf_journal_range(const pf_journal_list *l, uint32_t i, uint64_t *start, uint64_t *end);

#endif /* PF_JOURNAL_H */
