/*
 * internal.h - what the plugin's subsystems share. Nothing here is visible
 * to hosts (the .so exports only parfetch_entry).
 *
 * Subsystems, one file each:
 *   plan.c    pure planner: size + config -> parts
 *   http.c    pure parsers: status line, header lines, Content-Range, Retry-After
 *   ranges.c  set of written byte ranges (completion, digest frontier)
 *   digest.c  "ALGO=HEX" parsing and OpenSSL EVP digests
 *   queue.c   bounded blocking queue with close (backpressure, shutdown)
 *   sink.c    side file / host sink, in-order digest, commit by rename
 *   fetch.c   libcurl transfers: probe, ranged GETs, validation, retries
 *   run.c     the built-in dispatcher: worker threads + one writer thread
 *   entry.c   the exported entry struct, open/close, stats, errors
 *   text.c    pure: what every shown line passes through (escapes, redaction)
 *   rate.c    rate_limit's token bucket (pure but for its mutex)
 */
#ifndef PF_INTERNAL_H
#define PF_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "config.h"
#include "parfetch.h"
#include "rate.h"
#include "text.h"

/* ---- plan.c ------------------------------------------------------------ */

typedef struct pf_range {
  uint64_t start, end; /* [start, end) */
} pf_range;


/* Parts for an object of `size` bytes: streams = size / min_part_size capped
 * by max_streams, at least 1; part i gets remaining / parts_left bytes, so the
 * last parts absorb the remainder. One part if the size is unknown, 0, or the
 * server has no ranges. Returns the number of parts; writes at most cap. */
size_t pf_plan(uint64_t size, int ranges, uint64_t min_part_size, unsigned max_streams,
               pf_part *parts, size_t cap);

/* The parts of `full` minus the ranges already done (sorted, disjoint):
 * each part split around what is done, renumbered in order. Returns the
 * number of parts; writes at most cap. */
/* Join each part shorter than min_part_size with the part it touches
 * (contiguous offsets): a stored range that ends just past a part's start
 * leaves a sliver that is not worth a request of its own. In place; returns
 * the new count, indices renumbered. */
size_t pf_plan_merge(pf_part *parts, size_t n, uint64_t min_part_size);
size_t pf_plan_missing(const pf_part *full, size_t nfull, const pf_range *done, size_t ndone,
                       pf_part *out, size_t cap);

/* ---- http.c ------------------------------------------------------------ */

/* "HTTP/1.1 206 Partial Content" -> 206; -1 if not a status line. */
int pf_http_status_line(const char *line, size_t len);

/* Split "Name: value\r\n" into trimmed name and value (pointers into line,
 * not NUL-terminated). Returns 0, or -1 if there is no colon. */
int pf_http_header_split(const char *line, size_t len, const char **name, size_t *name_len,
                         const char **value, size_t *value_len);

/* Case-insensitive name comparison with a NUL-terminated literal. */
int pf_http_name_is(const char *name, size_t len, const char *want);

/* The largest size, offset or length a server may state (Content-Range,
 * Content-Length, and so the probe's size): 1 EiB. No object a server holds
 * is that large: a file system caps a file far below it (ext4: 16 TiB) or
 * at off_t's INT64_MAX (XFS, btrfs, tmpfs), which no device or memory comes
 * near. Bounded here, a size plus an offset, a part length or the journal
 * after it never overflows an off_t, and UINT64_MAX (PF_SIZE_UNKNOWN) is
 * never a stated number. Anything above it is a bad reply, refused before
 * any arithmetic; a size between a file system's limit and this one is that
 * file system's error (EFBIG, naming the path). */
#define PF_SIZE_MAX ((uint64_t)1 << 60)
#define PF_BOOT_ID_MAX 64 /* /proc/sys/kernel/random/boot_id: 36 characters */

/* Content-Range "bytes a-b/t", "bytes a-b/ *" (total unknown: PF_SIZE_UNKNOWN)
 * or "bytes * /t" (unsatisfied: *unsat = 1, start = end = 0). Strict: digits
 * only, a <= b, b < t. Returns 0, -1 if malformed, or -2 if a number is above
 * PF_SIZE_MAX (or b + 1 would be). */
