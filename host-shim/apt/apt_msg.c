/*
 * apt_msg.c - apt's method protocol framing: the reader of apt's messages,
 * the builder of ours, and %-quoting (rules in apt_msg.h).
 *
 * Owns: a reader's buffer (bytes fed and not yet consumed) and the messages
 * it hands out until the caller frees them; a builder's buffer.
 * Threads: none; the caller's thread. No globals.
 */
#include "apt_msg.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared helpers ---- */

static int lower(int c) {
  return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

int apt_ncasecmp(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int ca = lower((unsigned char)a[i]), cb = lower((unsigned char)b[i]);
    if (ca != cb || ca == 0)
      return ca - cb;
  }
  return 0;
}

int apt_casecmp(const char *a, const char *b) {
  return apt_ncasecmp(a, b, SIZE_MAX);
}


int apt_next_line(const char *b, size_t n, size_t *pos, const char **line, size_t *len) {
  if (*pos >= n)
    return 0;
  const char *nl = memchr(b + *pos, '\n', n - *pos);
  size_t end = nl ? (size_t)(nl - b) : n;
  *line = b + *pos;
  *len = end - *pos;
  *pos = nl ? end + 1 : n;
  return 1;
}

int apt_grow(void *pp, size_t *cap, size_t n, size_t size) {
  if (n < *cap)
    return 0;
  size_t nc = *cap ? *cap * 2 : 8;
  if (nc < *cap || nc > SIZE_MAX / size)
    return -1;
  void *p = realloc(*(void **)pp, nc * size);
  if (!p)
    return -1;
  *(void **)pp = p;
  *cap = nc;
  return 0;
}

/* apt's isspace_ascii without '\n': what LookupTag skips around a value. */
static int is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* A growable byte string; oom sticks. */
struct sbuf {
  char *p;
  size_t len, cap;
  int oom;
};

