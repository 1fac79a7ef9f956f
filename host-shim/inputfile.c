/*
 * inputfile.c - the `parfetch -i` list parser, the checksum spelling and
 * the relative-path rule for names from untrusted text (see inputfile.h).
 * Pure: no I/O, no global state; any thread. Fuzzed by
 * tests/fuzz/fuzz_inputfile.c, unit-tested in tests/unit/test_inputfile.c.
 */
#include "inputfile.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char *pfh_checksum_normalise(const char *spec, int allow_unknown, char *why, size_t whylen,
                             size_t *at) {
  static const struct {
    const char *name;  /* ours */
    const char *alias; /* aria2c's */
    size_t hexlen;
  } algos[] = {{"md5", "md5", 32},
               {"sha1", "sha-1", 40},
               {"sha256", "sha-256", 64},
               {"sha512", "sha-512", 128}};
  size_t dummy;
  if (!at)
    at = &dummy;
  *at = 0;
  /* The hex digest follows the last '=': aria2c's names have none. */
  const char *eq = strrchr(spec, '=');
  if (!eq || eq == spec) {
    snprintf(why, whylen, "expected ALGO=HEX, e.g. sha256=<64 hex digits>");
    return NULL;
  }
  size_t alen = (size_t)(eq - spec);
  for (size_t i = 0; i < alen; i++) {
    char c = spec[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_')) {
      snprintf(why, whylen, "bad algorithm name '%.*s'", (int)alen, spec);
      return NULL;
    }
  }
  const char *hex = eq + 1;
  size_t hlen = strlen(hex);
  for (size_t i = 0; i < hlen; i++) {
    if (!is_hex(hex[i])) {
      snprintf(why, whylen, "'%s' is not a hex digest", hex);
      *at = (size_t)(hex - spec);
      return NULL;
    }
  }
  const char *ours = NULL;
  for (size_t i = 0; i < sizeof algos / sizeof algos[0] && !ours; i++) {
    const char *names[2] = {algos[i].name, algos[i].alias};
    for (size_t k = 0; k < 2 && !ours; k++) {
      if (strlen(names[k]) != alen || strncasecmp(spec, names[k], alen) != 0)
        continue;
      if (hlen != algos[i].hexlen) {
        snprintf(why, whylen, "a %s digest has %zu hex digits, not %zu", algos[i].name,
                 algos[i].hexlen, hlen);
        return NULL;
      }
      ours = algos[i].name;
    }
  }
  if (!ours) {
    if (!allow_unknown) {
      snprintf(why, whylen, "unknown algorithm '%.*s' (expected sha-1, sha-256, sha-512 or md5)",
               (int)alen, spec);
      return NULL;
    }
    if (hlen == 0 || hlen % 2) {
      snprintf(why, whylen, "the digest needs an even, non-zero number of hex digits");
      *at = (size_t)(hex - spec);
      return NULL;
    }
  }
  size_t olen = ours ? strlen(ours) : alen;
  char *out = malloc(olen + 1 + hlen + 1);
  if (!out) {
    snprintf(why, whylen, "out of memory");
    return NULL;
  }
  memcpy(out, ours ? ours : spec, olen);
  out[olen] = '=';
  memcpy(out + olen + 1, hex, hlen + 1);
  return out;
}

int pfh_check_relative_path(const char *path, char *why, size_t whylen) {
  if (!*path) {
    snprintf(why, whylen, "the name is empty");
    return -1;
  }
  if (path[0] == '/') {
    snprintf(why, whylen, "'%s' is an absolute path", path);
    return -1;
  }
  if (strcmp(path, ".") == 0) {
    snprintf(why, whylen, "the name is '.'");
    return -1;
  }
  for (const char *p = path; *p; p++) {
    if ((unsigned char)*p < 0x20 || *p == 0x7f) {
      snprintf(why, whylen, "the name holds a control character");
      return -1;
    }
  }
  for (const char *c = path; *c;) {
    size_t n = strcspn(c, "/");
    if (n == 2 && c[0] == '.' && c[1] == '.') {
      snprintf(why, whylen, "'%s' holds a '..' component", path);
      return -1;
    }
    c += n;
    if (*c == '/')
      c++;
  }
  return 0;
}

/* --- the list ------------------------------------------------------------- */

struct parser {
  const char *name;
  char *err;
  size_t errlen;
  pfh_input *in;
};

static int fail(struct parser *p, unsigned line, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct parser *p, unsigned line, size_t col, const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  snprintf(p->err, p->errlen, "%s:%u:%zu: %s", p->name, line, col, what);
  return -1;
}

static void item_free(pfh_input_item *it) {
  for (size_t i = 0; i < it->nurls; i++)
    free(it->urls[i]);
  free(it->urls);
  free(it->out);
  free(it->dir);
  free(it->checksum);
}

void pfh_input_free(pfh_input *in) {
  for (size_t i = 0; i < in->count; i++)
    item_free(&in->items[i]);
  free(in->items);
  in->items = NULL;
  in->count = 0;
}

static int oom(struct parser *p) {
  snprintf(p->err, p->errlen, "out of memory");
  return -1;
}