int pf_http_content_range(const char *value, size_t len, uint64_t *start, uint64_t *end,
                          uint64_t *total, int *unsat);

/* Content-Length: digits only, nothing else. Returns 0, -1 if malformed, or
 * -2 if above PF_SIZE_MAX. */
int pf_http_content_length(const char *value, size_t len, uint64_t *out);

/* Retry-After: delta-seconds or an HTTP-date (relative to now). Returns the
 * delay in seconds (>= 0), or -1 if malformed. */
long pf_http_retry_after(const char *value, size_t len, long long now);

/* A redirect's Location (maybe relative; spaces and the like are
 * URL-encoded) resolved against the URL it came from. Returns a malloc'd
 * absolute http(s) URL, or NULL if malformed, of another scheme, or out of
 * memory. */
char *pf_http_resolve_location(const char *base, const char *location);
/* An HTTP-date (RFC 9110 IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT") for
 * when (seconds since the epoch, 0 .. year 9999). Returns its length, or 0
 * if when is out of range or cap too small. */
#define PF_HTTP_DATE_MAX 30
size_t pf_http_date(char *out, size_t cap, int64_t when);

/* ---- ranges.c ---------------------------------------------------------- */

typedef struct pf_rangeset {
  pf_range *v; /* sorted, disjoint, non-adjacent */
  size_t n, cap;
} pf_rangeset;

void pf_rangeset_init(pf_rangeset *rs);
void pf_rangeset_free(pf_rangeset *rs);
/* Add [start, end). Returns 0, -1 on out of memory, 1 if it overlaps a range
 * already in the set (the set is then unchanged). */
int pf_rangeset_add(pf_rangeset *rs, uint64_t start, uint64_t end);
/* Does [start, end) share a byte with the set? */
int pf_rangeset_overlaps(const pf_rangeset *rs, uint64_t start, uint64_t end);
/* End of the contiguous run that starts at 0 (0 if none). */
uint64_t pf_rangeset_prefix(const pf_rangeset *rs);
/* Bytes covered. */
uint64_t pf_rangeset_total(const pf_rangeset *rs);

/* ---- digest.c ---------------------------------------------------------- */

typedef struct pf_digest pf_digest;

/* Parse "ALGO=HEX" (sha1, sha256, sha512, md5; hex of the right length, any
 * case). On error returns NULL with a message in err. */
pf_digest *pf_digest_new(const char *spec, char *err, size_t errlen);
void pf_digest_free(pf_digest *d);
int pf_digest_update(pf_digest *d, const void *buf, size_t len);
/* Finish and compare. Returns 1 on a match, 0 on a mismatch (got_hex then
 * holds the actual digest), -1 on an OpenSSL failure. */
int pf_digest_verify(pf_digest *d, char *got_hex, size_t got_len);
const char *pf_digest_algo(const pf_digest *d);

/* ---- queue.c ----------------------------------------------------------- */

/* A bounded FIFO of pointers guarded by one mutex and two condition
 * variables. push blocks while full; pop blocks while empty. close() makes
 * every later push fail at once and lets pop drain what is left; every
 * blocked thread wakes. Waits are sliced (100 ms) so that an external stop
 * flag is seen even though cancel() cannot signal a condition variable. */
typedef struct pf_queue {
  pthread_mutex_t mu;
  pthread_cond_t not_full, not_empty;
  void **items;
  size_t cap, head, len;
  int closed;
  int lifo;         /* set after init: pop takes the newest item (a stack) */
  unsigned spin_skip; /* pops that wait without a spin first (queue.c) */
  atomic_int *stop; /* optional external stop flag (session cancel/abort) */
} pf_queue;

int pf_queue_init(pf_queue *q, size_t cap, atomic_int *stop);
/* Condition variables on CLOCK_MONOTONIC, and a wait of at most ms. */
void pf_cond_init_monotonic(pthread_cond_t *cv);
void pf_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, long ms);
/* Before a wait on a condition variable, under mu: look at ready(arg)
 * (called with mu held) for up to PF_SPIN_NS, mu released and the CPU
 * yielded between looks. A hand-over from another thread that comes within
 * that time (the loop's answer on loopback, a small object's chunks) then
 * costs no sleep and wakeup: a futex wakeup is ~16 us on a VM, a round trip
 * of two ~32 us (bench f). Returns with mu held: 1 if ready, 0 if the
 * time ran out. */
