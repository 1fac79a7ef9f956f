/* logic.c - the fault server's pure logic: fault specs, selection, Range parsing, the object's
 * bytes and validators, and a self-test of all of it (fault_server --self-test).
 *
 * No I/O and no threads here, except fs_fault_selected() reading nothing shared and the
 * self-test printing its results. fs_fault.seen is touched only by fault_server.c.
 */
#include "fault.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ names */

static const char *const FS_FAULT_NAMES[FK__COUNT] = {
    [FK_RESET] = "reset",
    [FK_CLOSE_EARLY] = "close-early",
    [FK_STATUS] = "status",
    [FK_STALL] = "stall",
    [FK_TRICKLE] = "trickle",
    [FK_IGNORE_RANGE] = "ignore-range",
    [FK_BAD_CONTENT_RANGE] = "bad-content-range",
    [FK_WRONG_LENGTH] = "wrong-length",
    [FK_CHANGE] = "change",
    [FK_REDIRECT] = "redirect",
    [FK_CHUNKED] = "chunked",
    [FK_ERROR_PAGE] = "error-page",
};

const char *fs_kind_name(enum fs_kind k) {
  return (unsigned)k < FK__COUNT ? FS_FAULT_NAMES[k] : "?";
}

/* ------------------------------------------------------------------ numbers */

int fs_parse_u64(const char *s, uint64_t *out, bool suffixes) {
  if (!s || !isdigit((unsigned char)*s))
    return -1;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno)
    return -1;
  unsigned shift = 0;
  if (suffixes && *end) {
    switch (tolower((unsigned char)*end)) {
    case 'k':
      shift = 10;
      break;
    case 'm':
      shift = 20;
      break;
    case 'g':
      shift = 30;
      break;
    default:
      return -1;
    }
    end++;
  }
  if (*end)
    return -1;
  if (shift && v > (UINT64_MAX >> shift))
    return -1;
  *out = (uint64_t)v << shift;
  return 0;
}

static int parse_long(const char *s, long *out) {
  if (!s || !*s)
    return -1;
  errno = 0;
  char *end;
  long v = strtol(s, &end, 10);
  if (errno || *end)
    return -1;
  *out = v;
  return 0;
}

static int parse_double(const char *s, double *out) {
  if (!s || !*s)
    return -1;
  errno = 0;
  char *end;
  double v = strtod(s, &end);
  if (errno || *end || !(v >= 0))
    return -1;
  *out = v;
  return 0;
}

static int parse_bool(const char *s, bool *out) {
  if (!strcmp(s, "1") || !strcasecmp(s, "yes") || !strcasecmp(s, "true")) {
    *out = true;
    return 0;
  }
  if (!strcmp(s, "0") || !strcasecmp(s, "no") || !strcasecmp(s, "false")) {
    *out = false;
    return 0;
  }
  return -1;
}

/* ------------------------------------------------------------------ fault specs */

#define K(x) (1u << (x))
#define K_BODY (K(FK_RESET) | K(FK_CLOSE_EARLY) | K(FK_STALL))
#define K_ALL ((1u << FK__COUNT) - 1)

/* Which kinds accept which keys. */
static const struct {
  const char *key;
  unsigned kinds;
} FS_KEYS[] = {
    {"req", K_ALL},
    {"first", K_ALL},
    {"every", K_ALL},
    {"prob", K_ALL},
    {"method", K_ALL},
    {"ranged", K_ALL},
    {"after", K_BODY | K(FK_CHANGE)},
    {"code", K(FK_STATUS) | K(FK_REDIRECT) | K(FK_ERROR_PAGE)},
    {"retry-after", K(FK_STATUS)},
    {"ra-date", K(FK_STATUS)},
    {"secs", K(FK_STALL)},
    {"then", K(FK_STALL)},
    {"rate", K(FK_TRICKLE)},
    {"mode", K(FK_BAD_CONTENT_RANGE) | K(FK_WRONG_LENGTH)},
    {"delta", K(FK_BAD_CONTENT_RANGE) | K(FK_WRONG_LENGTH)},
    {"accept-ranges", K(FK_IGNORE_RANGE)},
    {"to", K(FK_REDIRECT)},
    {"hops", K(FK_REDIRECT)},
    {"loop", K(FK_REDIRECT)},
    {"len", K(FK_ERROR_PAGE)},
    {"size", K(FK_CHANGE)},
};