/* A URL line: TAB-separated URLs, none with a space or control byte. */
static int url_line(struct parser *p, const char *s, size_t n, unsigned line) {
  pfh_input *in = p->in;
  pfh_input_item *grown = realloc(in->items, (in->count + 1) * sizeof *grown);
  if (!grown)
    return oom(p);
  in->items = grown;
  pfh_input_item *it = &in->items[in->count++];
  memset(it, 0, sizeof *it);
  it->line = line;
  size_t i = 0;
  while (i < n) {
    if (s[i] == '\t') {
      i++;
      continue;
    }
    size_t start = i;
    while (i < n && s[i] != '\t') {
      unsigned char c = (unsigned char)s[i];
      if (c <= 0x20 || c == 0x7f)
        return fail(p, line, i + 1,
                    "a URL cannot hold %s (byte 0x%02x); expected URLs separated by TABs",
                    c == ' ' ? "a space" : "a control character", c);
      i++;
    }
    char **urls = realloc(it->urls, (it->nurls + 2) * sizeof *urls);
    if (!urls)
      return oom(p);
    it->urls = urls;
    if (!(urls[it->nurls] = strndup(s + start, i - start)))
      return oom(p);
    urls[++it->nurls] = NULL;
  }
  return 0; /* at least one URL: the line is not blank and starts with none of " \t" */
}

/* An option line for the last object: NAME=VALUE at column col. */
static int option_line(struct parser *p, const char *s, size_t n, unsigned line, size_t col) {
  if (p->in->count == 0)
    return fail(p, line, col, "an option line (indented) before any URL; expected a URL first");
  pfh_input_item *it = &p->in->items[p->in->count - 1];
  const char *eq = memchr(s, '=', n);
  size_t klen = eq ? (size_t)(eq - s) : n;
  for (size_t i = 0; i < klen; i++)
    if (s[i] == ' ' || s[i] == '\t' || (unsigned char)s[i] < 0x20)
      return fail(p, line, col + i, "expected NAME=VALUE (out=, dir= or checksum=)");
  char **slot = NULL;
  if (klen == 3 && memcmp(s, "out", 3) == 0)
    slot = &it->out;
  else if (klen == 3 && memcmp(s, "dir", 3) == 0)
    slot = &it->dir;
  else if (klen == 8 && memcmp(s, "checksum", 8) == 0)
    slot = &it->checksum;
  if (!eq && !slot)
    return fail(p, line, col, "expected NAME=VALUE (out=, dir= or checksum=)");
  if (!slot)
    return fail(p, line, col, "unknown option '%.*s'; expected out=, dir= or checksum=",
                (int)(klen > 64 ? 64 : klen), s);
  if (!eq || klen + 1 == n)
    return fail(p, line, col + klen + (eq ? 1 : 0), "expected a value after '%.*s='", (int)klen, s);
  if (*slot)
    return fail(p, line, col, "%.*s= given twice for the object of line %u", (int)klen, s, it->line);
  const char *v = eq + 1;
  size_t vlen = n - klen - 1;
  size_t vcol = col + klen + 1;
  for (size_t i = 0; i < vlen; i++)
    if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
      return fail(p, line, vcol + i, "a control character (byte 0x%02x) in the value",
                  (unsigned char)v[i]);
  char *value = strndup(v, vlen);
  if (!value)
    return oom(p);
  char why[300];
  if (slot == &it->checksum) {
    size_t at = 0;
    char *norm = pfh_checksum_normalise(value, 0, why, sizeof why, &at);
    free(value);
    if (!norm)
      return fail(p, line, vcol + at, "checksum=%s", why);
    *slot = norm;
    return 0;
  }
  if (pfh_check_relative_path(value, why, sizeof why) != 0) {
    free(value);
    return fail(p, line, vcol, "%.*s=: %s; expected a relative path", (int)klen, s, why);
  }
  *slot = value;
  return 0;
}

int pfh_input_parse(const char *text, size_t len, const char *name, pfh_input *in, char *err,
                    size_t errlen) {
  struct parser p = {.name = name, .err = err, .errlen = errlen, .in = in};
  in->items = NULL;
  in->count = 0;
  unsigned line = 0;
  size_t pos = 0;
  while (pos < len) {
    line++;
    const char *s = text + pos;
    const char *nl = memchr(s, '\n', len - pos);
    size_t n = nl ? (size_t)(nl - s) : len - pos;
    pos += n + (nl ? 1 : 0);
    const char *nul = memchr(s, '\0', n);
    if (nul) {
      fail(&p, line, (size_t)(nul - s) + 1, "a NUL byte; expected text");
      goto bad;
    }
    while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
      n--;
    size_t lead = 0;
    while (lead < n && (s[lead] == ' ' || s[lead] == '\t'))
      lead++;
    if (lead == n || s[lead] == '#')
      continue;
    int rc = lead == 0 ? url_line(&p, s, n, line)
                       : option_line(&p, s + lead, n - lead, line, lead + 1);
    if (rc != 0)
      goto bad;
  }
  return 0;
bad:
  pfh_input_free(in);
  return -1;
}