#define PF_SPIN_NS 100000ull
int pf_spin_wait(pthread_mutex_t *mu, int (*ready)(void *arg), void *arg);
void pf_queue_destroy(pf_queue *q);
/* 0 on success; -1 if the queue is closed or *stop is set. */
int pf_queue_push(pf_queue *q, void *item);
/* 0 and *item set; -1 when closed and empty (or *stop is set). */
int pf_queue_pop(pf_queue *q, void **item);
/* The same without waiting: -1 at once when empty. */
int pf_queue_trypop(pf_queue *q, void **item);
void pf_queue_close(pf_queue *q);
size_t pf_queue_len(pf_queue *q);

/* ---- work stealing ----------------------------------------------------- */

/* What run() learns about the server's ranged replies, shared by its
 * workers (run.c creates it, fetch.c counts into it). A bad reply of the
 * same kind (a 206 with the wrong range, or a 200 to a ranged request) from
 * PF_DISTRUST_AFTER requests is no glitch: distrust is set, every ranged
 * request of the run ends, and run() fetches what is missing with one GET of
 * the whole object (whole = 1, set before that fetch starts; a bad reply is
 * then final). */
#define PF_DISTRUST_AFTER 3
enum { PF_BAD_RANGE, PF_BAD_IGNORED, PF_BAD__KINDS };
typedef struct pf_trust {
  atomic_uint bad[PF_BAD__KINDS];
  atomic_int distrust;
  int whole;
} pf_trust;

/* A part in flight whose end a thief may lower (run.c). The fetching thread
 * claims bytes under mu before it delivers them; a thief never moves end
 * below claimed, so no byte is ever delivered twice. A transfer whose end is
 * lowered to what it has claimed ends at once (fetch.c's drive()), byte or
 * no byte. The timing fields are written by fetch.c under mu and read by
 * run.c's thieves. */
#define PF_RATE_WINDOW_NS 500000000ull
typedef struct pf_span {
  pthread_mutex_t mu;
  uint64_t start;    /* where the current request began */
  uint64_t claimed;  /* delivered (or being delivered) up to here */
  uint64_t end;      /* exclusive; lowered by a thief */
  uint64_t t0_ns;    /* when the current request went out */
  uint64_t first_ns; /* when its first body byte came (0: not yet) */
  uint64_t first_at; /* claimed then */
  uint64_t rx_ns;    /* when its last body byte came */
  /* the rate over the last one or two windows: (claimed - prev_at) / (now -
   * prev_ns); mark moves every PF_RATE_WINDOW_NS and prev takes its place */
  uint64_t prev_ns, prev_at, mark_ns, mark_at;
  uint64_t ttfb_ns;  /* time to first byte of this stream's latest request that got one (0: none) */
  int active;
  int stolen;        /* the part was taken from another stream */
  pf_trust *trust;   /* run()'s, or NULL */
} pf_span;

/* ---- sessions ---------------------------------------------------------- */

typedef struct pf_loop pf_loop; /* loop.c */

struct pf_xfer; /* fetch.c */

/* ---- source.c: the URLs of one object (ABI 1.4 mirrors) ---------------- */

/* One URL of the object: [0] the primary (the probe's), then the mirrors. */
typedef struct pf_source {
  char *url;        /* a mirror's, as given; NULL for the primary (pf_source_url) */
  _Atomic(char *) moved; /* where its redirects lead (NULL: none); the old ones in retired */
  char *host;       /* pf_host_key of it, after the probe */
  atomic_int creds; /* the credential headers go there: the primary URL's host */
  unsigned host_id; /* sources with the same host share one (and its budget) */
  atomic_int dropped;       /* failed: no new work (pf_source_drop) */
  _Atomic uint64_t bytes;   /* body bytes it delivered */
  /* under the session's src_mu: */
  int proven;                 /* its first reply came: its validator is known */
  char *etag, *last_modified; /* that validator */
  double rate;                /* its requests' pace, bytes/s (0: not measured) */
  unsigned hops;              /* redirects followed */
  char **retired;             /* earlier values of moved, freed with the session */
  size_t nretired;
} pf_source;

