/* fault.h - the fault-injection test server's pure logic, shared by its two files.
 *
 *   logic.c         no I/O, no threads: fault specs and their selection, Range parsing, the
 *                   object's bytes and validators, the built-in self-test.
 *   fault_server.c  libmicrohttpd, options, logging, statistics, main().
 *
 * Note: the Makefile rebuilds build/fault_server when a .c file in tests/fault changes, not when
 * this header does; touch a .c after editing it.
 */
#ifndef PF_FAULT_H
#define PF_FAULT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define FS_MAX_FAULTS 32
#define FS_ERRLEN 256
#define FS_ETAG_MAX 4096 /* an ETag with its quotes and NUL, --long-etag included */

/* Kinds of fault; FS_FAULT_NAMES in logic.c spells them for --fault. */
enum fs_kind {
  FK_RESET,
  FK_CLOSE_EARLY,
  FK_STATUS,
  FK_STALL,
  FK_TRICKLE,
  FK_IGNORE_RANGE,
  FK_BAD_CONTENT_RANGE,
  FK_WRONG_LENGTH,
  FK_CHANGE,
  FK_REDIRECT,
  FK_CHUNKED,
  FK_ERROR_PAGE,
  FK__COUNT
};

enum fs_method { FM_ANY, FM_GET, FM_HEAD };
enum fs_ranged { FR_ANY, FR_YES, FR_NO };
enum fs_then { FT_CONTINUE, FT_CLOSE, FT_RESET };
enum fs_bcr_mode { BCR_SHIFT, BCR_END, BCR_TOTAL, BCR_LIE, BCR_STAR, BCR_MAX_END };
enum fs_wl_mode { WL_SHORT, WL_LONG, WL_CLAIM };

/* One --fault. Everything but `seen` is fixed before the server starts. */
struct fs_fault {
  enum fs_kind kind;
  /* Which requests pass the filter (only those are numbered for this fault). */
  enum fs_method method;
  enum fs_ranged ranged;
  /* Which of the numbered requests are selected: n in [req_lo, req_hi], n % every == 0 (when
   * every > 0), and a coin with probability prob. */
  uint64_t req_lo, req_hi;
  uint64_t every;
  double prob;
  /* Parameters (meaning depends on kind; see --help). */
  uint64_t after;     /* reset, close-early, stall: body bytes before acting */
  int code;           /* status, redirect, error-page */
  long retry_after;   /* status: seconds, -1 = no header */
  bool ra_date;       /* status: Retry-After as an HTTP-date */
  long stall_ms;      /* stall */
  enum fs_then then;  /* stall */
  uint64_t rate;      /* trickle: bytes per second */
  int mode;           /* bad-content-range: fs_bcr_mode; wrong-length: fs_wl_mode */
  uint64_t delta;     /* bad-content-range, wrong-length; 0 = default */
  bool accept_ranges; /* ignore-range: still send Accept-Ranges */
  char to[128];       /* redirect: target host[:port]; "" = the other loopback name */
  uint64_t hops;      /* redirect: length of the chain */
  bool loop;          /* redirect: never stop */
  long len;           /* error-page: body length, -1 = natural */
  uint64_t new_size;  /* change: size of version 2, UINT64_MAX = same */
  /* Runtime: requests that passed the filter so far. */
  _Atomic uint64_t seen;
};

const char *fs_kind_name(enum fs_kind k);

/* Parses "name[:key=value,...]" into *f. Returns 0, or -1 with a message in err. */
int fs_fault_parse(const char *spec, struct fs_fault *f, char err[FS_ERRLEN]);

/* Whether a request of this shape is numbered by f. */
bool fs_fault_filter(const struct fs_fault *f, bool is_get, bool is_head, bool has_range);

/* Whether the n-th filtered request (1-based) is selected; coin is uniform in [0, 1). */
bool fs_fault_selected(const struct fs_fault *f, uint64_t n, double coin);

/* Range header parsing, single range only. */
enum fs_range {
  RANGE_NONE, /* absent, malformed, or several ranges: serve 200 and the whole object */
  RANGE_OK,   /* *first..*last, inclusive, clipped to the object */
  RANGE_UNSAT /* 416 */
};
enum fs_range fs_parse_range(const char *hdr, uint64_t total, uint64_t *first, uint64_t *last);

/* Parses an unsigned decimal with an optional k/m/g (binary) suffix. 0 or -1. */
int fs_parse_u64(const char *s, uint64_t *out, bool suffixes);

/* The served object: version 1 and, after a change fault fires, version 2. */
struct fs_object {
  const unsigned char *base; /* --file bytes (NULL with --size) */
  uint64_t base_len;
  uint64_t seed;
  uint64_t size[3];    /* [1] and [2]; [0] unused */
  char etag[3][FS_ETAG_MAX]; /* quoted, e.g. "\"pf1-0123456789abcdef\""; --long-etag: longer */
  char lastmod[3][40]; /* IMF-fixdate */
};

/* Fills version, size, validators. base may be NULL. weak: W/ prefix on the ETag. */
void fs_object_init(struct fs_object *o, const unsigned char *base, uint64_t base_len,
                    uint64_t size, uint64_t seed, time_t mtime, uint64_t v2_size, bool weak);

/* Writes bytes [off, off+len) of version v (1 or 2) to buf. Offsets past the object's size give
 * more deterministic bytes (used for "too long" bodies). */
void fs_object_fill(const struct fs_object *o, int v, uint64_t off, unsigned char *buf, size_t len);

/* IMF-fixdate of t into buf (>= 30 bytes). */
void fs_http_date(time_t t, char *buf, size_t cap);

/* Pure-logic checks; prints "ok"/"not ok" lines; returns the number of failures. */
int fs_self_test(void);

#endif
