/*
 * text.c - pf_text_clean: what every line leaving the plugin (pf_fail's
 * message, pf_log's line) and every line of the CLI host passes through
 * before a host or a terminal sees it. Server-supplied strings (ETag,
 * Location, status text, error bodies) reach messages verbatim, and a URL
 * may carry a password: here control characters are escaped and URL
 * passwords redacted, in one place.
 *
 * Pure: no allocation, no I/O, no global state; any thread. Unit-tested in
 * tests/unit/test_text.c, fuzzed by tests/fuzz/fuzz_text.c.
 */
#include <stdio.h>
#include <string.h>

#include "text.h"

typedef struct out {
  char *p;
  size_t len, cap; /* cap counts the NUL */
  int full;        /* a unit did not fit: nothing more is written */
} out;

/* Write a unit whole or not at all (and then nothing after it). */
static void put(out *o, const char *s, size_t n) {
  if (o->full)
    return;
  if (o->len + n >= o->cap) {
    o->full = 1;
    return;
  }
  memcpy(o->p + o->len, s, n);
  o->len += n;
}

static void put_hex(out *o, unsigned char c) {
  static const char hex[] = "0123456789abcdef";
  char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
  put(o, e, 4);
}

/* Length of the valid UTF-8 sequence at p (n bytes left) that is not a C1
 * control, or 0 if the byte at p must be escaped. p[0] >= 0x80. */
static size_t utf8_len(const unsigned char *p, size_t n) {
  unsigned char c = p[0];
  size_t need;
  unsigned char lo = 0x80, hi = 0xbf; /* bounds of the second byte */
  if (c >= 0xc2 && c <= 0xdf)
    need = 2;
  else if (c >= 0xe0 && c <= 0xef)
    need = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
  else if (c >= 0xf0 && c <= 0xf4)
    need = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
  else
    return 0;
  if (n < need || p[1] < lo || p[1] > hi)
    return 0;
  for (size_t i = 2; i < need; i++)
    if (p[i] < 0x80 || p[i] > 0xbf)
      return 0;
  if (c == 0xc2 && p[1] <= 0x9f)
    return 0; /* U+0080..U+009F: C1 controls (CSI = U+009B) */
  return need;
}

/* Copy in[*i] (one character or one escaped byte) and advance *i. */
static void put_char(out *o, const unsigned char *in, size_t len, size_t *i) {
  unsigned char c = in[*i];
  if (c >= 0x20 && c < 0x7f) {
    put(o, (const char *)&c, 1);
    *i += 1;
  } else if (c == '\n' || c == '\r' || c == '\t') {
    char e[2] = {'\\', c == '\n' ? 'n' : c == '\r' ? 'r' : 't'};
    put(o, e, 2);
    *i += 1;
  } else if (c >= 0x80) {
    size_t n = utf8_len(in + *i, len - *i);
    if (n)
      put(o, (const char *)in + *i, n);
    else
      put_hex(o, c);
    *i += n ? n : 1;
  } else {
    put_hex(o, c);
    *i += 1;
  }
}

/* An authority without '@' that runs to the end of the text: a line cut
 * (to a buffer, before it was cleaned) may end inside a password, before
 * its '@'. After the host ("[v6]" or up to the first ':'), nothing or a
 * port (digits) is shown; anything else from that ':' on is taken for a
 * password. in[a, end) is the authority. */
static int cut_password(const unsigned char *in, size_t a, size_t end, size_t *pw, size_t *at) {
  size_t k = a;
  if (k < end && in[k] == '[') {
    while (k < end && in[k] != ']')
      k++;
    if (k == end)
      return 0; /* "[" and no ':' of a userinfo can come before it */
    k++;
  } else {
    while (k < end && in[k] != ':')
      k++;
  }
  if (k == end || in[k] != ':')
    return 0;
  size_t colon = k;
  for (k = colon + 1; k < end && in[k] >= '0' && in[k] <= '9'; k++)
    ;
  if (k == end)
    return 0; /* a port, or nothing */
  *pw = colon + 1;
  *at = end;
  return 1;
}

/* At "://" (in[i]): where the password of its userinfo starts and where the
 * userinfo's '@' is, if the authority has a userinfo with a ':'. The
 * authority ends at '/', '?', '#' (RFC 3986, as curl parses it), a space or
 * the end; its userinfo is what precedes its last '@'. Control bytes do not
 * end it: escaping them adds none of those delimiters, so the redaction of
 * the cleaned text is the same (cleaning is idempotent) and a byte cannot
 * hide a password from it. */
static int find_password(const unsigned char *in, size_t len, size_t i, size_t *pw, size_t *at) {
  size_t a = i + 3, end = a;
  while (end < len && in[end] != '/' && in[end] != '?' && in[end] != '#' && in[end] != ' ')
    end++;
  size_t last_at = end;
  for (size_t k = a; k < end; k++)
    if (in[k] == '@')
      last_at = k;
  if (last_at == end)
    return end == len && cut_password(in, a, end, pw, at);
  for (size_t k = a; k < last_at; k++) {
    if (in[k] == ':') {
      *pw = k + 1;
      *at = last_at;
      return 1;
    }
  }
  return 0; /* user only: nothing secret */
}

size_t pf_text_clean(char *dst, size_t cap, const char *src, size_t len) {
  if (cap == 0)
    return 0;
  const unsigned char *in = (const unsigned char *)src;
  out o = {dst, 0, cap, 0};
  size_t i = 0;
  while (i < len && !o.full) {
    size_t pw, at;
    if (in[i] == ':' && i + 2 < len && in[i + 1] == '/' && in[i + 2] == '/' &&
        find_password(in, len, i, &pw, &at)) {
      while (i < pw && !o.full) /* "://user:" */
        put_char(&o, in, len, &i);
      put(&o, PF_TEXT_REDACTED, sizeof PF_TEXT_REDACTED - 1);
      i = at; /* on at '@' */
      continue;
    }
    put_char(&o, in, len, &i);
  }
  dst[o.len] = '\0';
  return o.len;
}

size_t pf_text_vformat(char *dst, size_t cap, const char *fmt, va_list ap) {
  char raw[4096];
  int n = vsnprintf(raw, sizeof raw, fmt, ap);
  size_t len = n < 0 ? 0 : (size_t)n < sizeof raw ? (size_t)n : sizeof raw - 1;
  return pf_text_clean(dst, cap, raw, len);
}