/* What pf_source_pick knows of one source (pure). */
typedef struct pf_source_view {
  int live;              /* not dropped */
  double rate;           /* 0: not measured */
  unsigned streams;      /* streams on it, the asking one not counted */
  unsigned lane_streams; /* ... of them on the asking stream's lane */
  unsigned host;         /* host_id */
  int unproven;          /* a mirror none of whose replies came yet: one stream at a time */
} pf_source_view;

#define PF_NO_SOURCE ((size_t)-1)
/* Is source i much slower than the fastest live one? */
int pf_source_slow(const pf_source_view *v, size_t n, size_t i);
/* The source a stream takes its next part from: cur (PF_NO_SOURCE: none
 * yet) while it is live, not slow and its host within budget (per_host in
 * all, lane_share on the stream's lane); else the least loaded such one;
 * PF_NO_SOURCE if none. An unproven source another stream is on is passed
 * over: its first reply sets the validator its later ones are held to. */
size_t pf_source_pick(const pf_source_view *v, size_t n, size_t cur, unsigned per_host,
                      unsigned lane_share);
/* A source's rate after a request of that pace (bytes/s). */
double pf_source_pace(double old, double pace);

/* Where a session is in its life (entry.c checks it at the top of every
 * entry function; the table of what each state allows is there). */
enum pf_phase {
  PF_PHASE_OPENING,     /* inside open(): no host holds the session yet */
  PF_PHASE_OPEN_FAILED, /* open() returned an error */
  PF_PHASE_READY,       /* open() succeeded; FAILED once s->err is set */
  PF_PHASE_RUNNING,     /* inside run() */
  PF_PHASE_COMMITTED    /* commit() succeeded */
};

struct pf_session {
  pf_config *cfg; /* private copy */
  char *url;

  /* what the probe learned: written by the probe (open, or run's restart)
   * under info_mu, which get_info takes to read them; the engine's own
   * threads read them without it (no probe runs while they do) */
  pthread_mutex_t info_mu; /* a leaf; also guards retired */
  uint64_t size;
  _Atomic uint64_t size_seen; /* size, for get_stats from other threads */
  int ranges;
  char *etag;      /* strong ETag only: the validator of every reply */
  char *weak_etag; /* a weak one, shown by get_info but never trusted */
  char *last_modified, *content_type, *effective_url;
  long http_version;
  int cross_host;         /* redirected to another host: no credentials there */
  /* (ABI 1.4) the object's URLs: [0] the primary, then the mirrors
   * (source.c); nsrc is 1 without mirrors */
  pf_source *src;
  size_t nsrc;
  pthread_mutex_t src_mu; /* a leaf */
  int src_mu_init;
  struct pf_xfer *probe; /* the paused probe transfer, taken by part 0 */
  pthread_mutex_t probe_mu;

  /* output */
  char *out_path, *side_path;
  int fd;            /* side file (locked with flock), -1 with a host sink */
  int side_owned;    /* we created and locked the side file: ours to remove */
  /* what was at out_path when the side file was prepared: commit replaces
   * only that (sink.c) */
  int out_existed;
  uint64_t out_dev, out_ino;
  int place_refused; /* commit found another file there: the side file is kept */
  int reserve_pending; /* space not allocated yet (under mu) */
  pf_sink host_sink; /* valid when fd < 0 */
  int in_order;      /* sink needs ascending offsets: plan one part */
  pf_digest *digest;
  char *checksum;           /* the host's "ALGO=HEX" */
  const char *checksum_hex; /* points into checksum */
  uint64_t digest_pos;      /* bytes hashed so far (always a prefix) */
  unsigned char *scratch;   /* digest catch-up buffer */
  pf_rangeset written;      /* under mu */
  _Atomic uint64_t end_seen; /* unknown size: bytes delivered when the part ended */
  atomic_int size_final;     /* unknown size resolved by a finished single part */
  int resume;               /* PF_OPEN_RESUME */
  int prefix;               /* PF_OPEN_PREFIX: out_path may hold the first bytes */
  int no_sync;              /* PF_OPEN_NO_SYNC: commit does not fsync */
  uint64_t probe_start;     /* where the probe asks from: the end of that prefix, or 0 */
  int probe_short;          /* a side file may resume: the probe asks PF_PROBE_SHORT bytes */
  int64_t ims;              /* if_modified_since (probe only), 0 if none */
  uint64_t max_size;        /* 0: no limit */
  _Atomic uint64_t bytes_resumed; /* taken from an earlier run's side file */

