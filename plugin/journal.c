/*
 * journal.c - the resume journal: what a side file holds, described by the
 * side file itself.
 *
 * Layout of OUTPUT.pfpart for an object of `size` bytes:
 *   [0, size)                 the object's bytes, each at its own offset
 *   [J, J + SLOT)             journal slot 0     J = size rounded up to 4 KiB
 *   [J + SLOT, J + 2 * SLOT)  journal slot 1
 * Records alternate between the slots, so a record torn by a crash leaves
 * the previous one intact; the valid record with the highest sequence
 * number wins. A record (little-endian):
 *   "PFJOURN1" | u32 version | u32 crc32(payload) | u32 payload_len |
 *   payload (version 2):
 *            u64 seq | u64 size | str url | str etag | str last_modified |
 *            str boot | list durable | list written
 *            str = u16 len + bytes; list = u32 n + n x (u64 start, u64 end)
 *   payload (version 1, still read): the same up to last_modified, then one
 *            list, which is durable (version 1 flushed before recording)
 * ("url" is what sink.c names the URL by: a digest, nothing secret.) Every
 * string is bounded by the slot alone, for the encoder and the decoder.
 * "durable" only ever holds ranges flushed (fdatasync) before the record was
 * written; "written" the ranges stored (pwrite returned) before it, which
 * survive the process but not the machine: they count only while "boot" is
 * the running kernel's boot id (sink.c says why that is safe). On commit the
 * file is cut to `size`.
 *
 * This file is pure (encode/decode/crc) apart from nothing: sink.c does the
 * I/O. Unit-tested in tests/unit/test_journal.c.
 */
#include <string.h>

#include "journal.h"

static const char MAGIC[8] = {'P', 'F', 'J', 'O', 'U', 'R', 'N', '1'};
#define HEADER 20 /* magic + version + crc + payload_len */

uint32_t pf_crc32(const void *data, size_t len) {
  const unsigned char *p = data;
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < len; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++)
      crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

uint64_t pf_journal_offset(uint64_t size) {
  return (size + 4095) & ~(uint64_t)4095;
}

typedef struct wbuf {
  unsigned char *p;
  size_t len, cap;
  int overflow;
} wbuf;

static void put(wbuf *w, const void *v, size_t n) {
  if (n == 0)
    return;
  if (w->len + n > w->cap) {
    w->overflow = 1;
    return;
  }
  memcpy(w->p + w->len, v, n);
  w->len += n;
}

static void put_le(wbuf *w, uint64_t v, int bytes) {
  unsigned char b[8];
  for (int i = 0; i < bytes; i++)
    b[i] = (unsigned char)(v >> (8 * i));
  put(w, b, (size_t)bytes);
}

static void put_str(wbuf *w, const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n > 0xffff) { /* never cut short: a prefix could match another object */
    w->overflow = 1;
    return;
  }
  put_le(w, n, 2);
  put(w, s, n);
}

/* A list of as many ranges as fit in the room left after `reserve` more
 * bytes: claiming fewer than were stored is always safe. */
static void put_list(wbuf *w, const pf_range *r, size_t n, size_t reserve) {
  size_t used = w->len + 4 + reserve;
  size_t room = w->cap > used ? (w->cap - used) / 16 : 0;
  if (w->cap < used) {
    w->overflow = 1;
    return;
  }
  if (n > room)
    n = room;
  put_le(w, n, 4);
  for (size_t i = 0; i < n; i++) {
    put_le(w, r[i].start, 8);
    put_le(w, r[i].end, 8);
  }
}