static void fault_defaults(struct fs_fault *f, enum fs_kind kind) {
  memset(f, 0, sizeof *f);
  f->kind = kind;
  f->req_lo = 1;
  f->req_hi = UINT64_MAX;
  f->prob = 1.0;
  f->retry_after = -2; /* decided after parsing, from the code */
  f->stall_ms = 5000;
  f->rate = 16384;
  f->accept_ranges = true;
  f->hops = 1;
  f->len = -1;
  f->new_size = UINT64_MAX;
  switch (kind) {
  case FK_RESET:
  case FK_CLOSE_EARLY:
  case FK_STALL:
  case FK_TRICKLE:
  case FK_WRONG_LENGTH:
  case FK_CHUNKED:
    f->method = FM_GET;
    break;
  case FK_IGNORE_RANGE:
  case FK_BAD_CONTENT_RANGE:
    f->ranged = FR_YES;
    break;
  case FK_STATUS:
    f->code = 503;
    break;
  case FK_REDIRECT:
    f->code = 302;
    break;
  case FK_ERROR_PAGE:
    f->code = 200;
    break;
  case FK_CHANGE:
  case FK__COUNT:
    break;
  }
}

static int fault_key(struct fs_fault *f, const char *key, const char *val, char err[FS_ERRLEN]) {
  size_t i;
  for (i = 0; i < sizeof FS_KEYS / sizeof FS_KEYS[0]; i++)
    if (!strcmp(FS_KEYS[i].key, key))
      break;
  if (i == sizeof FS_KEYS / sizeof FS_KEYS[0]) {
    snprintf(err, FS_ERRLEN, "unknown key '%s'", key);
    return -1;
  }
  if (!(FS_KEYS[i].kinds & K(f->kind))) {
    snprintf(err, FS_ERRLEN, "key '%s' does not apply to %s", key, fs_kind_name(f->kind));
    return -1;
  }
  uint64_t u = 0;
  int bad = 0;
  if (!strcmp(key, "req")) {
    const char *dash = strchr(val, '-');
    if (!dash) {
      bad = fs_parse_u64(val, &f->req_lo, false);
      f->req_hi = f->req_lo;
    } else {
      char lo[32];
      size_t n = (size_t)(dash - val);
      if (n == 0 || n >= sizeof lo) {
        bad = -1;
      } else {
        memcpy(lo, val, n);
        lo[n] = 0;
        bad = fs_parse_u64(lo, &f->req_lo, false);
        if (!bad && dash[1])
          bad = fs_parse_u64(dash + 1, &f->req_hi, false);
        else
          f->req_hi = UINT64_MAX;
      }
    }
    if (!bad && (f->req_lo == 0 || f->req_hi < f->req_lo))
      bad = -1;
  } else if (!strcmp(key, "first")) {
    bad = fs_parse_u64(val, &u, false);
    f->req_lo = 1;
    f->req_hi = u;
    if (!bad && u == 0)
      bad = -1;
  } else if (!strcmp(key, "every")) {
    bad = fs_parse_u64(val, &f->every, false);
  } else if (!strcmp(key, "prob")) {
    bad = parse_double(val, &f->prob) || f->prob > 1.0;
  } else if (!strcmp(key, "method")) {
    if (!strcasecmp(val, "any"))
      f->method = FM_ANY;
    else if (!strcasecmp(val, "get"))
      f->method = FM_GET;
    else if (!strcasecmp(val, "head"))
      f->method = FM_HEAD;
    else
      bad = -1;
  } else if (!strcmp(key, "ranged")) {
    if (!strcasecmp(val, "any"))
      f->ranged = FR_ANY;
    else if (!strcasecmp(val, "yes") || !strcmp(val, "1"))
      f->ranged = FR_YES;
    else if (!strcasecmp(val, "no") || !strcmp(val, "0"))
      f->ranged = FR_NO;
    else
      bad = -1;
  } else if (!strcmp(key, "after")) {
    bad = fs_parse_u64(val, &u, f->kind != FK_CHANGE);
    if (f->kind == FK_CHANGE) {
      /* after=N is req=N+1- : the (N+1)-th filtered request is the first to see version 2. */
      f->req_lo = u + 1;
      f->req_hi = UINT64_MAX;
      if (!bad && u == UINT64_MAX)
        bad = -1;
    } else {
      f->after = u;
    }
  } else if (!strcmp(key, "code")) {
    long c = 0;
    bad = parse_long(val, &c);
    if (!bad) {
      if (f->kind == FK_REDIRECT)
        bad = !(c == 301 || c == 302 || c == 303 || c == 307 || c == 308);
      else if (f->kind == FK_ERROR_PAGE)
        bad = !(c == 200 || c == 206);
      else
        bad = !(c >= 200 && c <= 599);
    }
    f->code = (int)c;
  } else if (!strcmp(key, "retry-after")) {
    if (!strcasecmp(val, "none")) {
      f->retry_after = -1;
    } else {
      bad = fs_parse_u64(val, &u, false) || u > 86400 * 365;
      f->retry_after = (long)u;
    }
  } else if (!strcmp(key, "ra-date")) {
    bad = parse_bool(val, &f->ra_date);
  } else if (!strcmp(key, "secs")) {
    double s = 0;
    bad = parse_double(val, &s) || s > 86400;
    f->stall_ms = (long)(s * 1000.0 + 0.5);
  } else if (!strcmp(key, "then")) {
    if (!strcmp(val, "continue"))
      f->then = FT_CONTINUE;
    else if (!strcmp(val, "close"))
      f->then = FT_CLOSE;
    else if (!strcmp(val, "reset"))
      f->then = FT_RESET;
    else
      bad = -1;
  } else if (!strcmp(key, "rate")) {
    bad = fs_parse_u64(val, &f->rate, true) || f->rate == 0;
  } else if (!strcmp(key, "mode")) {
    if (f->kind == FK_BAD_CONTENT_RANGE) {
      if (!strcmp(val, "shift"))
        f->mode = BCR_SHIFT;
      else if (!strcmp(val, "end"))
        f->mode = BCR_END;
      else if (!strcmp(val, "total"))
        f->mode = BCR_TOTAL;
      else if (!strcmp(val, "lie"))
        f->mode = BCR_LIE;
      else if (!strcmp(val, "star"))
        f->mode = BCR_STAR;
      else if (!strcmp(val, "max-end"))
        f->mode = BCR_MAX_END;
      else
        bad = -1;
    } else {
      if (!strcmp(val, "short"))
        f->mode = WL_SHORT;
      else if (!strcmp(val, "long"))
        f->mode = WL_LONG;
      else if (!strcmp(val, "claim"))
        f->mode = WL_CLAIM;
      else
        bad = -1;
    }
  } else if (!strcmp(key, "delta")) {
    bad = fs_parse_u64(val, &f->delta, true) || f->delta == 0;
  } else if (!strcmp(key, "accept-ranges")) {
    bad = parse_bool(val, &f->accept_ranges);
  } else if (!strcmp(key, "to")) {
    size_t n = strlen(val);
    bad = n == 0 || n >= sizeof f->to || strpbrk(val, "/?#@ \t\r\n") != NULL;
    if (!bad)
      memcpy(f->to, val, n + 1);
  } else if (!strcmp(key, "hops")) {
    bad = fs_parse_u64(val, &f->hops, false) || f->hops == 0 || f->hops > 1000;
  } else if (!strcmp(key, "loop")) {
    bad = parse_bool(val, &f->loop);
  } else if (!strcmp(key, "len")) {
    bad = fs_parse_u64(val, &u, true) || u > (1u << 20);
    f->len = (long)u;
  } else if (!strcmp(key, "size")) {
    bad = fs_parse_u64(val, &f->new_size, true) || f->new_size == UINT64_MAX;
  }
  if (bad) {
    snprintf(err, FS_ERRLEN, "bad value '%s' for %s key '%s'", val, fs_kind_name(f->kind), key);
    return -1;
  }
  return 0;
}