  /* resume journal (sink.c, journal.c): a thread that records what is
   * stored every few MiB, and flushes the side file every few seconds */
  int journal_on;
  pthread_t journal_th;
  atomic_int journal_started; /* 0 no thread, 2 being started, 1 running */
  uint64_t journal_armed_ns;   /* when the side file was prepared: the thread starts after */
  pthread_mutex_t journal_mu; /* guards journal_quit with journal_cv */
  pthread_cond_t journal_cv;
  int journal_quit;
  atomic_uint_fast64_t unjournaled; /* bytes stored since the last record */
  uint64_t journal_seq;
  char *journal_url;                /* the URL as recorded: a digest (sink.c) */
  int journal_on_disk;              /* the side file holds a valid record of ours */
  int sync_failed;                  /* a flush failed: nothing more is recorded */
  unsigned char *journal_buf;       /* one slot */
  pf_range *journal_snap;           /* copy of written, taken under mu */
  size_t journal_snap_cap;
  /* the journal thread's own (or close's, after joining it): */
  pf_range *journal_durable;        /* what the last good flush covered */
  size_t journal_ndurable, journal_durable_cap;
  uint64_t journal_unsynced;        /* bytes recorded since that flush */
  uint64_t journal_synced_ns;       /* when it was */
  char journal_boot[PF_BOOT_ID_MAX]; /* the kernel's boot id; "" = unknown */

  /* errors: the first one wins */
  pthread_mutex_t mu;       /* guards written, digest, sink writes */
  /* the first error: set once (compare-and-swap), read by anyone without
   * mu, so that the loop thread never waits on a writer's I/O */
  _Atomic pf_status err;
  _Atomic(char *) errmsg;   /* published once per error (release store) */
  _Atomic(char *) refusal;  /* the last call refused without a session error */
  atomic_int phase;         /* enum pf_phase */
  char **retired;           /* strings a host may still hold, freed by close() */
  size_t nretired;

  atomic_int stop;          /* cancel() or the first error: everyone stops */
  atomic_int cancelled;

  /* TCP connections opened while the probe waits for its reply, for the
   * other streams (fetch.c); under pre_mu */
  pthread_mutex_t pre_mu;
  int *pre_fds;
  size_t npre;
  int pre_started;
  struct sockaddr_storage pre_addr; /* where they go: sockaddr_in or sockaddr_in6 */
  size_t pre_head;   /* pre_fds[pre_head .. npre) are left: taken in the order opened */
  int pre_off;       /* a probe attempt timed out: none opened for the rest of the session */
  /* opening them waits for the probe's reply (its size: how many parts) or
   * until pre_defer_ns, whichever comes first; to pre_addr (pre_addrlen,
   * pre_family) of host pre_key (fetch.c) */
  int pre_deferred;
  int pre_family;
  unsigned pre_addrlen;
  uint64_t pre_defer_ns;

  unsigned pre_slots; /* budget slots reserved for them (client.c), under pre_mu */
  char *pre_key;      /* the host they go to (pf_host_key) */

  /* the client (held: one reference) whose connections and budget the
   * session uses: the one it was opened on, or its own (open()) */
  pf_client *client;
  unsigned home; /* its loop among the client's (pf_client_home) */
  pf_rate *rate; /* rate_limit's bucket (entry.c), or NULL: no limit */

  /* counters */
  _Atomic uint64_t bytes_written, bytes_fetched;
  atomic_uint active, max_active, parts_done, retries, steals;
  atomic_uint parts_total;
  atomic_uint last_http, last_net; /* the last failed request: status, pf_net_error */
  uint64_t t0_ns;
  const int *cancel_flag;                   /* the host's, or NULL; atomic loads */
  void (*log)(void *ctx, const char *line); /* the host's, or NULL */
  void *log_ctx;
  pthread_mutex_t log_mu;
  int curl_ref; /* holds a curl_global_init reference */
};

