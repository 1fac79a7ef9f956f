/* fuzz_apt_msg.c - the apt method's message reader and writer
 * (host-shim/apt/apt_msg.c) on bytes apt (or anything on our stdin) sends.
 * The first byte seeds the feed sizes; the rest is the stream, fed in pieces
 * of 1..64 bytes with apt_reader_next() drained after each (limit 512 bytes
 * a message), and fed again in one piece.
 * Promises checked: the same messages and errors whatever the split; code
 * 0..999; names not empty, without ':', '\n' or a leading space; text and
 * values without '\n' in the text; every error message non-empty; and a
 * message written back by apt_out reads back as one message with the same
 * code and fields (after the writer's sanitising: control bytes as spaces,
 * white space at a value's ends gone, as LookupTag drops it). */
#include <string.h>

#include "apt/apt_msg.h"
#include "fuzz.h"

#define MAXMSG 512
#define MAXRES 256

struct result {
  int rc; /* 1 message, -1 error */
  struct apt_msg m;
  char err[160];
};

static size_t drain(struct apt_reader *r, struct result *res, size_t n) {
  for (;;) {
    struct result x = {0};
    int rc = apt_reader_next(r, &x.m, x.err, sizeof x.err);
    if (rc == 0)
      return n;
    fuzz_assert(rc == 1 || rc == -1);
    x.rc = rc;
    if (rc == -1)
      fuzz_assert(x.err[0] != '\0');
    if (n < MAXRES)
      res[n++] = x;
    else
      apt_msg_free(&x.m);
  }
}

static int is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* What the writer makes of s and the reader then keeps. */
static char *norm(const char *s, int is_name, int trim_lead) {
  size_t n = strlen(s);
  char *o = malloc(n + 2);
  if (!o)
    abort();
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (is_name)
      o[i] = c < 0x20 || c == 0x7f || c == ':' || (i == 0 && c == ' ') ? '-' : (char)c;
    else
      o[i] = (c < 0x20 && c != '\t') || c == 0x7f ? ' ' : (char)c;
  }
  o[n] = '\0';
  if (is_name) {
    if (n == 0)
      memcpy(o, "-", 2);
    return o;
  }
  size_t a = 0, e = n;
  if (trim_lead)
    while (a < e && is_ws(o[a]))
      a++;
  while (e > a && is_ws(o[e - 1]))
    e--;
  memmove(o, o + a, e - a);
  o[e - a] = '\0';
  if (trim_lead && strcmp(o, ".") == 0)
    o[0] = '\0';
  return o;
}

static void check_roundtrip(const struct apt_msg *m) {
  struct apt_out *o = apt_out_new(m->code, m->text);
  fuzz_assert(o != NULL);
  for (size_t i = 0; i < m->nfields; i++)
    apt_out_add(o, m->fields[i].name, m->fields[i].value);
  size_t len = 0;
  char *s = apt_out_finish(o, &len);
  fuzz_assert(s != NULL && len == strlen(s));
  struct apt_reader *r = apt_reader_new(len + 1);
  fuzz_assert(r != NULL);
  fuzz_assert(apt_reader_feed(r, s, len) == 0);
  struct apt_msg back;
  char err[160];
  int rc = apt_reader_next(r, &back, err, sizeof err);
  if (rc != 1)
    fuzz_fail("written message does not read back (%d: %s):\n%s", rc, err, s);
  fuzz_assert(back.code == m->code);
  char *t = norm(m->text, 0, 0);
  fuzz_assert(strcmp(back.text, t) == 0);
  free(t);
  fuzz_assert(back.nfields == m->nfields);
  for (size_t i = 0; i < m->nfields; i++) {
    char *nm = norm(m->fields[i].name, 1, 0), *v = norm(m->fields[i].value, 0, 1);
    if (strcmp(back.fields[i].name, nm) != 0 || strcmp(back.fields[i].value, v) != 0)
      fuzz_fail("field %zu reads back as '%s: %s', want '%s: %s'", i, back.fields[i].name,
                back.fields[i].value, nm, v);
    free(nm);
    free(v);
  }
  struct apt_msg extra;
  fuzz_assert(apt_reader_next(r, &extra, err, sizeof err) == 0);
  fuzz_assert(apt_reader_eof(r, err, sizeof err) == 0);
  apt_msg_free(&back);
  apt_reader_free(r);
  free(s);
}

static void check_msg(const struct apt_msg *m) {
  fuzz_assert(m->code >= 0 && m->code <= 999);
  fuzz_assert(m->text && !strchr(m->text, '\n'));
  for (size_t i = 0; i < m->nfields; i++) {
    const char *n = m->fields[i].name, *v = m->fields[i].value;
    fuzz_assert(n && n[0] && n[0] != ' ' && !strchr(n, ':') && !strchr(n, '\n'));
    fuzz_assert(v);
    size_t vl = strlen(v);
    fuzz_assert(vl == 0 || v[vl - 1] != '\n');
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  unsigned seed = data[0];
  const char *in = (const char *)data + 1;
  size_t len = size - 1;

  struct result *a = calloc(MAXRES, sizeof *a), *b = calloc(MAXRES, sizeof *b);
  fuzz_assert(a && b);
  struct apt_reader *r = apt_reader_new(MAXMSG);
  fuzz_assert(r != NULL);
  size_t na = 0, nb = 0;
  for (size_t off = 0; off < len;) {
    seed = seed * 1103515245u + 12345u;
    size_t piece = 1 + (seed >> 16) % 64;
    if (piece > len - off)
      piece = len - off;
    fuzz_assert(apt_reader_feed(r, in + off, piece) == 0);
    off += piece;
    na = drain(r, a, na);
  }
  char ea[160], eb[160];
  int eofa = apt_reader_eof(r, ea, sizeof ea);
  apt_reader_free(r);

  r = apt_reader_new(MAXMSG);
  fuzz_assert(r != NULL);
  fuzz_assert(apt_reader_feed(r, in, len) == 0);
  nb = drain(r, b, 0);
  int eofb = apt_reader_eof(r, eb, sizeof eb);
  apt_reader_free(r);

  fuzz_assert(na == nb);
  fuzz_assert(eofa == eofb);
  if (eofa)
    fuzz_assert(strcmp(ea, eb) == 0);
  for (size_t i = 0; i < na; i++) {
    fuzz_assert(a[i].rc == b[i].rc);
    if (a[i].rc == -1) {
      if (strcmp(a[i].err, b[i].err) != 0)
        fuzz_fail("result %zu: error '%s' in pieces, '%s' in one", i, a[i].err, b[i].err);
      continue;
    }
    const struct apt_msg *x = &a[i].m, *y = &b[i].m;
    fuzz_assert(x->code == y->code && strcmp(x->text, y->text) == 0);
    fuzz_assert(x->nfields == y->nfields);
    for (size_t f = 0; f < x->nfields; f++)
      fuzz_assert(strcmp(x->fields[f].name, y->fields[f].name) == 0 &&
                  strcmp(x->fields[f].value, y->fields[f].value) == 0);
    check_msg(x);
    check_roundtrip(x);
    /* the first match, case-insensitively */
    if (x->nfields)
      fuzz_assert(apt_msg_get(x, x->fields[0].name) == x->fields[0].value);
  }
  for (size_t i = 0; i < na; i++)
    apt_msg_free(&a[i].m);
  for (size_t i = 0; i < nb; i++)
    apt_msg_free(&b[i].m);
  free(a);
  free(b);
  return 0;
}