int fs_fault_parse(const char *spec, struct fs_fault *f, char err[FS_ERRLEN]) {
  char buf[512];
  size_t len = strlen(spec);
  if (len >= sizeof buf) {
    snprintf(err, FS_ERRLEN, "fault spec too long");
    return -1;
  }
  memcpy(buf, spec, len + 1);
  char *params = strchr(buf, ':');
  if (params)
    *params++ = 0;
  int kind = -1;
  for (int k = 0; k < FK__COUNT; k++)
    if (!strcmp(buf, FS_FAULT_NAMES[k]))
      kind = k;
  if (kind < 0) {
    snprintf(err, FS_ERRLEN, "unknown fault '%.64s'", buf);
    return -1;
  }
  fault_defaults(f, (enum fs_kind)kind);
  char *save = NULL;
  for (char *kv = params ? strtok_r(params, ",", &save) : NULL; kv;
       kv = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(kv, '=');
    if (!eq) {
      snprintf(err, FS_ERRLEN, "'%.64s' is not key=value", kv);
      return -1;
    }
    *eq = 0;
    if (fault_key(f, kv, eq + 1, err))
      return -1;
  }
  if (f->kind == FK_STATUS && f->retry_after == -2)
    f->retry_after = (f->code == 429 || f->code == 503) ? 1 : -1;
  if (f->retry_after == -2)
    f->retry_after = -1;
  return 0;
}