size_t pf_journal_encode(const pf_journal *j, unsigned char *buf, size_t cap) {
  if (cap < HEADER)
    return 0;
  wbuf w = {buf, HEADER, cap, 0};
  put_le(&w, j->seq, 8);
  put_le(&w, j->size, 8);
  put_str(&w, j->url);
  put_str(&w, j->etag);
  put_str(&w, j->last_modified);
  put_str(&w, j->boot);
  if (w.overflow || w.len + 8 > cap)
    return 0;
  put_list(&w, j->durable, j->ndurable, 4); /* the written list's count still fits */
  put_list(&w, j->written, j->nwritten, 0);
  if (w.overflow)
    return 0;
  uint32_t plen = (uint32_t)(w.len - HEADER);
  memcpy(buf, MAGIC, 8);
  wbuf h = {buf + 8, 0, 12, 0};
  put_le(&h, PF_JOURNAL_VERSION, 4);
  put_le(&h, pf_crc32(buf + HEADER, plen), 4);
  put_le(&h, plen, 4);
  return w.len;
}

typedef struct rbuf {
  const unsigned char *p;
  size_t len, pos;
  int bad;
} rbuf;

static uint64_t get_le(rbuf *r, int bytes) {
  if (r->pos + (size_t)bytes > r->len) {
    r->bad = 1;
    return 0;
  }
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++)
    v |= (uint64_t)r->p[r->pos + (size_t)i] << (8 * i);
  r->pos += (size_t)bytes;
  return v;
}

/* The same bound as put_str's: the record itself. */
static pf_journal_str get_str(rbuf *r) {
  pf_journal_str v = {"", 0};
  size_t n = (size_t)get_le(r, 2);
  if (r->bad || n > r->len - r->pos) {
    r->bad = 1;
    return v;
  }
  v.p = (const char *)r->p + r->pos;
  v.len = n;
  r->pos += n;
  return v;
}

/* A list of ranges: sorted, disjoint, inside the object. */
static int get_list(rbuf *r, const unsigned char *base, uint64_t size, pf_journal_list *out) {
  uint32_t n = (uint32_t)get_le(r, 4);
  if (r->bad || n > (r->len - r->pos) / 16)
    return -1;
  out->n = n;
  out->p = base + r->pos;
  uint64_t prev_end = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t a = get_le(r, 8), b = get_le(r, 8);
    if (r->bad || a >= b || b > size || (i > 0 && a <= prev_end))
      return -1;
    prev_end = b;
  }
  return 0;
}

int pf_journal_decode(const unsigned char *buf, size_t len, pf_journal_view *out) {
  if (len < HEADER || memcmp(buf, MAGIC, 8) != 0)
    return -1;
  rbuf h = {buf + 8, 12, 0, 0};
  uint32_t version = (uint32_t)get_le(&h, 4);
  uint32_t crc = (uint32_t)get_le(&h, 4);
  uint32_t plen = (uint32_t)get_le(&h, 4);
  if ((version != 1 && version != PF_JOURNAL_VERSION) || plen > len - HEADER ||
      pf_crc32(buf + HEADER, plen) != crc)
    return -1;
  rbuf r = {buf + HEADER, plen, 0, 0};
  out->seq = get_le(&r, 8);
  out->size = get_le(&r, 8);
  out->url = get_str(&r);
  out->etag = get_str(&r);
  out->last_modified = get_str(&r);
  out->boot = (pf_journal_str){"", 0};
  if (version >= 2)
    out->boot = get_str(&r);
  if (r.bad || get_list(&r, buf + HEADER, out->size, &out->durable) != 0)
    return -1;
  if (version == 1) { /* flushed before it was recorded: all of it durable */
    out->written = out->durable;
    return 0;
  }
  return get_list(&r, buf + HEADER, out->size, &out->written);
}

int pf_journal_str_is(pf_journal_str v, const char *s) {
  size_t n = s ? strlen(s) : 0;
  return v.len == n && (n == 0 || memcmp(v.p, s, n) == 0);
}

void pf_journal_range(const pf_journal_list *l, uint32_t i, uint64_t *start, uint64_t *end) {
  rbuf r = {l->p, (size_t)l->n * 16, (size_t)i * 16, 0};
  *start = get_le(&r, 8);
  *end = get_le(&r, 8);
}