/* Record the session's first error (later ones are dropped) and stop every
 * worker. Returns st. printf-style detail. */
pf_status pf_fail(pf_session *s, pf_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same, for a caller that holds s->mu. */
pf_status pf_fail_locked(pf_session *s, pf_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Refuse a call without failing the session: returns st (PF_E_INVALID or
 * PF_E_STATE), and errmsg() shows the detail while the session has no error
 * of its own. With or without s->mu held. */
pf_status pf_refuse(pf_session *s, pf_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Keep p (a string a host may hold) until close(). Takes info_mu. */
void pf_retire(pf_session *s, char *p);
/* One line to the host's log callback, if it gave one (serialised). */
void pf_log(pf_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint64_t pf_now_ns(void);
/* Has the session been told to stop? Also turns the host's cancel_flag into
 * a cancel. For loops that wait. */
int pf_stopping(pf_session *s);

/* sink.c */
pf_status pf_sink_prepare(pf_session *s); /* after the probe: create the side file */
pf_status pf_sink_store(pf_session *s, uint64_t offset, const void *buf, size_t len);
/* The same for bytes from the host (write_sink, fetch_part into the sink):
 * a range that overlaps stored bytes, passes the end or (in-order sink)
 * leaves a gap is refused with PF_E_INVALID without failing the session. */
pf_status pf_sink_store_host(pf_session *s, uint64_t offset, const void *buf, size_t len);
/* Allocate the side file's space now (the writer does it as run() starts;
 * otherwise the first store does). */
pf_status pf_sink_reserve(pf_session *s);
pf_status pf_sink_commit(pf_session *s);  /* verify, sync, rename */
/* Close the side file: keep it (with a final journal record) when a later
 * run can resume it and keep != 0, otherwise remove it. */
void pf_sink_close(pf_session *s, int keep);
/* Start over (the object changed): an empty side file, nothing written. */
pf_status pf_sink_reset(pf_session *s);
/* The parts still to fetch: the plan minus what is stored. Caller frees. */
pf_status pf_sink_plan(pf_session *s, pf_part **parts, size_t *n);

/* fetch.c */
int pf_curl_global_ref(void);
/* Does a rate_limit bucket (the session's or its client's) pace s? */
int pf_rate_limited(const pf_session *s);
void pf_curl_global_unref(void);
pf_status pf_probe(pf_session *s);
void pf_drop_probe(pf_session *s); /* free the paused probe if nobody took it */
/* run(), first: the probe's reply was the whole object, small, and kept as
 * it came (fetch.c): wait for the rest of it, store it. *whole: all of it
 * came (else what did is stored and the parts fetch the rest). */
pf_status pf_probe_kept(pf_session *s, int *whole);
/* Close the connections opened ahead that no transfer took, all of them or
 * all but keep. */
void pf_preconnect_trim(pf_session *s, size_t keep);
void pf_preconnect_drop(pf_session *s);
/* A transfer of s on loop s->home + lane of its client (lane 0: the home
 * loop, the probe's). */
struct pf_xfer *pf_xfer_new(pf_session *s, unsigned lane);
/* Free it (on the loop thread, which takes it out of the multi handle
 * first; from another thread it is posted there): x is gone at once for
 * the caller, and what it frees never touches its session. */
void pf_xfer_free(struct pf_xfer *x);
/* Did the last request leave an open connection (no handshake or slow start
 * for the next one)? */
int pf_xfer_warm(const struct pf_xfer *x);

/* The most libcurl hands on_write at once (CURLOPT_BUFFERSIZE): 512 KiB. */
#define PF_READ_MAX (512 * 1024)

/* One part fetched with retries, driven by the client's loop: pf_job_start
 * runs on the loop thread, and so does done(), once the part has ended
 * (never inside pf_job_start). The part is [part.offset, +length); with a
 * span its end is span->end, which a thief may lower meanwhile. For the part
 * at offset 0 the job takes the paused probe while it is still there: the
 * probe's reply goes on as the part's first bytes, and the probe's transfer
 * replaces x (the old one is freed). Data goes to fn, which must not block:
 * room(ctx, n) says first whether fn can take n bytes now, and a reply whose
 * bytes it cannot take waits, paused, until pf_xfer_room() says it may. */
typedef struct pf_job pf_job;
struct pf_job {
  pf_session *s;
  /* the transfer, or NULL: the probe's if the job takes it, else a new one
   * on lane (pf_xfer_new) of the job's loop */
  struct pf_xfer *x;
  pf_loop *loop;
  unsigned lane;
  pf_part part;
  pf_data_fn fn;
  void *ctx;
  int (*room)(void *ctx, size_t n); /* NULL: fn takes anything */
  pf_span *span;
  void (*done)(pf_job *j); /* result is set */
  void *arg;
  pf_status result;
  /* fetch.c's */
  uint64_t end, pos, t0_ns, wait_until_ns, pre_wait_ns;
  unsigned tries;
  int continue_probe, ranged, waiting, starting;
  size_t src;        /* the source it asks (0: the primary URL); set by the caller */
  int failover;      /* set by the caller: with src 0, a failure that is the primary's
                      * alone (network, HTTP, bad reply) goes to the mirrors too */
  int src_failed;    /* its source failed it (not the session): run() drops the source */
  pf_status st;
  int retry, more;
  long wait_s;
  char why[600];
};
void pf_job_start(pf_job *j);
/* The loop thread: fn may have room again for the replies paused for it. */
void pf_xfer_room(struct pf_xfer *x);
/* Fetch a part on the calling thread (the host's fetch_part): the loop
 * drives the transfer, and fn, which may block, runs here. */
pf_status pf_fetch(pf_session *s, struct pf_xfer **xp, const pf_part *part, pf_data_fn fn,
                   void *ctx);

/* source.c */
pf_status pf_sources_init(pf_session *s, const char *const *mirrors);
void pf_sources_free(pf_session *s);
const char *pf_source_url(const pf_session *s, size_t i);
size_t pf_sources_ready(pf_session *s);
int pf_source_check(pf_session *s, size_t i, const char *etag, const char *last_modified,
                    char *why, size_t whylen);
/* Source i failed: no stream takes it again, unless it is the last live
 * one. 1: this call dropped it; 0: it was dropped already; -1: the last. */
int pf_source_drop(pf_session *s, size_t i);
int pf_source_redirect(pf_session *s, size_t i, const char *from, long status,
                       const char *location, char *why, size_t whylen);
void pf_source_add_bytes(pf_session *s, size_t i, uint64_t n);
void pf_sources_describe(const pf_session *s, char *out, size_t len);

/* run.c */
pf_status pf_run(pf_session *s);

/* ---- loop.c: a client's network thread ------------------------------- */

/* Something the loop looks after: a transfer, or a run()'s round. tick()
 * runs at every turn of the loop (at least every 100 ms; it may ask for an
 * earlier turn by lowering *wake_ns); done() when the easy handle whose
 * CURLINFO_PRIVATE is the task has finished (it is out of the multi then).
 * Both run on the loop thread, and may unwatch any task. */
typedef struct pf_task pf_task;
struct pf_task {
  void (*tick)(pf_task *t, uint64_t now, uint64_t *wake_ns);
  void (*done)(pf_task *t, CURLcode rc);
  pf_task *prev, *next; /* the loop's ring */
  int watched;
  int parked; /* a probe paused until its session runs (fetch.c) */
};
#define PF_MAX_LOOPS 64    /* network_threads at most */
#define PF_DEFAULT_LOOPS 4 /* ... and by default one per CPU, at most this */
/* A function posted to the loop thread, in the caller's storage
 * (pf_loop_post_at: it cannot fail) or malloc'd (pf_loop_post). */
typedef struct pf_post {
  void (*fn)(void *arg);
  void *arg;
  int owned; /* malloc'd by pf_loop_post: freed after fn */
  struct pf_post *next;
} pf_post;
/* Loop i of a client's n: its multi handle's limits are its share of the
 * budget (max_connections_per_host and max_connections dealt out over the
 * n, which is at most either). */
pf_status pf_loop_new(const pf_config *cfg, unsigned i, unsigned n, pf_loop **out);
/* Loop i's share (of n loops) of a budget of total connections. */
unsigned pf_loop_budget(unsigned total, unsigned i, unsigned n);
/* Joins the thread: every session of the client is closed by then. */
void pf_loop_free(pf_loop *l);
/* Run fn(arg) on the loop thread soon (any thread). -1 on out of memory. */
int pf_loop_post(pf_loop *l, void (*fn)(void *arg), void *arg);
/* The same in p, which must live until fn has run (fn may free it). */
void pf_loop_post_at(pf_loop *l, pf_post *p, void (*fn)(void *arg), void *arg);
/* The same without waking the loop: fn runs at its next turn, which
 * something else starts (a post, a socket, a timer), within 100 ms. For
 * what may wait: a wakeup costs the loop a turn, and on a loaded machine
 * the posting thread its core. */
void pf_loop_post_lazy(pf_loop *l, pf_post *p, void (*fn)(void *arg), void *arg);
void pf_loop_wake(pf_loop *l); /* any thread: a turn of the loop now */
/* The loop thread only: */
void pf_loop_watch(pf_loop *l, pf_task *t);
void pf_loop_unwatch(pf_loop *l, pf_task *t);
void pf_loop_soon(pf_loop *l); /* another turn at once */
CURLM *pf_loop_multi(pf_loop *l);
/* Its DNS and TLS session cache, for its easy handles (CURLOPT_SHARE). */
CURLSH *pf_loop_share(pf_loop *l);
/* The parked task watched longest after `after` (NULL: from the start), or
 * NULL. */
pf_task *pf_loop_next_parked(pf_loop *l, pf_task *after);
int pf_loop_on_thread(const pf_loop *l);
/* Any thread but the loop's: wait until what was posted before has run. */
void pf_loop_sync(pf_loop *l);

/* ---- client.c: the loop, caches and the budget ----------------------- */

/* How many of `want` connections a probe may open ahead: none when the
 * client has a connection to that host already (it is warm: libcurl reuses
 * it, and opens more within the budget as the parts need them), else what
 * both budgets leave. host_n and total count open connections and those
 * reserved for opening ahead. */
unsigned pf_budget_ahead(unsigned host_n, unsigned total, unsigned per_host, unsigned max_total,
                         int warm, unsigned want);

/* "scheme://host:port" of url (lower case, the port explicit); malloc'd,
 * NULL if malformed or out of memory. */
char *pf_host_key(const char *url);
/* Same scheme, host and port? (fetch.c) */
int pf_same_host(const char *a, const char *b);

/* A client with a reference count of 1 (the creator's). implicit: a 1.0
 * session's own. */
pf_status pf_client_create(const pf_config *cfg, int implicit, pf_client **out);
void pf_client_ref(pf_client *c);
void pf_client_unref(pf_client *c); /* the last one frees it */
const pf_config *pf_client_config(const pf_client *c);
/* Loop i (mod their number) of the client's network threads. */
pf_loop *pf_client_loop(const pf_client *c, unsigned i);
unsigned pf_client_nloops(const pf_client *c);
/* The loop a new session calls home (its probe, its part 0, its stream 0):
 * the one home to the fewest open sessions (the first of them). Given
 * back by unhome when the session is freed. */
unsigned pf_client_home(pf_client *c);
void pf_client_unhome(pf_client *c, unsigned home);
/* The bucket of the client's own rate_limit, for all its sessions
 * together; NULL if none (an implicit client has none: its one session's
 * bucket is the limit). */
pf_rate *pf_client_rate(const pf_client *c);
/* Sockets libcurl opened (fetch.c's open_socket) and closed (close_socket,
 * clientp: the client): the connections open per host. */
void pf_client_sock_opened(pf_client *c, const char *key, int fd);
void pf_client_sock_closed(pf_client *c, int fd);
/* Are all the connections the budget allows open: 1 to key, 2 in all (to
 * key there is room); 0: neither. */
int pf_client_full(pf_client *c, const char *key);
/* Slots for connections a probe opens ahead to key: at most want, none if
 * the client has a connection there; given back with unreserve, or turned
 * into an open connection with claim (fetch.c, as libcurl takes one). */
unsigned pf_client_reserve(pf_client *c, const char *key, unsigned want);
void pf_client_unreserve(pf_client *c, const char *key, unsigned n);

#endif /* PF_INTERNAL_H */