bool fs_fault_filter(const struct fs_fault *f, bool is_get, bool is_head, bool has_range) {
  if (f->method == FM_GET && !is_get)
    return false;
  if (f->method == FM_HEAD && !is_head)
    return false;
  if (f->ranged == FR_YES && !has_range)
    return false;
  if (f->ranged == FR_NO && has_range)
    return false;
  return true;
}

bool fs_fault_selected(const struct fs_fault *f, uint64_t n, double coin) {
  if (n < f->req_lo || n > f->req_hi)
    return false;
  if (f->every && n % f->every != 0)
    return false;
  return f->prob >= 1.0 || coin < f->prob;
}

/* ------------------------------------------------------------------ Range */

static const char *skip_ws(const char *p) {
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

/* Digits into *v, saturating at UINT64_MAX. Returns the end, or NULL when there are none. */
static const char *digits(const char *p, uint64_t *v) {
  if (!isdigit((unsigned char)*p))
    return NULL;
  uint64_t x = 0;
  for (; isdigit((unsigned char)*p); p++) {
    unsigned d = (unsigned)(*p - '0');
    x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
  }
  *v = x;
  return p;
}

enum fs_range fs_parse_range(const char *hdr, uint64_t total, uint64_t *first, uint64_t *last) {
  if (!hdr)
    return RANGE_NONE;
  const char *p = skip_ws(hdr);
  if (strncasecmp(p, "bytes", 5))
    return RANGE_NONE;
  p = skip_ws(p + 5);
  if (*p++ != '=')
    return RANGE_NONE;
  if (strchr(p, ','))
    return RANGE_NONE; /* several ranges: whole object, 200 */
  p = skip_ws(p);
  uint64_t a = 0, b = 0;
  if (*p == '-') {
    p = digits(p + 1, &b);
    if (!p || *skip_ws(p))
      return RANGE_NONE;
    if (b == 0 || total == 0)
      return RANGE_UNSAT;
    *first = b >= total ? 0 : total - b;
    *last = total - 1;
    return RANGE_OK;
  }
  p = digits(p, &a);
  if (!p)
    return RANGE_NONE;
  p = skip_ws(p);
  if (*p++ != '-')
    return RANGE_NONE;
  p = skip_ws(p);
  bool has_end = false;
  if (isdigit((unsigned char)*p)) {
    p = digits(p, &b);
    has_end = true;
  }
  if (*skip_ws(p))
    return RANGE_NONE;
  if (has_end && b < a)
    return RANGE_NONE; /* invalid: ignored, as RFC 9110 says */
  if (a >= total)
    return RANGE_UNSAT;
  *first = a;
  *last = (!has_end || b >= total) ? total - 1 : b;
  return RANGE_OK;
}

/* ------------------------------------------------------------------ object */

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* 8 pseudo-random bytes for word w (bytes 8w..8w+7) of the stream keyed by seed. */
static uint64_t gen_word(uint64_t seed, uint64_t w) {
  return mix64((seed * 0x9E3779B97F4A7C15ULL) ^ mix64(w + 0x632BE59BD9B4E019ULL));
}

#define V2_KEY 0xD1B54A32D192ED03ULL

void fs_object_fill(const struct fs_object *o, int v, uint64_t off, unsigned char *buf,
                    size_t len) {
  uint64_t w = UINT64_MAX, g = 0, m = 0;
  for (size_t i = 0; i < len; i++) {
    uint64_t at = off + i;
    if ((at >> 3) != w) {
      w = at >> 3;
      g = gen_word(o->seed, w);
      m = v == 2 ? gen_word(o->seed ^ V2_KEY, w) : 0;
    }
    unsigned sh = (unsigned)(at & 7) * 8;
    unsigned char b = (o->base && at < o->base_len) ? o->base[at] : (unsigned char)(g >> sh);
    if (v == 2)
      b ^= (unsigned char)((m >> sh) | 1); /* every byte of version 2 differs from version 1 */
    buf[i] = b;
  }
}

void fs_http_date(time_t t, char *buf, size_t cap) {
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

void fs_object_init(struct fs_object *o, const unsigned char *base, uint64_t base_len,
                    uint64_t size, uint64_t seed, time_t mtime, uint64_t v2_size, bool weak) {
  memset(o, 0, sizeof *o);
  o->base = base;
  o->base_len = base_len;
  o->seed = seed;
  o->size[1] = size;
  o->size[2] = v2_size == UINT64_MAX ? size : v2_size;
  /* The content's identity: FNV-1a of the file, or the seed. */
  uint64_t h = 0xcbf29ce484222325ULL;
  if (base) {
    for (uint64_t i = 0; i < base_len; i++)
      h = (h ^ base[i]) * 0x100000001b3ULL;
  } else {
    h ^= mix64(seed);
  }
  for (int v = 1; v <= 2; v++) {
    uint64_t tag = mix64(h ^ mix64(o->size[v]) ^ (uint64_t)v * 0x9E3779B97F4A7C15ULL);
    snprintf(o->etag[v], sizeof o->etag[v], "%s\"pf%d-%016" PRIx64 "\"", weak ? "W/" : "", v, tag);
    fs_http_date(mtime + (v - 1) * 86400, o->lastmod[v], sizeof o->lastmod[v]);
  }
}

/* ------------------------------------------------------------------ self-test */

static int st_fail;

static void st_check(bool ok, const char *what) {
  printf("%s - %s\n", ok ? "ok" : "not ok", what);
  if (!ok)
    st_fail++;
}

static bool range_is(const char *h, uint64_t total, enum fs_range want, uint64_t f, uint64_t l) {
  uint64_t a = 12345, b = 12345;
  enum fs_range r = fs_parse_range(h, total, &a, &b);
  if (r != want)
    return false;
  return r != RANGE_OK || (a == f && b == l);
}

int fs_self_test(void) {
  st_fail = 0;
  st_check(range_is("bytes=0-99", 1000, RANGE_OK, 0, 99), "range a-b");
  st_check(range_is("bytes=900-", 1000, RANGE_OK, 900, 999), "range a-");
  st_check(range_is("bytes=-100", 1000, RANGE_OK, 900, 999), "range -n");
  st_check(range_is("bytes=-5000", 1000, RANGE_OK, 0, 999), "range -n larger than object");
  st_check(range_is("bytes=990-5000", 1000, RANGE_OK, 990, 999), "range end clipped");
  st_check(range_is(" Bytes = 5 - 7 ", 1000, RANGE_OK, 5, 7), "range whitespace, case");
  st_check(range_is("bytes=1000-", 1000, RANGE_UNSAT, 0, 0), "range start at total: 416");
  st_check(range_is("bytes=-0", 1000, RANGE_UNSAT, 0, 0), "range -0: 416");
  st_check(range_is("bytes=0-0", 0, RANGE_UNSAT, 0, 0), "range of empty object: 416");
  st_check(range_is("bytes=99999999999999999999999-", 1000, RANGE_UNSAT, 0, 0),
           "range overflowing start: 416");
  st_check(range_is("bytes=0-99999999999999999999999", 1000, RANGE_OK, 0, 999),
           "range overflowing end clipped");
  st_check(range_is("bytes=5-3", 1000, RANGE_NONE, 0, 0), "range b<a ignored");
  st_check(range_is("bytes=0-1,5-6", 1000, RANGE_NONE, 0, 0), "multi-range: 200");
  st_check(range_is("items=0-1", 1000, RANGE_NONE, 0, 0), "other unit ignored");
  st_check(range_is("bytes=x-1", 1000, RANGE_NONE, 0, 0), "garbage ignored");
  st_check(range_is(NULL, 1000, RANGE_NONE, 0, 0), "no header");

  struct fs_fault f;
  char err[FS_ERRLEN];
  st_check(!fs_fault_parse("reset:after=64k,req=2-3", &f, err) && f.kind == FK_RESET &&
               f.after == 65536 && f.req_lo == 2 && f.req_hi == 3 && f.method == FM_GET,
           "parse reset");
  st_check(!fs_fault_parse("status:code=429", &f, err) && f.retry_after == 1, "429 retry-after");
  st_check(!fs_fault_parse("status:code=500", &f, err) && f.retry_after == -1, "500 no r-a");
  st_check(!fs_fault_parse("change:after=3", &f, err) && !fs_fault_selected(&f, 3, 0) &&
               fs_fault_selected(&f, 4, 0) && fs_fault_selected(&f, 400, 0),
           "change after=3 selects 4..");
  st_check(!fs_fault_parse("stall:secs=1.5,then=close,first=2", &f, err) && f.stall_ms == 1500 &&
               f.then == FT_CLOSE && fs_fault_selected(&f, 2, 0) && !fs_fault_selected(&f, 3, 0),
           "parse stall");
  st_check(!fs_fault_parse("trickle:rate=1k,req=5-", &f, err) && f.rate == 1024 &&
               fs_fault_selected(&f, 9, 0) && !fs_fault_selected(&f, 4, 0),
           "parse trickle open range");
  st_check(!fs_fault_parse("status:every=3", &f, err) && fs_fault_selected(&f, 6, 0) &&
               !fs_fault_selected(&f, 7, 0),
           "every");
  st_check(!fs_fault_parse("status:prob=0.25", &f, err) && fs_fault_selected(&f, 1, 0.1) &&
               !fs_fault_selected(&f, 1, 0.3),
           "prob");
  st_check(!fs_fault_parse("redirect:to=localhost:8080,hops=3,loop=1", &f, err) &&
               !strcmp(f.to, "localhost:8080") && f.hops == 3 && f.loop,
           "parse redirect");
  st_check(!fs_fault_parse("ignore-range", &f, err) && f.ranged == FR_YES &&
               !fs_fault_filter(&f, true, false, false) && fs_fault_filter(&f, true, false, true),
           "ignore-range filters ranged");
  st_check(fs_fault_parse("reset:rate=5", &f, err) != 0, "key of another fault rejected");
  st_check(fs_fault_parse("nosuch", &f, err) != 0, "unknown fault rejected");
  st_check(fs_fault_parse("status:code=abc", &f, err) != 0, "bad number rejected");
  st_check(fs_fault_parse("redirect:code=200", &f, err) != 0, "bad redirect code rejected");
  st_check(fs_fault_parse("status:req=0", &f, err) != 0, "req=0 rejected");
  st_check(fs_fault_parse("status:req=5-2", &f, err) != 0, "req=5-2 rejected");

  struct fs_object o;
  fs_object_init(&o, NULL, 0, 100000, 7, 1700000000, UINT64_MAX, false);
  static unsigned char whole[100000], part[100000], v2[100000];
  fs_object_fill(&o, 1, 0, whole, sizeof whole);
  fs_object_fill(&o, 1, 0, part, 13);
  fs_object_fill(&o, 1, 13, part + 13, sizeof part - 13);
  st_check(!memcmp(whole, part, sizeof whole), "fill in pieces equals fill at once");
  fs_object_fill(&o, 2, 0, v2, sizeof v2);
  bool all_differ = true;
  for (size_t i = 0; i < sizeof v2; i++)
    all_differ = all_differ && v2[i] != whole[i];
  st_check(all_differ, "every byte of version 2 differs");
  st_check(strcmp(o.etag[1], o.etag[2]) != 0 && strcmp(o.lastmod[1], o.lastmod[2]) != 0,
           "version 2 has other validators");
  st_check(!strcmp(o.lastmod[1], "Tue, 14 Nov 2023 22:13:20 GMT"), "IMF-fixdate");
  struct fs_object o2;
  fs_object_init(&o2, NULL, 0, 100000, 8, 1700000000, UINT64_MAX, false);
  st_check(strcmp(o.etag[1], o2.etag[1]) != 0, "other seed, other ETag");
  unsigned char fb[4] = {1, 2, 3, 4}, out[6];
  fs_object_init(&o2, fb, 4, 4, 1, 0, UINT64_MAX, true);
  fs_object_fill(&o2, 1, 1, out, 5);
  st_check(out[0] == 2 && out[2] == 4 && !strncmp(o2.etag[1], "W/\"pf1-", 7),
           "file content, weak ETag");
  printf("self-test: %d failed\n", st_fail);
  return st_fail;
}