static int sb_reserve(struct sbuf *b, size_t more) {
  if (b->oom)
    return -1;
  if (more > SIZE_MAX - b->len - 1) {
    b->oom = 1;
    return -1;
  }
  if (b->len + more + 1 <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->len + more + 1)
    cap = cap > SIZE_MAX / 2 ? b->len + more + 1 : cap * 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

static void sb_add(struct sbuf *b, const char *s, size_t n) {
  if (sb_reserve(b, n) < 0)
    return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

/* ---- messages ---- */

const char *apt_msg_get(const struct apt_msg *m, const char *name) {
  if (!m || !name)
    return NULL;
  for (size_t i = 0; i < m->nfields; i++)
    if (apt_casecmp(m->fields[i].name, name) == 0)
      return m->fields[i].value;
  return NULL;
}

void apt_msg_free(struct apt_msg *m) {
  if (!m)
    return;
  for (size_t i = 0; i < m->nfields; i++) {
    free(m->fields[i].name);
    free(m->fields[i].value);
  }
  free(m->fields);
  free(m->text);
  memset(m, 0, sizeof *m);
}

/* ---- reader ---- */

struct apt_reader {
  char *buf;
  size_t len, cap;
  size_t off;  /* first byte not consumed */
  size_t scan; /* bytes from off already seen to hold no blank line (a line start) */
  size_t max;
  /* Dropping an over-long message up to its blank line: */
  int dropping;
  size_t dline_len; /* bytes of the current line seen so far */
  int dline_cr;     /* its first byte was '\r' */
};

struct apt_reader *apt_reader_new(size_t max_msg) {
  struct apt_reader *r = calloc(1, sizeof *r);
  if (r)
    r->max = max_msg;
  return r;
}

void apt_reader_free(struct apt_reader *r) {
  if (!r)
    return;
  free(r->buf);
  free(r);
}

int apt_reader_feed(struct apt_reader *r, const char *buf, size_t len) {
  if (len == 0)
    return 0;
  if (r->off > 0) { /* compact: consumed bytes go */
    memmove(r->buf, r->buf + r->off, r->len - r->off);
    r->len -= r->off;
    r->off = 0;
  }
  if (len > SIZE_MAX - r->len)
    return -1;
  if (r->len + len > r->cap) {
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < r->len + len)
      cap = cap > SIZE_MAX / 2 ? r->len + len : cap * 2;
    char *p = realloc(r->buf, cap);
    if (!p)
      return -1;
    r->buf = p;
    r->cap = cap;
  }
  memcpy(r->buf + r->len, buf, len);
  r->len += len;
  return 0;
}

/* Skip an over-long message's bytes up to and including its blank line.
 * Returns 1 when the blank line was found, 0 when all bytes are consumed. */
static int drop_bytes(struct apt_reader *r) {
  while (r->off < r->len) {
    char c = r->buf[r->off++];
    if (c == '\n') {
      if (r->dline_len == 0 || (r->dline_len == 1 && r->dline_cr)) {
        r->dropping = 0;
        return 1;
      }
      r->dline_len = 0;
      r->dline_cr = 0;
    } else {
      if (r->dline_len == 0 && c == '\r')
        r->dline_cr = 1;
      r->dline_len++;
    }
  }
  return 0;
}

static int is_blank(const char *line, size_t n) {
  return n == 0 || (n == 1 && line[0] == '\r');
}

/* Add one field (name, first-line value) to m. -1 OOM. */
static int add_field(struct apt_msg *m, size_t *cap, const char *name, size_t nlen, const char *val,
                     size_t vlen) {
  if (apt_grow(&m->fields, cap, m->nfields, sizeof *m->fields) < 0)
    return -1;
  char *n = strndup(name, nlen), *v = strndup(val, vlen);
  if (!n || !v) {
    free(n);
    free(v);
    return -1;
  }
  m->fields[m->nfields].name = n;
  m->fields[m->nfields].value = v;
  m->nfields++;
  return 0;
}

/* Strip trailing '\n's from a value (LookupTag's last step). */
static void strip_nl(char *v) {
  size_t n = strlen(v);
  while (n > 0 && v[n - 1] == '\n')
    v[--n] = '\0';
}

/* Append a continuation line to the last field's value, as LookupTag: joined
 * with "\n", except right after an empty first line (first_empty), where
 * it is the first line; a line "." adds nothing but the join. -1 OOM. */
static int add_continuation(struct apt_field *f, int first_empty, const char *s, size_t n) {
  size_t old = strlen(f->value);
  int dot = n == 1 && s[0] == '.', join = !first_empty;
  size_t add = (size_t)join + (dot ? 0 : n);
  char *v = realloc(f->value, old + add + 1);
  if (!v)
    return -1;
  if (join)
    v[old] = '\n';
  if (!dot)
    memcpy(v + old + (size_t)join, s, n);
  v[old + add] = '\0';
  f->value = v;
  return 0;
}

/* Parse one message's bytes (its lines, without the blank line). 1 ok, -1
 * malformed (err), -2 OOM. */
static int parse_msg(const char *b, size_t n, struct apt_msg *out, char *err, size_t errlen) {
  struct apt_msg m = {0};
  size_t cap = 0;
  if (memchr(b, '\0', n)) {
    size_t at = (size_t)((const char *)memchr(b, '\0', n) - b), line = 1;
    for (size_t i = 0; i < at; i++)
      line += b[i] == '\n';
    apt_err(err, errlen, "line %zu: NUL byte", line);
    return -1;
  }
  size_t pos = 0, lineno = 0;
  int first_empty = 0; /* the last field's first line was empty */
  const char *s;
  size_t len;
  while (apt_next_line(b, n, &pos, &s, &len)) {
    lineno++;
    size_t raw = len; /* with a "\r" before the "\n" */
    if (len > 0 && s[len - 1] == '\r')
      len--;
    if (lineno == 1) {
      if (len < 3 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] < '0' ||
          s[2] > '9' || (len > 3 && s[3] != ' ')) {
        apt_err(err, errlen, "line 1: expected 'NNN text'");
        goto bad;
      }
      m.code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
      size_t t = len > 3 ? 4 : 3, e = len;
      while (e > t && is_ws(s[e - 1]))
        e--;
      m.text = strndup(s + t, e - t);
      if (!m.text)
        goto oom;
      continue;
    }
    if (len > 0 && s[0] == ' ') { /* continuation of the value before */
      if (m.nfields == 0) {
        apt_err(err, errlen, "line %zu: continuation line before any field", lineno);
        goto bad;
      }
      /* LookupTag trims the line's end but never its first byte */
      size_t a = 1, e = raw;
      while (e > a + 1 && is_ws(s[e - 1]))
        e--;
      if (add_continuation(&m.fields[m.nfields - 1], first_empty, s + a, e - a) < 0)
        goto oom;
      first_empty = 0;
      continue;
    }
    const char *colon = memchr(s, ':', len);
    if (!colon) {
      apt_err(err, errlen, "line %zu: field without ':'", lineno);
      goto bad;
    }
    size_t nlen = (size_t)(colon - s);
    if (nlen == 0) {
      apt_err(err, errlen, "line %zu: field with an empty name", lineno);
      goto bad;
    }
    size_t a = nlen + 1, e = len;
    while (a < e && is_ws(s[a]))
      a++;
    while (e > a && is_ws(s[e - 1]))
      e--;
    first_empty = a == e;          /* then a continuation line is the first line */
    if (e - a == 1 && s[a] == '.') /* LookupTag drops a line "." */
      a = e;
    if (add_field(&m, &cap, s, nlen, s + a, e - a) < 0)
      goto oom;
  }
  if (lineno == 0) { /* cannot happen: blank lines were skipped */
    apt_err(err, errlen, "line 1: expected 'NNN text'");
    goto bad;
  }
  for (size_t i = 0; i < m.nfields; i++)
    strip_nl(m.fields[i].value);
  *out = m;
  return 1;
bad:
  apt_msg_free(&m);
  return -1;
oom:
  apt_msg_free(&m);
  apt_err(err, errlen, "out of memory");
  return -2;
}

int apt_reader_next(struct apt_reader *r, struct apt_msg *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  for (;;) {
    if (r->dropping && !drop_bytes(r))
      return 0;
    /* Blank lines before a message. */
    if (r->scan == 0) {
      while (r->off < r->len) {
        if (r->buf[r->off] == '\n')
          r->off++;
        else if (r->buf[r->off] == '\r' && r->off + 1 < r->len && r->buf[r->off + 1] == '\n')
          r->off += 2;
        else
          break;
      }
      if (r->off == r->len || (r->off + 1 == r->len && r->buf[r->off] == '\r'))
        return 0;
    }
    /* Look for the blank line ending the message. */
    size_t p = r->off + r->scan;
    for (;;) {
      const char *nl = memchr(r->buf + p, '\n', r->len - p);
      if (!nl) {
        size_t tail = r->len - p;
        if (r->len - r->off > r->max && !(tail == 1 && r->buf[p] == '\r')) {
          apt_err(err, errlen, "message over %zu bytes", r->max);
          r->dropping = 1;
          r->dline_len = tail;
          r->dline_cr = tail > 0 && r->buf[p] == '\r';
          r->off = r->len;
          r->scan = 0;
          return -1;
        }
        r->scan = p - r->off;
        return 0;
      }
      size_t end = (size_t)(nl - r->buf);
      if (is_blank(r->buf + p, end - p))
        break;
      p = end + 1;
      if (p - r->off > r->max) {
        apt_err(err, errlen, "message over %zu bytes", r->max);
        r->dropping = 1;
        r->dline_len = 0;
        r->dline_cr = 0;
        r->off = p;
        r->scan = 0;
        return -1;
      }
    }
    /* The message is [off, p); its blank line ends at the '\n' after p. */
    const char *nl = memchr(r->buf + p, '\n', r->len - p);
    size_t next = (size_t)(nl - r->buf) + 1;
    int rc = parse_msg(r->buf + r->off, p - r->off, out, err, errlen);
    if (rc == -2)
      return -2;
    r->off = next;
    r->scan = 0;
    return rc;
  }
}

int apt_reader_eof(struct apt_reader *r, char *err, size_t errlen) {
  if (r->dropping)
    return 0; /* already reported as over-long */
  size_t pending = 0;
  for (size_t i = r->off; i < r->len; i++)
    if (r->buf[i] != '\n' && r->buf[i] != '\r') {
      pending = r->len - r->off;
      break;
    }
  if (pending == 0)
    return 0;
  apt_err(err, errlen,
          "input ended inside a message (%zu bytes without the blank line that ends it)", pending);
  r->off = r->len;
  r->scan = 0;
  return 1;
}

/* ---- builder ---- */

struct apt_out {
  struct sbuf b;
};

/* Append s with every control byte but TAB (and DEL) as a space. */
static void add_clean_value(struct sbuf *b, const char *s) {
  size_t n = strlen(s);
  if (sb_reserve(b, n) < 0)
    return;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    b->p[b->len++] = (c < 0x20 && c != '\t') || c == 0x7f ? ' ' : (char)c;
  }
  b->p[b->len] = '\0';
}

/* Append a field name: control bytes, ':' and a leading space as '-'. */
static void add_clean_name(struct sbuf *b, const char *s) {
  size_t n = strlen(s);
  if (n == 0) {
    sb_add(b, "-", 1);
    return;
  }
  if (sb_reserve(b, n) < 0)
    return;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    int bad = c < 0x20 || c == 0x7f || c == ':' || (i == 0 && c == ' ');
    b->p[b->len++] = bad ? '-' : (char)c;
  }
  b->p[b->len] = '\0';
}

struct apt_out *apt_out_new(int code, const char *text) {
  struct apt_out *o = calloc(1, sizeof *o);
  if (!o)
    return NULL;
  char num[8];
  snprintf(num, sizeof num, "%03d", code < 0 || code > 999 ? 0 : code);
  sb_add(&o->b, num, 3);
  if (text && *text) {
    sb_add(&o->b, " ", 1);
    add_clean_value(&o->b, text);
  }
  sb_add(&o->b, "\n", 1);
  return o;
}

void apt_out_add(struct apt_out *o, const char *name, const char *value) {
  if (!o || !name || !value)
    return;
  add_clean_name(&o->b, name);
  sb_add(&o->b, ": ", 2);
  add_clean_value(&o->b, value);
  sb_add(&o->b, "\n", 1);
}

void apt_out_addf(struct apt_out *o, const char *name, const char *fmt, ...) {
  if (!o || !name || !fmt)
    return;
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  int n = vasprintf(&s, fmt, ap);
  va_end(ap);
  if (n < 0) {
    o->b.oom = 1;
    return;
  }
  apt_out_add(o, name, s);
  free(s);
}

char *apt_out_finish(struct apt_out *o, size_t *len) {
  if (!o)
    return NULL;
  sb_add(&o->b, "\n", 1);
  char *p = o->b.oom ? NULL : o->b.p;
  if (!p)
    free(o->b.p);
  else if (len)
    *len = o->b.len;
  free(o);
  return p;
}

/* ---- quoting ---- */

char *apt_dequote(const char *s) {
  if (!s)
    return NULL;
  size_t n = strlen(s);
  char *out = malloc(n + 1), *o = out;
  if (!out)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    /* DeQuoteString: '%' and two hex digits, "I + 2 < end". */
    if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
        isxdigit((unsigned char)s[i + 2])) {
      char hex[3] = {s[i + 1], s[i + 2], '\0'};
      *o++ = (char)strtol(hex, NULL, 16);
      i += 2;
    } else {
      *o++ = s[i];
    }
  }
  *o = '\0';
  return out;
}

char *apt_quote(const char *s, const char *bad) {
  if (!s)
    return NULL;
  if (!bad)
    bad = "";
  struct sbuf b = {0};
  sb_add(&b, "", 0);
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (strchr(bad, c) || c == '%' || c <= 0x20 || c >= 0x7f) {
      char hex[4];
      snprintf(hex, sizeof hex, "%%%02x", c);
      sb_add(&b, hex, 3);
    } else {
      sb_add(&b, p, 1);
    }
  }
  if (b.oom) {
    free(b.p);
    return NULL;
  }
  return b.p;
}
