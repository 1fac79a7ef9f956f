/*
 * fetch.c - libcurl transfers: the probe, ranged GETs, reply validation and
 * retries.
 *
 * A transfer (pf_xfer) is one CURL easy handle, driven by one of its
 * session's client's network threads, its loop (loop.c): the easy is in
 * that loop's multi handle while a request runs, and libcurl takes a
 * connection for it from the loop's cache (one the last reply to that host
 * left open) or opens one within the loop's share of the budget. Every
 * callback here (on_header, on_write, the socket callbacks) runs on the
 * loop thread, and so do tick() and done(), which replace a
 * thread that waits: tick() ends a request the session no longer wants (a
 * stop; a thief took the rest; a stall) and lifts pauses, done() judges a
 * finished request and decides what comes next. A part with its retries is
 * a job (pf_job): a chain of requests, with backoff waits between them, run
 * by done() and tick() without a thread of its own. run()'s streams are
 * jobs. Two callers wait on a thread of their own for the loop: the probe
 * (open()'s thread prepares each request while the easy is out of the
 * multi, posts it, and waits for it to pause on its first body byte or to
 * end) and the host's fetch_part (pf_fetch: a job whose data the loop hands
 * over to the host's thread one callback at a time, pausing the reply while
 * the host's fn runs). on_write never blocks: bytes that fn cannot take now
 * (a full pool, the host still busy) pause the reply (CURL_WRITEFUNC_PAUSE)
 * until the taker says it has room (pf_xfer_room), so a slow disk or a slow
 * host in one session never holds up another session on the same client.
 * The probe's transfer, paused, stays in the multi and is continued as
 * part 0 by the job that takes it; a probe's reply that is the whole
 * object, small (PF_KEEP_MAX), is not paused but kept as it comes, and
 * run() stores it from its own thread (pf_probe_kept), no job needed.
 *
 * The probe asks for the first min_part_size bytes only, so that its reply
 * ends where the server meant it to and its connection stays open; while it
 * waits, the other streams' connections are opened ahead (see below).
 *
 * Every reply is checked before a byte of it is passed on: status, exact
 * Content-Range, total size and validator (ETag, else Last-Modified) against
 * the probe. A failed attempt resumes from the exact byte it reached.
 * A job of run()'s may ask a mirror (pf_job.src, source.c): its replies are
 * checked against the probe's size and the mirror's own validator, its
 * redirects followed by the session's rules, and a failure is not retried
 * but ends the job (src_failed) without failing the session; the primary's
 * (j->failover), once its retries are spent, ends it so too.
 *
 * rate_limit (rate.c): every body byte a transfer receives is taken from its
 * session's bucket and its client's, when they exist. A transfer that finds
 * either in debt pauses its reply in on_write (CURL_WRITEFUNC_PAUSE: libcurl
 * keeps the bytes and reads no more of the socket, so TCP's window holds
 * the server back) and tick() unpauses it once the debt is paid (libcurl
 * hands the kept bytes to on_write again, which takes them or pauses once
 * more), asking the loop for a turn at that time. Under a limit libcurl
 * reads less at once (pf_rate_read_size), so the bytes moved over any
 * stretch stay within the rate plus a bucket's burst (125 ms) and a small
 * read per stream. Time spent paused (a bucket, or no room) is no stall:
 * it counts as a byte received, for stall_timeout and for run()'s thieves
 * (span->rx_ns).
 *
 * Global state: only the curl_global_init reference count below.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "internal.h"
#include "reorder.h"

/* ---- curl_global_init, reference counted -------------------------------- */

static pthread_mutex_t global_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned global_refs; /* guarded by global_mu */

int pf_curl_global_ref(void) {
  int rc = 0;
  pthread_mutex_lock(&global_mu);
  if (global_refs == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    rc = -1;
  else
    global_refs++;
  pthread_mutex_unlock(&global_mu);
  return rc;
}

void pf_curl_global_unref(void) {
  pthread_mutex_lock(&global_mu);
  if (global_refs > 0 && --global_refs == 0)
    curl_global_cleanup();
  pthread_mutex_unlock(&global_mu);
}

/* ---- transfers ---------------------------------------------------------- */

struct pf_xfer {
  pf_task task; /* first: the loop's handle on it (CURLINFO_PRIVATE) */
  pf_session *s;
  pf_loop *loop;
  CURL *easy;
  char *key;      /* the host of the current request (pf_host_key) */
  int in_multi;   /* (loop thread) */
  int sent;       /* the current request went out: its connection is up */
  uint64_t added_ns;
  struct curl_slist *hdrs_all;    /* the user's headers */
  struct curl_slist *hdrs_public; /* without credentials, for other hosts */
  struct curl_slist *hdrs_ims_all, *hdrs_ims_public; /* the same + If-Modified-Since (probe) */
  char errbuf[CURL_ERROR_SIZE];
  uint64_t rng;

  /* the current reply, reset at every status line */
  long status;
  /* malloc'd, whole (NULL if absent): validators are compared in full, and
   * presigned URLs can be long; bounded by HEADER_VALUE_MAX */
  char *etag, *last_modified, *content_type, *location;
  int have_cr, cr_unsat, have_cl;
  uint64_t cr_start, cr_end, cr_total, cl;
  long retry_after;

  /* the current request */
  int probe_mode; /* pause on the first body byte */
  int paused;     /* the probe, paused there (or keeping: its headers are in) */
  /* the probe's reply holds the whole object, small: its body is kept here
   * as it comes instead of pausing (run() stores it); under wmu */
  int keeping;
  unsigned char *kept;
  size_t nkept;
  _Atomic int evicted; /* ... and ended by the loop for a transfer that waited for the budget */
  int rate_paused;   /* on_write paused the reply for rate_limit (tick() resumes it) */
  int room_paused;   /* ... because fn had no room (pf_xfer_room resumes it) */
  size_t room_need;
  int checked;       /* reply validated */
  uint64_t req_start; /* offset asked for */
  uint64_t req_end;   /* exclusive end asked for, PF_SIZE_UNKNOWN = to the end */
  uint64_t cur;       /* object offset of the next body byte to arrive */
  uint64_t pos;       /* next object offset to deliver */
  uint64_t stop_at;   /* deliver up to here, PF_SIZE_UNKNOWN = to the end */
  int stopped_early;  /* we ended the reply ourselves at stop_at */
  int fn_abort;       /* the data callback asked to stop */
  uint64_t last_rx_ns; /* when the last header or body byte arrived */
  int warm;            /* the last reply ended as the server meant: its connection lives on */
  pf_status verdict;  /* a bad reply found by a callback */
  char why[512];
  pf_data_fn fn;
  void *ctx;
  int (*room)(void *ctx, size_t n);
  pf_span *span; /* the part's end may move (work stealing) */
  pf_job *job;   /* the job it runs, or NULL (the probe) */
  size_t src;    /* the source its request went to (source.c; 0: the primary URL) */

  /* a thread that waits for the loop (the probe's): under wmu */
  pthread_mutex_t wmu;
  pthread_cond_t wcv;
  int finished, reclaimed;
  CURLcode rc;
  long hv; /* CURLINFO_HTTP_VERSION of the current reply (on_header) */
  pf_post free_post; /* pf_xfer_free's, which then cannot fail */
  pf_post park_post; /* pf_probe's */

  int pre_fd; /* a socket taken from the connections opened ahead, until libcurl has it */
  int took_pre, opened_fresh; /* since the current request began */

  pf_rate *rates[2]; /* the session's bucket and its client's (NULL: none) */
};

#define PF_PROBE_SHORT (64u * 1024u) /* the probe before a resume: little of it is new */
#define PF_PARKED_WAIT_MS 1000ull /* a transfer waiting this long for a full budget ends a paused probe */

/* The outcome of one attempt. */
typedef struct attempt {
  pf_status st;  /* PF_OK or the error if it is final */
  int retry;     /* worth another attempt */
  int more;      /* PF_OK, but the reply covered only the start of what is wanted */
  long wait_s;   /* Retry-After, -1 if none */
  char why[600];
} attempt;

static void why(struct pf_xfer *x, pf_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void why(struct pf_xfer *x, pf_status st, const char *fmt, ...) {
  if (x->verdict != PF_OK)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(x->why, sizeof x->why, fmt, ap);
  va_end(ap);
  x->verdict = st;
}

static void reset_reply(struct pf_xfer *x) {
  x->status = 0;
  free(x->etag), free(x->last_modified), free(x->content_type), free(x->location);
  x->etag = x->last_modified = x->content_type = x->location = NULL;
  x->have_cr = x->cr_unsat = x->have_cl = 0;
  x->cr_start = x->cr_end = x->cr_total = x->cl = 0;
  x->retry_after = -1;
}

/* The longest header value kept: libcurl's own limit for a header line
 * (CURL_MAX_HTTP_HEADER, 100 KiB) makes a longer one fail the transfer
 * before it reaches us; this bound holds whatever libcurl does. */
#define HEADER_VALUE_MAX (100 * 1024)

/* Keep a header's value whole in *dst (replacing an earlier one). An
 * over-long value is a bad reply, never cut short. Returns 0, or -1 on out
 * of memory (the transfer then fails). */
static int keep_value(struct pf_xfer *x, char **dst, const char *name, const char *v, size_t len) {
  if (len > HEADER_VALUE_MAX) {
    why(x, PF_E_BAD_REPLY, "%s sent a %s of %zu bytes (at most %d are accepted)",
        x->s->effective_url ? x->s->effective_url : x->s->url, name, len, HEADER_VALUE_MAX);
    return 0;
  }
  free(*dst);
  *dst = strndup(v, len);
  return *dst ? 0 : -1;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *arg) {
  struct pf_xfer *x = arg;
  size_t len = size * nmemb;
  x->last_rx_ns = pf_now_ns();
  int code = pf_http_status_line(line, len);
  if (code >= 0) {
    reset_reply(x);
    x->status = code;
    x->hv = 0;
    curl_easy_getinfo(x->easy, CURLINFO_HTTP_VERSION, &x->hv);
    return len;
  }
  const char *name, *value;
  size_t nl, vl;
  if (pf_http_header_split(line, len, &name, &nl, &value, &vl) != 0)
    return len;
  /* keep_value() != 0: out of memory, which fails the transfer */
  if (pf_http_name_is(name, nl, "etag")) {
    if (keep_value(x, &x->etag, "ETag", value, vl) != 0)
      return 0;
  } else if (pf_http_name_is(name, nl, "last-modified")) {
    if (keep_value(x, &x->last_modified, "Last-Modified", value, vl) != 0)
      return 0;
  } else if (pf_http_name_is(name, nl, "location")) {
    if (keep_value(x, &x->location, "Location", value, vl) != 0)
      return 0;
  } else if (pf_http_name_is(name, nl, "content-type")) {
    if (keep_value(x, &x->content_type, "Content-Type", value, vl) != 0)
      return 0;
  } else if (pf_http_name_is(name, nl, "content-range") ||
             pf_http_name_is(name, nl, "content-length")) {
    int cr = nl == 13;
    uint64_t cl;
    int r = cr ? pf_http_content_range(value, vl, &x->cr_start, &x->cr_end, &x->cr_total,
                                       &x->cr_unsat)
               : pf_http_content_length(value, vl, &cl);
    if (r == -2) { /* a number above PF_SIZE_MAX: a bad reply, used for nothing */
      const char *url = NULL;
      curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &url);
      why(x, PF_E_BAD_REPLY, "%s sent %s: %.*s, a number above %llu (1 EiB, the most accepted)",
          url ? url : x->s->url, cr ? "Content-Range" : "Content-Length",
          (int)(vl > 64 ? 64 : vl), value, (unsigned long long)PF_SIZE_MAX);
      return 0; /* ends the transfer: judge() reports the verdict */
    }
    if (cr) {
      x->have_cr = r == 0 ? 1 : -1; /* -1: present but malformed */
    } else if (r == 0) {           /* a malformed one is ignored, as libcurl does */
      x->cl = cl;
      x->have_cl = 1;
    }
  } else if (pf_http_name_is(name, nl, "retry-after")) {
    x->retry_after = pf_http_retry_after(value, vl, (long long)time(NULL));
  }
  return len;
}

/* Does the reply carry the probe's validator? The probe's strong ETag if
 * it had one, else its Last-Modified; a reply without it does not prove it
 * is the same object. (A probe with neither cannot be checked: the object is
 * then taken on trust, and a side file of it is never resumed.) */
static int same_validator(const pf_session *s, const struct pf_xfer *x) {
  if (s->etag)
    return x->etag && strcmp(s->etag, x->etag) == 0;
  if (s->last_modified)
    return x->last_modified && strcmp(s->last_modified, x->last_modified) == 0;
  return 1;
}

#define SHOWN_MAX 128

/* v for a message: whole if short, else its start and its end (where two
 * long validators may differ) with the length between. */
static const char *shown(char out[SHOWN_MAX], const char *v) {
  size_t len = strlen(v);
  if (len < 100)
    return v;
  snprintf(out, SHOWN_MAX, "%.40s...(%zu characters)...%s", v, len, v + len - 40);
  return out;
}

static int http_retryable(long status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

/* Check a part's reply before any of its bytes are used. Sets x->cur to the
 * offset of its first body byte. Returns 0 if it may be used. */
static int check_reply(struct pf_xfer *x) {
  pf_session *s = x->s;
  const char *url = pf_source_url(s, x->src);
  if (x->status == 416 && x->have_cr == 1 && x->cr_unsat && x->cr_total != s->size) {
    why(x, PF_E_CHANGED, "the object changed during the download: %s was %llu bytes, now %llu",
        url, (unsigned long long)s->size, (unsigned long long)x->cr_total);
    return -1;
  }
  if (x->status >= 400 || x->status < 200 || (x->status >= 300 && x->status < 400)) {
    why(x, PF_E_HTTP, "HTTP %ld from %s", x->status, url);
    return -1;
  }
  if (x->src) { /* a mirror: its own validator, not the primary's (source.c) */
    char msg[400];
    if (pf_source_check(s, x->src, x->etag, x->last_modified, msg, sizeof msg) != 0) {
      why(x, PF_E_CHANGED, "the object changed during the download: %s", msg);
      return -1;
    }
  } else if (!same_validator(s, x)) {
    /* compared whole, shown in short: why() keeps 512 bytes */
    char was[SHOWN_MAX], now[SHOWN_MAX];
    if (s->etag)
      why(x, PF_E_CHANGED, "the object changed during the download: %s had ETag %s, now %s", url,
          shown(was, s->etag), x->etag ? shown(now, x->etag) : "none");
    else
      why(x, PF_E_CHANGED,
          "the object changed during the download: %s had Last-Modified %s, now %s", url,
          shown(was, s->last_modified), x->last_modified ? shown(now, x->last_modified) : "none");
    return -1;
  }
  if (x->req_start != 0 || x->req_end != PF_SIZE_UNKNOWN) { /* a ranged request */
    if (!s->ranges)
      goto whole;
    if (x->status != 206) {
      why(x, PF_E_BAD_REPLY, "%s answered %ld to a request for bytes %llu-%llu", url, x->status,
          (unsigned long long)x->req_start,
          (unsigned long long)(x->req_end == PF_SIZE_UNKNOWN ? 0 : x->req_end - 1));
      return -1;
    }
    if (x->have_cr != 1 || x->cr_unsat) {
      why(x, PF_E_BAD_REPLY, "%s sent a 206 without a valid Content-Range", url);
      return -1;
    }
    if (s->size != PF_SIZE_UNKNOWN && x->cr_total != s->size) {
      why(x, PF_E_CHANGED, "the object changed during the download: %s was %llu bytes, now %llu",
          url, (unsigned long long)s->size, (unsigned long long)x->cr_total);
      return -1;
    }
    uint64_t want_last = x->req_end == PF_SIZE_UNKNOWN ? s->size - 1 : x->req_end - 1;
    if (x->cr_start != x->req_start || x->cr_end != want_last) {
      why(x, PF_E_BAD_REPLY, "%s sent bytes %llu-%llu for a request of bytes %llu-%llu", url,
          (unsigned long long)x->cr_start, (unsigned long long)x->cr_end,
          (unsigned long long)x->req_start, (unsigned long long)want_last);
      return -1;
    }
    if (x->have_cl && x->cl != x->cr_end - x->cr_start + 1) {
      why(x, PF_E_BAD_REPLY, "%s sent Content-Length %llu for a range of %llu bytes", url,
          (unsigned long long)x->cl, (unsigned long long)(x->cr_end - x->cr_start + 1));
      return -1;
    }
    x->cur = x->cr_start;
    return 0;
  }
whole:
  /* the whole object, from byte 0 */
  if (x->status == 206) {
    if (x->have_cr != 1 || x->cr_unsat || x->cr_start != 0 ||
        (s->size != PF_SIZE_UNKNOWN && x->cr_total != s->size) ||
        (x->have_cl && x->cl != x->cr_end - x->cr_start + 1)) {
      why(x, PF_E_BAD_REPLY, "%s sent a 206 with an unexpected Content-Range", url);
      return -1;
    }
  } else if (x->status != 200) {
    why(x, PF_E_BAD_REPLY, "%s answered %ld", url, x->status);
    return -1;
  } else if (s->size != PF_SIZE_UNKNOWN && x->have_cl && x->cl != s->size) {
    why(x, PF_E_CHANGED, "the object changed during the download: %s was %llu bytes, now %llu",
        url, (unsigned long long)s->size, (unsigned long long)x->cl);
    return -1;
  }
  x->cur = 0;
  return 0;
}

/* How long until both of x's buckets let bytes go (0: now). */
static uint64_t rate_wait_ns(struct pf_xfer *x, uint64_t now) {
  uint64_t w = 0;
  for (int i = 0; i < 2; i++) {
    uint64_t wi = x->rates[i] ? pf_rate_wait_ns(x->rates[i], now) : 0;
    if (wi > w)
      w = wi;
  }
  return w;
}

int pf_rate_limited(const pf_session *s) {
  return s->rate || pf_client_rate(s->client);
}

static void preconnect_on_reply(struct pf_xfer *x);

/* A probe's reply that is the whole object, of at most PF_KEEP_MAX bytes,
 * is not paused: its body is kept as it comes (the connection is free for
 * the next request as soon as it has come) and run() stores it, without a
 * turn of the loop. Its size, or 0 when it is not to be kept: unknown
 * length, more than PF_KEEP_MAX, only the start of the object, or paced by
 * a rate_limit (whose buckets take bytes only as they are delivered). The
 * loop thread, at the first body byte (the headers are all in). */
#define PF_KEEP_MAX (512 * 1024)
static size_t keep_size(const struct pf_xfer *x) {
  uint64_t len = 0;
  if (pf_rate_limited(x->s))
    return 0;
  if (x->status == 206 && x->have_cr == 1 && !x->cr_unsat && x->cr_start == 0 &&
      x->cr_total != PF_SIZE_UNKNOWN && x->cr_end + 1 == x->cr_total)
    len = x->cr_total;
  else if (x->status == 200 && x->have_cl)
    len = x->cl;
  if (x->s->max_size && len > x->s->max_size)
    return 0; /* open() refuses it (max_size): nothing to keep */
  return len > 0 && len <= PF_KEEP_MAX ? (size_t)len : 0;
}

/* Room left in the kept body (under wmu). */
static size_t keep_room(const struct pf_xfer *x) {
  size_t cap = keep_size(x);
  return cap > x->nkept ? cap - x->nkept : 0;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg) {
  struct pf_xfer *x = arg;
  pf_session *s = x->s;
  size_t n = size * nmemb;
  if (!x->checked) {
    if (x->probe_mode) { /* the probe's thread learns what it needs now */
      int first = !x->paused;
      if (first)
        preconnect_on_reply(x);
      size_t keep = first ? keep_size(x) : 0;
      unsigned char *buf = keep ? malloc(keep) : NULL;
      pthread_mutex_lock(&x->wmu);
      if (first && buf) {
        x->keeping = 1;
        x->kept = buf;
        x->nkept = 0;
      }
      /* what fits of it: a chunk that goes past the object's end (a body
       * longer than its Content-Range) still brings the object's last bytes */
      size_t take = x->keeping ? (n < keep_room(x) ? n : keep_room(x)) : 0;
      int keeping = x->keeping && take == n;
      if (take > 0) {
        memcpy(x->kept + x->nkept, data, take);
        x->nkept += take;
        x->last_rx_ns = pf_now_ns();
        atomic_fetch_add(&s->bytes_fetched, take);
      }
      x->paused = 1;
      if (first)
        pthread_cond_signal(&x->wcv);
      pthread_mutex_unlock(&x->wmu);
      /* (more than the reply said: a bad reply, ended here past the
       * object's end; run() fetches what did not come) */
      return keeping ? n : x->keeping ? 0 : CURL_WRITEFUNC_PAUSE;
    }
    if (check_reply(x) != 0) {
      pf_log(s, "rejected: %s", x->why);
      return 0;
    }
    x->checked = 1;
    if (s->log)
      pf_log(s, "HTTP %ld, bytes %llu-%llu", x->status, (unsigned long long)x->cur,
             x->have_cr == 1 ? (unsigned long long)x->cr_end : (unsigned long long)x->cl);
  }
  if (s->max_size && x->cur + n > s->max_size) {
    /* of unknown size (open() refused a known one): stop at the limit */
    why(x, PF_E_TOO_LARGE, "%s sends more than the %llu bytes allowed",
        s->effective_url ? s->effective_url : s->url, (unsigned long long)s->max_size);
    return 0;
  }
  /* rate_limit: no byte while a bucket is in debt; these bytes come again
   * when tick() has seen the debt paid */
  uint64_t now_rx = pf_now_ns();
  if (rate_wait_ns(x, now_rx) > 0) {
    x->rate_paused = 1;
    return CURL_WRITEFUNC_PAUSE;
  }
  /* nor while fn has no room for them (all or nothing: libcurl hands the
   * same bytes again after the pause) */
  if (x->room && !x->room(x->ctx, n)) {
    x->room_paused = 1;
    x->room_need = n;
    return CURL_WRITEFUNC_PAUSE;
  }
  for (int i = 0; i < 2; i++)
    if (x->rates[i])
      pf_rate_take(x->rates[i], n, now_rx);
  atomic_fetch_add(&s->bytes_fetched, n);
  pf_source_add_bytes(s, x->src, n);
  uint64_t first = x->cur;
  x->cur += n;
  /* deliver [from, to): skip bytes we already have (a retry without ranges)
   * and stop at the part's end */
  uint64_t from = x->pos > first ? x->pos : first;
  uint64_t to = x->cur;
  if (x->span) {
    /* claim the bytes before delivering them: a thief may have taken the
     * rest of the part */
    uint64_t now = pf_now_ns();
    pthread_mutex_lock(&x->span->mu);
    x->stop_at = x->span->end;
    if (to > x->stop_at)
      to = x->stop_at;
    if (!x->span->first_ns) {
      /* a rate counts from the first body byte, not from the request: the
       * time to it is a round trip (or two), not the stream's pace */
      x->span->first_ns = now;
      x->span->first_at = to > x->span->claimed ? to : x->span->claimed;
      curl_off_t us = 0;
      curl_easy_getinfo(x->easy, CURLINFO_STARTTRANSFER_TIME_T, &us);
      x->span->ttfb_ns = us > 0 ? (uint64_t)us * 1000u : now - x->span->t0_ns;
      x->span->prev_ns = x->span->mark_ns = now;
      x->span->prev_at = x->span->mark_at = x->span->first_at;
    }
    x->span->rx_ns = now;
    if (to > x->span->claimed)
      x->span->claimed = to;
    if (now - x->span->mark_ns >= PF_RATE_WINDOW_NS) {
      x->span->prev_ns = x->span->mark_ns, x->span->prev_at = x->span->mark_at;
      x->span->mark_ns = now, x->span->mark_at = x->span->claimed;
    }
    pthread_mutex_unlock(&x->span->mu);
  } else if (x->stop_at != PF_SIZE_UNKNOWN && to > x->stop_at) {
    to = x->stop_at;
  }
  if (to > from) {
    if (x->fn(x->ctx, from, data + (from - first), (size_t)(to - from)) != 0) {
      x->fn_abort = 1;
      return 0;
    }
    x->pos = to;
    x->last_rx_ns = now_rx;
  }
  if (x->stop_at != PF_SIZE_UNKNOWN && x->pos >= x->stop_at && x->cur > x->stop_at) {
    x->stopped_early = 1; /* more than we need from this reply: end it */
    return 0;
  }
  if (x->stop_at != PF_SIZE_UNKNOWN && x->pos >= x->stop_at) {
    /* reached the part's end; end the reply if the server has more */
    uint64_t reply_end = PF_SIZE_UNKNOWN;
    if (x->status == 206 && x->have_cr == 1)
      reply_end = x->cr_end + 1;
    else if (x->have_cl)
      reply_end = x->cl;
    if (reply_end == PF_SIZE_UNKNOWN || reply_end > x->stop_at) {
      x->stopped_early = 1;
      return 0;
    }
  }
  return n;
}

/* ---- connections opened ahead ------------------------------------------- */

/* Once the probe's own connection is up, the other streams' TCP connections
 * are opened to the address it connected to, so that their first requests
 * go out the moment the plan is known instead of a round trip later: they
 * connect while the probe's request waits for its reply. libcurl takes them
 * through CURLOPT_OPENSOCKETFUNCTION and is told by CURLOPT_SOCKOPTFUNCTION
 * that they are connected (TLS, if any, is still libcurl's).
 *
 * A connection that carries nothing must never hold up one that does. Some
 * servers complete the TLS handshake in their accept loop, one connection at
 * a time (Python's http.server on an ssl-wrapped socket, several embedded
 * servers): there an idle connection ahead of another in the accept queue
 * stalls that one until one of them is closed. So:
 * - they are opened in CURLOPT_PREREQFUNCTION, after the probe's TCP and TLS
 *   handshakes: they queue behind the probe's connection, never ahead of it;
 * - workers take them in the order they were opened, the order the server
 *   accepts them in, and a worker that takes one sends its ClientHello at
 *   once; run() closes those its workers will not need as it starts;
 * - a connection opened anew while some are left (the probe's next attempt;
 *   a worker whose take failed, to the same address) closes those left
 *   first, so that a handshake blocked on one of them sees EOF and the
 *   server goes on;
 * - a probe attempt that times out while they exist closes them, and none
 *   are opened for the rest of the session (preconnect_give_up). */

/* Near (a TCP handshake of less than PRECONNECT_DEFER_RTT_NS), a probe's
 * reply comes within a round trip or two, and opening the others waits for
 * it: for its size, so that an object of one part (the probe covers it)
 * opens none, and one of k parts k - 1; they start a round trip later
 * than they would have, under PRECONNECT_DEFER_RTT_NS. A reply that has not
 * begun PRECONNECT_DEFER_NS after the request went out is late (a server
 * that thinks, or holds it): they are opened then, as for a far server,
 * where a round trip is worth more and they are opened at once. */
#define PRECONNECT_DEFER_RTT_NS 2000000ull /* 2 ms */
#define PRECONNECT_DEFER_NS 5000000ull     /* 5 ms */

/* Same family, address and port? */
static int same_sockaddr(const void *a, const void *b) {
  int family = ((const struct sockaddr *)a)->sa_family;
  if (family != ((const struct sockaddr *)b)->sa_family)
    return 0;
  if (family == AF_INET) {
    const struct sockaddr_in *x = a, *y = b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (family == AF_INET6) {
    const struct sockaddr_in6 *x = a, *y = b;
    return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
  }
  return 0;
}

/* How many are left to take: pre_fds[pre_head .. npre). Caller holds pre_mu. */
static size_t left_locked(const pf_session *s) {
  return s->npre - s->pre_head;
}

/* The budget slots reserved for connections opened ahead follow those
 * left: one given back to the client for each closed unused, or taken by a
 * transfer (an open socket of libcurl's from then on, counted as such).
 * Caller holds pre_mu. */
static void pre_sync_locked(pf_session *s) {
  size_t left = left_locked(s);
  if (s->pre_slots > left) {
    pf_client_unreserve(s->client, s->pre_key, s->pre_slots - (unsigned)left);
    s->pre_slots = (unsigned)left;
  }
}

static void close_all_locked(pf_session *s) {
  while (s->npre > s->pre_head)
    close(s->pre_fds[--s->npre]);
  free(s->pre_fds);
  s->pre_fds = NULL;
  s->npre = s->pre_head = 0;
  pre_sync_locked(s);
}

/* Open `want` connections to addr (the probe's, of host key), or as many
 * as the client's budget leaves. Caller holds pre_mu. */
static void preconnect_open_locked(pf_session *s, const char *key, int family, int protocol,
                                   const void *addr, unsigned addrlen, unsigned want) {
  close_all_locked(s);
  s->pre_started = 1;
  s->pre_deferred = 0;
  char *k = strdup(key);
  if (!k)
    return;
  free(s->pre_key);
  s->pre_key = k;
  unsigned n = pf_client_reserve(s->client, key, want);
  s->pre_slots = n;
  s->pre_fds = n ? calloc(n, sizeof *s->pre_fds) : NULL;
  memcpy(&s->pre_addr, addr, addrlen);
  for (unsigned i = 0; s->pre_fds && i < n; i++) {
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0)
      break;
    if (connect(fd, addr, addrlen) != 0 && errno != EINPROGRESS) {
      close(fd);
      break;
    }
    s->pre_fds[s->npre++] = fd;
  }
  pre_sync_locked(s); /* the slots of those that could not be opened */
  if (s->log && s->npre > 0) {
    char ip[INET6_ADDRSTRLEN] = "?";
    const struct sockaddr_in *v4 = addr;
    const struct sockaddr_in6 *v6 = addr;
    if (family == AF_INET)
      inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
    else
      inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
    pf_log(s, "opening %zu more connections to %s while the probe waits", s->npre, ip);
  }
}

static int is_redirect(long status);

/* The deferred opening (pre_deferred), now: `want` connections to the
 * address the probe connected to. Caller holds pre_mu. */
static void preconnect_deferred_locked(pf_session *s, unsigned want) {
  struct sockaddr_storage addr;
  memcpy(&addr, &s->pre_addr, sizeof addr);
  char *key = s->pre_key ? strdup(s->pre_key) : NULL;
  s->pre_deferred = 0;
  if (key && want > 0)
    preconnect_open_locked(s, key, s->pre_family, IPPROTO_TCP, &addr, s->pre_addrlen, want);
  free(key);
}

/* The probe's reply has begun (on_write's pause; its headers are all in):
 * a deferred opening opens what the object's other parts need, and none
 * for an object of one part (the probe's connection carries it all). A
 * redirect leaves it to the next hop's reply, or to the time. The loop
 * thread. */
static void preconnect_on_reply(struct pf_xfer *x) {
  pf_session *s = x->s;
  if (is_redirect(x->status))
    return;
  unsigned parts = 1;
  if (x->status == 206 && x->have_cr == 1 && !x->cr_unsat && x->cr_start == 0 &&
      x->cr_total != PF_SIZE_UNKNOWN && x->cr_total <= PF_SIZE_MAX)
    parts = (unsigned)pf_plan(x->cr_total, 1, s->cfg->min_part_size, s->cfg->max_streams, NULL, 0);
  pthread_mutex_lock(&s->pre_mu);
  if (s->pre_deferred)
    preconnect_deferred_locked(s, parts - 1);
  pthread_mutex_unlock(&s->pre_mu);
}

/* The probe's reply is late: a deferred opening goes ahead at its time, as
 * if the size were unknown (max_streams - 1), while the probe waits. The
 * loop thread (its tick). */
static void preconnect_on_time(struct pf_xfer *x, uint64_t now, uint64_t *wake_ns) {
  pf_session *s = x->s;
  pthread_mutex_lock(&s->pre_mu);
  if (s->pre_deferred) {
    if (now >= s->pre_defer_ns)
      preconnect_deferred_locked(s, s->cfg->max_streams - 1);
    else if (s->pre_defer_ns < *wake_ns)
      *wake_ns = s->pre_defer_ns;
  }
  pthread_mutex_unlock(&s->pre_mu);
}

static int preconnect_wanted(const pf_session *s, int family, unsigned addrlen) {
  const pf_config *c = s->cfg;
  return c->preconnect && !s->pre_off && c->max_streams > 1 && !s->in_order &&
         (family == AF_INET || family == AF_INET6) && addrlen <= sizeof s->pre_addr;
}

/* A connection is about to be opened anew to a: close those opened ahead
 * that are left, so that it does not queue behind them. For the probe they
 * are opened again once its connection is up. (A worker going to another
 * address, as happy eyeballs try IPv6 first, leaves them: on_prereq.) */
static void preconnect_make_way(pf_session *s, int probe, const struct curl_sockaddr *a) {
  pthread_mutex_lock(&s->pre_mu);
  size_t n = 0;
  if (probe || same_sockaddr(&a->addr, &s->pre_addr)) {
    n = left_locked(s);
    close_all_locked(s);
  }
  if (probe)
    s->pre_started = s->pre_deferred = 0;
  pthread_mutex_unlock(&s->pre_mu);
  if (n > 0)
    pf_log(s, "connecting anew: first closed the %zu connections opened ahead that were left", n);
}

/* A probe attempt timed out (connect, handshake or reply): whatever the
 * cause, the connections opened ahead are closed and none are opened for
 * the rest of the session, so that they can stand in the way of nothing. */
static void preconnect_give_up(pf_session *s, const char *why) {
  pthread_mutex_lock(&s->pre_mu);
  int started = s->pre_started;
  size_t n = left_locked(s);
  close_all_locked(s);
  if (started)
    s->pre_off = 1;
  s->pre_started = s->pre_deferred = 0;
  pthread_mutex_unlock(&s->pre_mu);
  if (started)
    pf_log(s, "the probe timed out (%s): closed %zu connections opened ahead; none for the rest "
              "of this download", why, n);
}

/* A connection is established, TLS included, or reused
 * (CURLOPT_PREREQFUNCTION, just before its request goes out). The probe's:
 * open the others to the address that answered, behind it in the server's
 * queue. */
static int on_prereq(void *arg, char *primary_ip, char *local_ip, int primary_port,
                     int local_port) {
  struct pf_xfer *x = arg;
  pf_session *s = x->s;
  (void)local_ip, (void)local_port;
  x->sent = 1; /* its connection is up: from now on, no byte for long is a stall */
  x->last_rx_ns = pf_now_ns();
  if (x->span) { /* a request waiting in libcurl's queue for the budget has not begun */
    pthread_mutex_lock(&x->span->mu);
    if (!x->span->first_ns)
      x->span->t0_ns = x->last_rx_ns;
    pthread_mutex_unlock(&x->span->mu);
  }
  if (!x->probe_mode) {
    if (x->opened_fresh && !x->took_pre) {
      /* a worker connected over a socket of its own to another address
       * (each transfer resolves the name itself: round-robin DNS): one of
       * those opened ahead will not be used, and the streams must not hold
       * more than max_streams connections */
      pthread_mutex_lock(&s->pre_mu);
      if (left_locked(s) > 0)
        close(s->pre_fds[--s->npre]);
      pthread_mutex_unlock(&s->pre_mu);
    }
    return CURL_PREREQFUNC_OK;
  }
  if (!primary_ip)
    return CURL_PREREQFUNC_OK;
  union {
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
  } sa;
  memset(&sa, 0, sizeof sa);
  int family;
  unsigned len;
  if (inet_pton(AF_INET, primary_ip, &sa.v4.sin_addr) == 1) {
    family = AF_INET;
    sa.v4.sin_family = AF_INET;
    sa.v4.sin_port = htons((uint16_t)primary_port);
    len = sizeof sa.v4;
  } else if (inet_pton(AF_INET6, primary_ip, &sa.v6.sin6_addr) == 1) {
    family = AF_INET6;
    sa.v6.sin6_family = AF_INET6;
    sa.v6.sin6_port = htons((uint16_t)primary_port);
    len = sizeof sa.v6;
  } else {
    return CURL_PREREQFUNC_OK;
  }
  /* the round trip of its TCP handshake */
  curl_off_t connect_us = 0, dns_us = 0;
  curl_easy_getinfo(x->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
  curl_easy_getinfo(x->easy, CURLINFO_NAMELOOKUP_TIME_T, &dns_us);
  uint64_t rtt_ns = connect_us > dns_us ? (uint64_t)(connect_us - dns_us) * 1000u : 0;
  pthread_mutex_lock(&s->pre_mu);
  /* (a reused connection: they are open already, to this address; or one
   * the client kept idle: its host is warm, and the other streams take
   * the idle ones there before they open any; pf_client_reserve gives none
   * either when the client has other connections there) */
  if (preconnect_wanted(s, family, len) && x->opened_fresh &&
      !(s->pre_started && same_sockaddr(&sa, &s->pre_addr))) {
    char *k = rtt_ns < PRECONNECT_DEFER_RTT_NS ? strdup(x->key) : NULL;
    if (rtt_ns >= PRECONNECT_DEFER_RTT_NS) {
      preconnect_open_locked(s, x->key, family, IPPROTO_TCP, &sa, len, s->cfg->max_streams - 1);
    } else if (k) { /* (out of memory: none opened) */
      close_all_locked(s); /* (their slots: under the key they went to) */
      free(s->pre_key);
      s->pre_key = k;
      s->pre_deferred = 1;
      s->pre_family = family;
      s->pre_addrlen = len;
      memcpy(&s->pre_addr, &sa, len);
      s->pre_defer_ns = x->last_rx_ns + PRECONNECT_DEFER_NS;
    }
  }
  pthread_mutex_unlock(&s->pre_mu);
  return CURL_PREREQFUNC_OK;
}

/* The first connection opened ahead to this address that is left, connected
 * and not closed by the server meanwhile; -1 if there is none.
 * Waits a little for a connect still in flight (one that takes longer is
 * closed: a fresh connect does no worse); one that failed or was closed by
 * the server means the others are no better: they are all closed. */
static int preconnect_take(pf_session *s, const struct curl_sockaddr *a) {
  int fd = -1;
  pthread_mutex_lock(&s->pre_mu);
  if (left_locked(s) > 0 && same_sockaddr(&a->addr, &s->pre_addr))
    fd = s->pre_fds[s->pre_head++];
  pre_sync_locked(s); /* its slot: libcurl's open connection from now on */
  pthread_mutex_unlock(&s->pre_mu);
  if (fd < 0)
    return fd;
  /* no wait: the loop thread runs this */
  struct pollfd p = {fd, POLLOUT, 0};
  int r;
  do
    r = poll(&p, 1, 0);
  while (r < 0 && errno == EINTR);
  if (r != 1) {
    close(fd);
    pf_log(s, "a connection opened during the probe is not connected yet: connecting anew");
    return -1;
  }
  int err = 0;
  socklen_t len = sizeof err;
  char byte;
  ssize_t got = 0;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0 ||
      (got = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT)) >= 0 ||
      (errno != EAGAIN && errno != EWOULDBLOCK)) {
    /* failed, or closed by the server (or it sent something): so are the
     * others, or soon will be */
    if (err == 0 && got < 0)
      err = errno;
    close(fd);
    pthread_mutex_lock(&s->pre_mu);
    size_t n = left_locked(s);
    close_all_locked(s);
    pthread_mutex_unlock(&s->pre_mu);
    pf_log(s, "the connections opened during the probe are not usable (%s): closed %zu more",
           err ? strerror(err) : got == 0 ? "closed by the server" : "the server spoke first", n);
    return -1;
  }
  pf_log(s, "using a connection opened during the probe");
  return fd;
}

#define PRECONNECT_WAIT_NS 200000000ull /* a job waits this long for one still connecting */

/* Is the first connection opened ahead still connecting (no answer to its
 * SYN yet)? A job then waits a little (job_step) rather than connect anew
 * past it: open_socket, on the loop thread, cannot wait. */
static int preconnect_connecting(pf_session *s) {
  int r = -1;
  pthread_mutex_lock(&s->pre_mu);
  if (left_locked(s) > 0) {
    struct pollfd p = {s->pre_fds[s->pre_head], POLLOUT, 0};
    r = poll(&p, 1, 0);
  }
  pthread_mutex_unlock(&s->pre_mu);
  return r == 0;
}

void pf_preconnect_trim(pf_session *s, size_t keep) {
  pthread_mutex_lock(&s->pre_mu);
  while (left_locked(s) > keep)
    close(s->pre_fds[--s->npre]); /* the last opened: the back of the server's queue */
  pre_sync_locked(s);
  if (left_locked(s) == 0)
    close_all_locked(s);
  pthread_mutex_unlock(&s->pre_mu);
}

void pf_preconnect_drop(pf_session *s) {
  pf_preconnect_trim(s, 0);
  pthread_mutex_lock(&s->pre_mu);
  s->pre_started = s->pre_deferred = 0;
  pthread_mutex_unlock(&s->pre_mu);
}

static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a) {
  struct pf_xfer *x = arg;
  int stream = purpose == CURLSOCKTYPE_IPCXN && a->socktype == SOCK_STREAM;
  x->pre_fd = -1;
  x->opened_fresh = 1;
  if (stream && !x->probe_mode) {
    int fd = preconnect_take(x->s, a);
    if (fd >= 0) {
      x->pre_fd = fd;
      x->took_pre = 1;
      pf_client_sock_opened(x->s->client, x->key, fd); /* its slot was claimed */
      return fd;
    }
  }
  if (stream)
    preconnect_make_way(x->s, x->probe_mode, a);
  int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  if (fd < 0)
    return CURL_SOCKET_BAD;
  pf_client_sock_opened(x->s->client, x->key, fd);
  return fd;
}

/* libcurl closes a connection's socket; clientp is the client, not the
 * transfer: a connection outlives the transfer that opened it. */
static int close_socket(void *clientp, curl_socket_t fd) {
  pf_client_sock_closed(clientp, fd);
  return close(fd);
}

static int socket_options(void *arg, curl_socket_t fd, curlsocktype purpose) {
  struct pf_xfer *x = arg;
  (void)purpose;
  if (x->pre_fd >= 0 && fd == x->pre_fd) {
    x->pre_fd = -1;
    return CURL_SOCKOPT_ALREADY_CONNECTED;
  }
  return CURL_SOCKOPT_OK;
}

static struct curl_slist *append_header(struct curl_slist *l, const char *h, int *ok) {
  struct curl_slist *n = curl_slist_append(l, h);
  if (!n)
    *ok = 0;
  return n ? n : l;
}

/* Headers that carry credentials: never sent to a host reached by redirect. */
static int is_secret_header(const pf_config *c, const char *h) {
  static const char *const builtin[] = {"authorization", "cookie", "proxy-authorization"};
  const char *colon = strchr(h, ':');
  size_t nl = colon ? (size_t)(colon - h) : strlen(h);
  while (nl > 0 && (h[nl - 1] == ' ' || h[nl - 1] == '\t'))
    nl--;
  for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
    if (pf_http_name_is(h, nl, builtin[i]))
      return 1;
  for (size_t i = 0; i < c->nsecret_headers; i++)
    if (pf_http_name_is(h, nl, c->secret_headers[i]))
      return 1;
  return 0;
}

static void xfer_tick(pf_task *t, uint64_t now, uint64_t *wake_ns);
static void xfer_done(pf_task *t, CURLcode rc);
static void setup_easy(struct pf_xfer *x);

struct pf_xfer *pf_xfer_new(pf_session *s, unsigned lane) {
  const pf_config *c = s->cfg;
  struct pf_xfer *x = calloc(1, sizeof *x);
  if (!x)
    return NULL;
  x->s = s;
  x->loop = pf_client_loop(s->client, s->home + lane);
  x->pre_fd = -1;
  x->task.tick = xfer_tick;
  x->task.done = xfer_done;
  pthread_mutex_init(&x->wmu, NULL);
  pf_cond_init_monotonic(&x->wcv);
  x->rates[0] = s->rate;
  x->rates[1] = pf_client_rate(s->client);
  x->rng = pf_now_ns() ^ (uintptr_t)x ^ 0x9e3779b97f4a7c15ULL;
  int ok = 1;
  for (size_t i = 0; ok && i < c->nheaders; i++) {
    x->hdrs_all = append_header(x->hdrs_all, c->headers[i], &ok);
    if (ok && !is_secret_header(c, c->headers[i]))
      x->hdrs_public = append_header(x->hdrs_public, c->headers[i], &ok);
  }
  x->easy = ok ? curl_easy_init() : NULL;
  if (!x->easy) {
    pf_xfer_free(x);
    return NULL;
  }
  setup_easy(x);
  return x;
}

/* The session's options on x's easy handle. */
static void setup_easy(struct pf_xfer *x) {
  const pf_config *c = x->s->cfg;
  CURL *e = x->easy;
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)&x->task);
  curl_easy_setopt(e, CURLOPT_SHARE, pf_loop_share(x->loop));
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, x->s->client); /* outlives the transfer */
  /* libcurl closes a connection idle for longer before it would reuse it
   * (and the loop closes them all when it has nothing to do: loop.c) */
  curl_easy_setopt(e, CURLOPT_MAXAGE_CONN,
                   c->idle_timeout_ms > 0 ? (c->idle_timeout_ms + 999) / 1000 : 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x);
  curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, socket_options);
  curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, x);
  curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
  curl_easy_setopt(e, CURLOPT_PREREQDATA, x);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  /* redirects are followed by pf_probe itself, so that credentials go only
   * to the host the user named */
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
  if (c->proxy)
    curl_easy_setopt(e, CURLOPT_PROXY, c->proxy);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
  /* stall_timeout is enforced by tick(): libcurl's low-speed check averages
   * over several seconds, so a stream that stops dead after a fast start
   * would be noticed seconds late */
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  /* libcurl's receive buffer (16 KiB by default, 10 MiB at most): 512 KiB
   * whatever chunk_size is; half the recv calls and window updates of 256 KiB
   * (1 GiB on loopback: 0.78 CPU seconds against 0.89) */
  long bufsize = PF_READ_MAX;
  for (int i = 0; i < 2; i++)
    if (x->rates[i])
      bufsize = pf_rate_read_size(x->rates[i]->rate, bufsize);
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, bufsize);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->tls_verify ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->tls_verify && c->tls_verify_host ? 2L : 0L);
  if (c->tls_cert)
    curl_easy_setopt(e, CURLOPT_SSLCERT, c->tls_cert);
  if (c->tls_key)
    curl_easy_setopt(e, CURLOPT_SSLKEY, c->tls_key);
  if (c->tls_crlfile)
    curl_easy_setopt(e, CURLOPT_CRLFILE, c->tls_crlfile);
  int cacert_only = c->tls_cacert && c->tls_cacert_only;
  if (c->tls_cacert) {
    /* add to the system store rather than replace it, unless told (apt's
     * CaInfo): then no directory at all, not even libcurl's built-in one */
    curl_easy_setopt(e, CURLOPT_CAINFO, c->tls_cacert);
    if (cacert_only)
      curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    else if (!c->tls_capath && access("/etc/ssl/certs", R_OK) == 0)
      curl_easy_setopt(e, CURLOPT_CAPATH, "/etc/ssl/certs");
  }
  if (c->tls_capath && !cacert_only) {
    curl_easy_setopt(e, CURLOPT_CAPATH, c->tls_capath);
    /* libcurl's built-in bundle file, where a system has none (no
     * ca-certificates: a minimal root), fails every handshake before the
     * directory is even looked at: the directory alone then */
    char *bundle = NULL;
    if (!c->tls_cacert && (curl_easy_getinfo(e, CURLINFO_CAINFO, &bundle) != CURLE_OK ||
                           !bundle || access(bundle, R_OK) != 0))
      curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
  }
  long hv = c->http_version == PF_HTTP_1_1 ? CURL_HTTP_VERSION_1_1
            : c->http_version == PF_HTTP_2 ? CURL_HTTP_VERSION_2_0
                                           : CURL_HTTP_VERSION_2TLS;
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, hv);
}

static void xfer_destroy(void *arg) {
  struct pf_xfer *x = arg;
  if (x->in_multi)
    curl_multi_remove_handle(pf_loop_multi(x->loop), x->easy);
  x->in_multi = 0;
  pf_loop_unwatch(x->loop, &x->task);
  if (x->easy)
    curl_easy_cleanup(x->easy);
  curl_slist_free_all(x->hdrs_all);
  curl_slist_free_all(x->hdrs_public);
  curl_slist_free_all(x->hdrs_ims_all);
  curl_slist_free_all(x->hdrs_ims_public);
  reset_reply(x); /* the reply's header values */
  free(x->kept);
  free(x->key);
  pthread_cond_destroy(&x->wcv);
  pthread_mutex_destroy(&x->wmu);
  free(x);
}

void pf_xfer_free(struct pf_xfer *x) {
  if (!x)
    return;
  /* the loop may hold it (a paused probe; a request it ends): it frees it
   * on its own thread; a transfer it never held goes at once */
  if (pf_loop_on_thread(x->loop) || !x->added_ns)
    xfer_destroy(x);
  else
    pf_loop_post_at(x->loop, &x->free_post, xfer_destroy, x);
}

/* The loop thread: x's easy goes into the multi (its request starts). */
static void add_on_loop(void *arg) {
  struct pf_xfer *x = arg;
  pf_loop_watch(x->loop, &x->task);
  if (curl_multi_add_handle(pf_loop_multi(x->loop), x->easy) != CURLM_OK) {
    snprintf(x->errbuf, sizeof x->errbuf, "cannot add a transfer to the loop");
    xfer_done(&x->task, CURLE_OUT_OF_MEMORY);
    return;
  }
  x->in_multi = 1;
}

/* Hand x's prepared request to the loop (from any thread). */
static int submit(struct pf_xfer *x) {
  x->added_ns = pf_now_ns();
  x->sent = 0;
  if (pf_loop_on_thread(x->loop)) {
    add_on_loop(x);
    return 0;
  }
  return pf_loop_post(x->loop, add_on_loop, x);
}

/* Prepare a request for bytes [start, end) (end PF_SIZE_UNKNOWN: to the end;
 * ranged = 0: the whole object) and hand it to the loop. Called by whoever
 * holds x while its easy is out of the multi (the loop thread, or the
 * probe's). -1 if the session stops, or on out of memory. */
static int start_request(struct pf_xfer *x, const char *url, int ranged, uint64_t start,
                         uint64_t end, int credentials) {
  if (pf_stopping(x->s))
    return -1;
  char *key = pf_host_key(url);
  if (!key)
    return -1;
  free(x->key);
  x->key = key;
  x->warm = 0; /* until this reply ends as the server meant it to */
  char range[64];
  if (ranged) {
    if (end == PF_SIZE_UNKNOWN)
      snprintf(range, sizeof range, "%llu-", (unsigned long long)start);
    else
      snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)start,
               (unsigned long long)(end - 1));
  }
  curl_easy_setopt(x->easy, CURLOPT_URL, url);
  curl_easy_setopt(x->easy, CURLOPT_RANGE, ranged ? range : NULL);
  /* If-Modified-Since on the probe only: a range of an unchanged object
   * asked with it would be answered 304 */
  int ims = x->probe_mode && x->hdrs_ims_all;
  curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER,
                   ims ? (credentials ? x->hdrs_ims_all : x->hdrs_ims_public)
                       : (credentials ? x->hdrs_all : x->hdrs_public));
  x->req_start = ranged ? start : 0;
  x->req_end = ranged ? end : PF_SIZE_UNKNOWN;
  x->cur = x->req_start;
  x->checked = x->paused = x->rate_paused = x->room_paused = x->stopped_early = x->fn_abort = 0;
  pthread_mutex_lock(&x->wmu);
  x->keeping = 0;
  free(x->kept);
  x->kept = NULL;
  x->nkept = 0;
  pthread_mutex_unlock(&x->wmu);
  x->opened_fresh = x->took_pre = 0;
  x->finished = 0;
  x->last_rx_ns = pf_now_ns();
  x->verdict = PF_OK;
  x->why[0] = x->errbuf[0] = '\0';
  reset_reply(x);
  if (x->s->log) {
    pf_log(x->s, "GET %s%s%s", url, ranged ? " Range: bytes=" : "", ranged ? range : "");
    for (size_t i = 0; i < x->s->cfg->nheaders; i++) {
      const char *h = x->s->cfg->headers[i];
      int secret = is_secret_header(x->s->cfg, h);
      if (secret && !credentials)
        pf_log(x->s, "  (not sent to this host: %.*s)", (int)strcspn(h, ":"), h);
      else if (secret)
        pf_log(x->s, "  %.*s: <redacted>", (int)strcspn(h, ":"), h);
      else
        pf_log(x->s, "  %s", h);
    }
    if (ims) {
      struct curl_slist *h = x->hdrs_ims_all;
      while (h->next)
        h = h->next;
      pf_log(x->s, "  %s", h->data);
    }
  }
  return submit(x);
}

/* Has run() stopped trusting ranges while this transfer asks for one? */
static int distrusted(const pf_span *span) {
  return span && span->trust && !span->trust->whole && atomic_load(&span->trust->distrust);
}

/* Has a thief taken all that this request has not delivered yet (its end
 * lowered below what it asked for, down to what it claimed)? */
static int taken_over(struct pf_xfer *x) {
  if (!x->span)
    return 0;
  pthread_mutex_lock(&x->span->mu);
  int taken = x->span->end != PF_SIZE_UNKNOWN && x->span->claimed >= x->span->end &&
              (x->req_end == PF_SIZE_UNKNOWN || x->span->end < x->req_end);
  pthread_mutex_unlock(&x->span->mu);
  return taken;
}

/* Time paused (a bucket in debt, no room) is no stall: it counts as a byte
 * received, for stall_timeout and for run()'s thieves. */
static void paused_now(struct pf_xfer *x, uint64_t now) {
  x->last_rx_ns = now;
  if (x->span) {
    pthread_mutex_lock(&x->span->mu);
    x->span->rx_ns = now;
    if (!x->span->first_ns) /* no first byte yet: its request as good as begins now */
      x->span->t0_ns = now;
    pthread_mutex_unlock(&x->span->mu);
  }
}

static void job_after(pf_job *j, CURLcode rc);
static void job_step(pf_job *j);

/* End x's request now, as if libcurl had (the loop thread). */
static void end_now(struct pf_xfer *x, CURLcode rc) {
  if (x->in_multi)
    curl_multi_remove_handle(pf_loop_multi(x->loop), x->easy);
  x->in_multi = 0;
  xfer_done(&x->task, rc);
}

void pf_xfer_room(struct pf_xfer *x) {
  if (x->in_multi && x->room_paused && (!x->room || x->room(x->ctx, x->room_need))) {
    x->room_paused = 0;
    curl_easy_pause(x->easy, CURLPAUSE_CONT); /* on_write gets the kept bytes */
  }
}

/* The paused probe that has held a connection longest (to key, or to any
 * host when the total is what is full), ended so that a transfer waiting
 * for the budget gets one (its session's part 0 asks again: take_probe).
 * A probe that would not make room (another host's, when key's own budget
 * is full) is left alone. */
static void evict_parked(pf_loop *l, const char *key, int any_host) {
  pf_task *t = NULL;
  while ((t = pf_loop_next_parked(l, t)) != NULL)
    if (any_host || (((struct pf_xfer *)t)->key && strcmp(((struct pf_xfer *)t)->key, key) == 0))
      break;
  if (!t)
    return;
  struct pf_xfer *p = (struct pf_xfer *)t;
  pf_log(p->s, "a transfer waits for a connection held by this download's paused probe, "
               "which was opened but not run: the probe's reply is ended");
  t->parked = 0;
  atomic_store(&p->evicted, 1);
  if (p->in_multi)
    curl_multi_remove_handle(pf_loop_multi(l), p->easy);
  p->in_multi = 0;
  pf_loop_unwatch(l, t);
}

/* Every turn of the loop, for a transfer it holds. A request ends here,
 * without waiting for a byte that may never come: when its session stops
 * (or run() no longer trusts ranges: CURLE_ABORTED_BY_CALLBACK); when a
 * thief has taken its rest (stopped_early, with CURLE_WRITE_ERROR as when
 * on_write ends it; the connection goes with it); when no byte came for
 * stall_timeout once its connection was up. A job's backoff wait ends here
 * too. */
static void xfer_tick(pf_task *t, uint64_t now, uint64_t *wake_ns) {
  struct pf_xfer *x = (struct pf_xfer *)t;
  pf_session *s = x->s;
  if (!x->in_multi) { /* a job waiting to try again */
    pf_job *j = x->job;
    if (!j || !j->waiting)
      return;
    if (now >= j->wait_until_ns || pf_stopping(s) || distrusted(x->span)) {
      j->waiting = 0;
      job_step(j);
    } else if (j->wait_until_ns < *wake_ns) {
      *wake_ns = j->wait_until_ns;
    }
    return;
  }
  if (t->parked)
    return; /* a paused probe: its session has not run yet */
  if (x->probe_mode && x->paused && !x->keeping)
    return; /* the probe's thread has it */
  if (x->probe_mode)
    preconnect_on_time(x, now, wake_ns);
  if (pf_stopping(s) || distrusted(x->span)) {
    end_now(x, CURLE_ABORTED_BY_CALLBACK);
    return;
  }
  if (taken_over(x)) {
    x->stopped_early = 1;
    end_now(x, CURLE_WRITE_ERROR);
    return;
  }
  if (x->rate_paused) {
    uint64_t w = rate_wait_ns(x, now);
    paused_now(x, now);
    if (w == 0) {
      x->rate_paused = 0;
      curl_easy_pause(x->easy, CURLPAUSE_CONT); /* on_write gets the kept bytes */
    } else if (now + w < *wake_ns) {
      *wake_ns = now + w;
    }
    return;
  }
  if (x->room_paused) {
    paused_now(x, now);
    pf_xfer_room(x);
    return;
  }
  if (!x->sent) {
    /* no socket of its own yet (not connecting): in libcurl's queue, the
     * budget full; held by paused probes of sessions not run yet, it would
     * be for ever */
    int full;
    if (!x->opened_fresh && now - x->added_ns > PF_PARKED_WAIT_MS * 1000000ull && x->key &&
        (full = pf_client_full(x->s->client, x->key)) != 0) {
      evict_parked(x->loop, x->key, full == 2);
      x->added_ns = now;
    }
    return;
  }
  uint64_t stall_ns = (uint64_t)s->cfg->stall_timeout_ms * 1000000ull;
  if (stall_ns && now - x->last_rx_ns > stall_ns) {
    snprintf(x->errbuf, sizeof x->errbuf, "no data for %.1f s (stall_timeout)",
             (double)stall_ns / 1e9);
    end_now(x, CURLE_OPERATION_TIMEDOUT);
  }
}

/* A request has ended (x is out of the multi): its job decides what comes
 * next, or the thread waiting for it (the probe's) learns the outcome. */
static void xfer_done(pf_task *t, CURLcode rc) {
  struct pf_xfer *x = (struct pf_xfer *)t;
  x->in_multi = 0;
  x->rate_paused = x->room_paused = 0;
  if (x->job) {
    job_after(x->job, rc);
    return;
  }
  pf_loop_unwatch(x->loop, t);
  pthread_mutex_lock(&x->wmu);
  x->finished = 1;
  x->rc = rc;
  pthread_cond_signal(&x->wcv);
  pthread_mutex_unlock(&x->wmu);
}

/* The probe's thread: wait until the request x's owner submitted ends, or
 * pauses on its first body byte (until_paused). Returns the transfer's
 * CURLcode; CURLE_ABORTED_BY_CALLBACK when stopped; CURLE_AGAIN when
 * paused. */
static int probe_ready(void *arg) {
  struct pf_xfer *x = arg;
  return x->finished || x->paused;
}

static CURLcode drive(struct pf_xfer *x, int until_paused) {
  pthread_mutex_lock(&x->wmu);
  if (until_paused)
    pf_spin_wait(&x->wmu, probe_ready, x);
  while (!x->finished && !(until_paused && x->paused))
    pf_cond_wait_ms(&x->wcv, &x->wmu, 100); /* the loop's tick sees a stop */
  /* a kept body's outcome is run()'s (pf_probe_kept): the headers are in */
  CURLcode rc = x->finished && !(until_paused && x->keeping) ? x->rc : CURLE_AGAIN;
  pthread_mutex_unlock(&x->wmu);
  return rc;
}

/* The kind of a network failure, for a host that must tell them apart
 * (apt's FailReason). */
static pf_net_error net_error(CURLcode rc) {
  switch (rc) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    return PF_NET_RESOLVE;
  case CURLE_COULDNT_CONNECT:
    return PF_NET_REFUSED;
  case CURLE_OPERATION_TIMEDOUT:
    return PF_NET_TIMEOUT;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_USE_SSL_FAILED:
    return PF_NET_TLS;
  default:
    return PF_NET_OTHER;
  }
}

static int curl_retryable(CURLcode rc) {
  switch (rc) {
  case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_PARTIAL_FILE:
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_WEIRD_SERVER_REPLY:
    return 1;
  default:
    return 0;
  }
}

/* Turn a finished attempt into an outcome. */
static attempt judge(struct pf_xfer *x, CURLcode rc) {
  pf_session *s = x->s;
  attempt a = {PF_OK, 0, 0, -1, ""};
  /* a reply we cut short closes an HTTP/1.1 connection; a finished one
   * leaves it open for the next request (HTTP/2 keeps it either way) */
  long hv = 0;
  curl_easy_getinfo(x->easy, CURLINFO_HTTP_VERSION, &hv);
  x->warm = rc == CURLE_OK || (hv == CURL_HTTP_VERSION_2_0 && x->stopped_early);
  const char *url = x->probe_mode ? s->url : pf_source_url(s, x->src);
  if (rc == CURLE_ABORTED_BY_CALLBACK || (x->fn_abort && !x->stopped_early)) {
    a.st = PF_E_CANCELLED;
    snprintf(a.why, sizeof a.why, "stopped");
    return a;
  }
  if (x->stopped_early)
    return a;
  if (x->verdict != PF_OK) {
    a.st = x->verdict;
    if (x->verdict == PF_E_HTTP)
      atomic_store(&s->last_http, (unsigned)x->status);
    snprintf(a.why, sizeof a.why, "%s", x->why);
    /* a 206 that says the wrong thing, or an error page, may be a glitch */
    a.retry = x->verdict == PF_E_BAD_REPLY || (x->verdict == PF_E_HTTP && http_retryable(x->status));
    a.wait_s = x->retry_after;
    return a;
  }
  if (rc == CURLE_OK && !x->checked && !x->probe_mode) {
    /* an empty body never reached the write callback */
    if (check_reply(x) != 0)
      return judge(x, rc);
    x->checked = 1;
  }
  if (rc != CURLE_OK) {
    a.st = rc == CURLE_URL_MALFORMAT    ? PF_E_URL
           : rc == CURLE_OUT_OF_MEMORY ? PF_E_NOMEM
                                       : PF_E_NETWORK;
    a.retry = curl_retryable(rc);
    atomic_store(&s->last_net, (unsigned)net_error(rc));
    snprintf(a.why, sizeof a.why, "%s: %s", url, x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    return a;
  }
  if (x->probe_mode)
    return a;
  uint64_t want = x->stop_at;
  if (x->span) {
    pthread_mutex_lock(&x->span->mu);
    want = x->span->end;
    pthread_mutex_unlock(&x->span->mu);
  }
  if (want != PF_SIZE_UNKNOWN && x->pos < want) {
    /* a whole reply to a request for less than the part (the probe asks
     * for the first bytes only): the rest is the next request's */
    if (x->status == 206 && x->have_cr == 1 && x->pos == x->cr_end + 1 && x->pos > x->req_start) {
      a.more = 1;
      return a;
    }
    a.st = PF_E_NETWORK;
    a.retry = 1;
    snprintf(a.why, sizeof a.why, "%s: the reply ended at byte %llu of %llu", url,
             (unsigned long long)x->pos, (unsigned long long)want);
  }
  return a;
}

/* The backoff after `tries` failed attempts, or Retry-After: ms. */
static long backoff_ms(struct pf_xfer *x, unsigned tries, long wait_s) {
  const pf_config *c = x->s->cfg;
  long ms = c->retry_wait_ms;
  for (unsigned i = 1; i < tries && ms < c->retry_max_wait_ms; i++)
    ms *= 2;
  if (ms > c->retry_max_wait_ms)
    ms = c->retry_max_wait_ms;
  x->rng ^= x->rng << 13;
  x->rng ^= x->rng >> 7;
  x->rng ^= x->rng << 17;
  ms = ms / 2 + (long)(x->rng % (uint64_t)(ms / 2 + 1)); /* jitter: [ms/2, ms] */
  if (wait_s >= 0 && wait_s * 1000 > ms)
    ms = wait_s * 1000 > 600000 ? 600000 : wait_s * 1000;
  return ms;
}

/* The probe's thread sleeps it off, in slices, returning early if the
 * session stops. */
static void backoff(struct pf_xfer *x, unsigned tries, long wait_s) {
  long ms = backoff_ms(x, tries, wait_s);
  while (ms > 0 && !pf_stopping(x->s)) {
    long step = ms > 100 ? 100 : ms;
    struct timespec ts = {0, step * 1000000L};
    nanosleep(&ts, NULL);
    ms -= step;
  }
}

/* A bad reply to a ranged request of run(), counted by kind (a 200: the
 * Range was ignored; anything else: a wrong Content-Range or length). The
 * same kind from PF_DISTRUST_AFTER requests is the server's way, not a
 * glitch: run() stops trusting ranges. In the whole-object fetch that follows
 * a bad reply is final. */
static void count_bad(struct pf_xfer *x, attempt *a) {
  pf_span *span = x->span;
  if (!span || !span->trust || a->st != PF_E_BAD_REPLY)
    return;
  pf_trust *t = span->trust;
  if (t->whole) {
    a->retry = 0;
    return;
  }
  if (x->req_start == 0 && x->req_end == PF_SIZE_UNKNOWN)
    return; /* not a ranged request */
  if (x->src)
    return; /* a mirror's: it is dropped (run.c), the primary's ranges keep their trust */
  int kind = x->status == 200 ? PF_BAD_IGNORED : PF_BAD_RANGE;
  unsigned n = atomic_fetch_add(&t->bad[kind], 1) + 1;
  if (n >= PF_DISTRUST_AFTER && atomic_exchange(&t->distrust, 1) == 0)
    pf_log(x->s, "%u ranged requests answered the same wrong way (%s): no longer trusting ranges; "
           "fetching the rest with one request for the whole object",
           n, kind == PF_BAD_IGNORED ? "Range ignored" : "wrong Content-Range");
}

static int discard_data(void *ctx, uint64_t off, const void *buf, size_t len) {
  (void)ctx, (void)off, (void)buf, (void)len;
  return 0;
}

static int same_host(const char *a, const char *b) {
  if (strcmp(a, b) == 0)
    return 1; /* (no redirect: the URL the probe ended at is the one given) */
  int same = 0;
  CURLU *ua = curl_url(), *ub = curl_url();
  char *ha = NULL, *hb = NULL, *pa = NULL, *pb = NULL, *sa = NULL, *sb = NULL;
  if (ua && ub && curl_url_set(ua, CURLUPART_URL, a, 0) == CURLUE_OK &&
      curl_url_set(ub, CURLUPART_URL, b, 0) == CURLUE_OK &&
      curl_url_get(ua, CURLUPART_HOST, &ha, 0) == CURLUE_OK &&
      curl_url_get(ub, CURLUPART_HOST, &hb, 0) == CURLUE_OK &&
      curl_url_get(ua, CURLUPART_PORT, &pa, CURLU_DEFAULT_PORT) == CURLUE_OK &&
      curl_url_get(ub, CURLUPART_PORT, &pb, CURLU_DEFAULT_PORT) == CURLUE_OK &&
      curl_url_get(ua, CURLUPART_SCHEME, &sa, 0) == CURLUE_OK &&
      curl_url_get(ub, CURLUPART_SCHEME, &sb, 0) == CURLUE_OK)
    same = strcasecmp(ha, hb) == 0 && strcmp(pa, pb) == 0 && strcasecmp(sa, sb) == 0;
  curl_free(ha), curl_free(hb), curl_free(pa), curl_free(pb), curl_free(sa), curl_free(sb);
  curl_url_cleanup(ua);
  curl_url_cleanup(ub);
  return same;
}

int pf_same_host(const char *a, const char *b) {
  return same_host(a, b);
}

static char *dup_or_null(const char *v) {
  return v && v[0] ? strdup(v) : NULL;
}

/* Learn size, validator and range support from the probe's headers. What
 * is learned is published under info_mu: get_info may be reading it (run()
 * probes again when it restarts a changed object). */
static pf_status learn(pf_session *s, struct pf_xfer *x, const char *url) {
  uint64_t size;
  int ranges = 0;
  if (x->status == 206) {
    if (x->have_cr != 1 || x->cr_unsat || x->cr_start != s->probe_start)
      return pf_fail(s, PF_E_BAD_REPLY,
                     "%s answered 206 without a valid Content-Range for bytes %llu-", url,
                     (unsigned long long)s->probe_start);
    size = x->cr_total;
    ranges = size != PF_SIZE_UNKNOWN;
  } else if (x->status == 200) {
    size = x->have_cl ? x->cl : PF_SIZE_UNKNOWN;
    s->probe_start = 0; /* the whole object, from byte 0 */
  } else if (x->status == 416 && x->have_cr == 1 && x->cr_unsat &&
             x->cr_total != PF_SIZE_UNKNOWN && x->cr_total <= s->probe_start) {
    /* an empty object; or one that a prefix at out_path holds whole */
    size = x->cr_total;
    ranges = s->probe_start > 0;
  } else if (x->status == 304 && s->ims) {
    char when[PF_HTTP_DATE_MAX];
    pf_http_date(when, sizeof when, s->ims);
    atomic_store(&s->last_http, 304u);
    return pf_fail(s, PF_E_NOT_MODIFIED, "%s: not modified since %s", url, when);
  } else {
    atomic_store(&s->last_http, (unsigned)x->status);
    return pf_fail(s, PF_E_HTTP, "HTTP %ld from %s", x->status, url);
  }
  if (s->max_size && size != PF_SIZE_UNKNOWN && size > s->max_size)
    return pf_fail(s, PF_E_TOO_LARGE, "%s is %llu bytes, more than the %llu allowed", url,
                   (unsigned long long)size, (unsigned long long)s->max_size);
  if (size != PF_SIZE_UNKNOWN && size > PF_SIZE_MAX) /* on_header refused it already */
    return pf_fail(s, PF_E_BAD_REPLY, "%s claims %llu bytes, more than a file can hold", url,
                   (unsigned long long)size);
  long hv = x->hv; /* (the probe may still be in the loop's multi: no getinfo here) */
  /* a weak ETag does not promise the same bytes: never a validator */
  int weak = x->etag && strncmp(x->etag, "W/", 2) == 0;
  char *etag = weak ? NULL : dup_or_null(x->etag), *weak_etag = weak ? dup_or_null(x->etag) : NULL;
  char *last_modified = dup_or_null(x->last_modified);
  char *content_type = dup_or_null(x->content_type), *effective_url = strdup(url);
  if (!effective_url || (x->etag && x->etag[0] && !etag && !weak_etag) ||
      (x->last_modified && x->last_modified[0] && !last_modified) ||
      (x->content_type && x->content_type[0] && !content_type)) {
    free(etag), free(weak_etag), free(last_modified), free(content_type), free(effective_url);
    return pf_fail(s, PF_E_NOMEM, "out of memory");
  }
  pthread_mutex_lock(&s->info_mu);
  /* a second probe (a 416 without validators) learns them anew */
  char *old[] = {s->etag, s->weak_etag, s->last_modified, s->content_type, s->effective_url};
  s->size = size;
  s->ranges = ranges;
  s->http_version = hv == CURL_HTTP_VERSION_1_0   ? 10
                    : hv == CURL_HTTP_VERSION_1_1 ? 11
                    : hv == CURL_HTTP_VERSION_2_0 ? 20
                    : hv == CURL_HTTP_VERSION_3   ? 30
                                                  : 0;
  s->etag = etag;
  s->weak_etag = weak_etag;
  s->last_modified = last_modified;
  s->content_type = content_type;
  s->effective_url = effective_url;
  pthread_mutex_unlock(&s->info_mu);
  for (size_t i = 0; i < sizeof old / sizeof old[0]; i++)
    pf_retire(s, old[i]);
  atomic_store(&s->size_seen, size);
  s->cross_host = !same_host(s->url, s->effective_url);
  return PF_OK;
}

/* The loop thread: take x's paused request out of the multi for the thread
 * that waits in reclaim(). */
static void reclaim_on_loop(void *arg) {
  struct pf_xfer *x = arg;
  if (x->in_multi)
    curl_multi_remove_handle(pf_loop_multi(x->loop), x->easy);
  x->in_multi = 0;
  pf_loop_unwatch(x->loop, &x->task);
  pthread_mutex_lock(&x->wmu);
  x->reclaimed = 1;
  pthread_cond_signal(&x->wcv);
  pthread_mutex_unlock(&x->wmu);
}

/* The probe's thread: its request paused on its first body byte (a
 * redirect's, an error page's) is ended, before the next one. 0, or -1 on
 * out of memory. */
static int reclaim(struct pf_xfer *x) {
  pthread_mutex_lock(&x->wmu);
  x->reclaimed = 0;
  pthread_mutex_unlock(&x->wmu);
  if (pf_loop_post(x->loop, reclaim_on_loop, x) != 0)
    return -1;
  pthread_mutex_lock(&x->wmu);
  while (!x->reclaimed)
    pf_cond_wait_ms(&x->wcv, &x->wmu, 100);
  pthread_mutex_unlock(&x->wmu);
  return 0;
}

static int is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* One probe attempt: GET url with "Range: bytes=0-END", following redirects
 * ourselves so that credentials go only to the host the user named. Returns
 * the final CURLcode (CURLE_AGAIN: paused on the first body byte) and the
 * URL it ended at in *final (malloc'd, or NULL for s->url). */
static CURLcode probe_once(pf_session *s, struct pf_xfer *x, uint64_t end, char **final,
                           attempt *a) {
  const char *url = s->url;
  char *owned = NULL;
  CURLcode rc;
  for (unsigned hops = 0;; hops++) {
    int creds = owned == NULL || same_host(s->url, url);
    if ((x->paused && reclaim(x) != 0) ||
        start_request(x, url, 1, s->probe_start, end, creds) != 0) {
      /* stopped while it waited for a connection, or out of memory */
      a->st = pf_stopping(s) ? PF_E_CANCELLED : PF_E_NOMEM;
      snprintf(a->why, sizeof a->why, "cannot start a transfer for %s", url);
      rc = CURLE_OUT_OF_MEMORY;
      break;
    }
    rc = drive(x, 1);
    if ((rc != CURLE_AGAIN && rc != CURLE_OK) || !is_redirect(x->status) || !x->location ||
        !x->location[0])
      break;
    char *loc = pf_http_resolve_location(url, x->location);
    if (!loc) {
      a->st = PF_E_HTTP;
      atomic_store(&s->last_http, (unsigned)x->status); /* a 3xx not followed */
      /* no precision: cut only where the buffer ends, so a password cut
       * short still ends the text and is redacted (text.c) */
      snprintf(a->why, sizeof a->why, "%s: redirect to a malformed URL \"%s\"", url,
               x->location);
      free(owned);
      *final = NULL;
      return CURLE_WEIRD_SERVER_REPLY;
    }
    if (!s->cfg->redirect_downgrade && strncasecmp(url, "https:", 6) == 0 &&
        strncasecmp(loc, "https:", 6) != 0) {
      a->st = PF_E_HTTP;
      atomic_store(&s->last_http, (unsigned)x->status); /* a 3xx not followed */
      snprintf(a->why, sizeof a->why, "%s: redirect from https to %s refused (redirect_downgrade)",
               url, loc);
      free(loc);
      free(owned);
      *final = NULL;
      return CURLE_WEIRD_SERVER_REPLY;
    }
    if (hops >= s->cfg->max_redirects) {
      free(loc);
      a->st = PF_E_HTTP;
      atomic_store(&s->last_http, (unsigned)x->status); /* a 3xx not followed */
      snprintf(a->why, sizeof a->why, "%s: more than %u redirects", s->url,
               s->cfg->max_redirects);
      free(owned);
      *final = NULL;
      return CURLE_TOO_MANY_REDIRECTS;
    }
    pf_log(s, "redirect %ld to %s%s", x->status, loc,
           same_host(s->url, loc) ? "" : " (another host: credentials withheld)");
    if (!same_host(url, loc))
      pf_preconnect_drop(s); /* opened to the wrong host: the next hop opens its own */
    free(owned);
    owned = loc;
    url = owned;
  }
  *final = owned;
  return rc;
}

static void park_on_loop(void *arg) {
  struct pf_xfer *x = arg;
  x->probe_mode = 0;
  x->checked = 1;
  x->cur = x->s->probe_start;
  x->pos = x->s->probe_start;
  x->task.parked = 1;
}

pf_status pf_probe(pf_session *s) {
  struct pf_xfer *x = pf_xfer_new(s, 0);
  if (!x)
    return pf_fail(s, PF_E_NOMEM, "cannot create a transfer for %s", s->url);
  x->probe_mode = 1;
  x->fn = discard_data;
  if (s->ims) {
    char line[sizeof "If-Modified-Since: " + PF_HTTP_DATE_MAX];
    int ok = 1;
    memcpy(line, "If-Modified-Since: ", sizeof "If-Modified-Since: ");
    if (pf_http_date(line + strlen(line), PF_HTTP_DATE_MAX, s->ims) == 0) {
      pf_xfer_free(x);
      return pf_fail(s, PF_E_INVALID, "open: if_modified_since %lld is not a date HTTP can carry",
                     (long long)s->ims);
    }
    for (struct curl_slist *h = x->hdrs_all; ok && h; h = h->next)
      x->hdrs_ims_all = append_header(x->hdrs_ims_all, h->data, &ok);
    for (struct curl_slist *h = x->hdrs_public; ok && h; h = h->next)
      x->hdrs_ims_public = append_header(x->hdrs_ims_public, h->data, &ok);
    x->hdrs_ims_all = append_header(x->hdrs_ims_all, line, &ok);
    x->hdrs_ims_public = append_header(x->hdrs_ims_public, line, &ok);
    if (!ok) {
      pf_xfer_free(x);
      return pf_fail(s, PF_E_NOMEM, "out of memory");
    }
  }
  /* Ask for the first min_part_size bytes, not for everything from byte 0:
   * the reply then ends where the server meant it to, and its connection
   * (the most ramped-up one) carries the worker's next request. An open
   * range would have to be cut when part 0 is done, wasting everything in
   * flight on it (tens of MB on a long fat link) and the connection too.
   * In order, the first part is the in-order plan's (reorder.c). With one
   * stream the whole object is one part anyway. */
  uint64_t end = s->probe_short ? s->probe_start + PF_PROBE_SHORT
                 : s->cfg->max_streams > 1 && s->in_order
                     ? s->probe_start + pf_reorder_part_size(s->cfg->stream_window,
                                                             s->cfg->max_streams, s->cfg->chunk_size)
                 : s->cfg->max_streams > 1 && s->cfg->min_part_size > 0
                     ? s->probe_start + s->cfg->min_part_size
                     : PF_SIZE_UNKNOWN;
  int reprobed = 0;
  for (unsigned tries = 1;; tries++) {
    attempt a = {PF_OK, 0, 0, -1, ""};
    char *final = NULL;
    CURLcode rc = probe_once(s, x, end, &final, &a);
    const char *url = final ? final : s->url;
    if (a.st == PF_OK && rc != CURLE_AGAIN)
      a = judge(x, rc);
    if (a.st == PF_OK && http_retryable(x->status)) {
      a.st = PF_E_HTTP;
      atomic_store(&s->last_http, (unsigned)x->status);
      a.retry = 1;
      a.wait_s = x->retry_after;
      snprintf(a.why, sizeof a.why, "HTTP %ld from %s", x->status, url);
    }
    /* nothing listening, or a name that does not resolve: say so at once */
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
      a.retry = 0;
    if (a.st == PF_OK) {
      pf_status st = learn(s, x, url);
      free(final);
      if (st != PF_OK) {
        /* a reply being kept is still live in the loop's multi: the loop may
         * call back into s until the free posted here has run (the host may
         * close s as soon as open() returns) */
        pf_loop *l = x->loop;
        pf_xfer_free(x);
        pf_loop_sync(l);
        pf_preconnect_drop(s);
        return st;
      }
      if (x->status == 416 && s->probe_start > 0 && s->size > 0 && !s->etag &&
          !s->weak_etag && !s->last_modified && !reprobed++) {
        /* the prefix at out_path reaches the end, but the 416 (nginx's)
         * names no validator: without one the prefix cannot be taken, no
         * change is seen and nothing is resumable. The last byte's 206
         * names them. */
        pf_log(s, "HTTP 416 without ETag or Last-Modified: asking for the last byte");
        s->probe_start = s->size - 1;
        end = s->size;
        tries = 0;
        continue;
      }
      /* the whole reply has come (no body); or a 206 to the bounded probe
       * that does not say the total ("bytes 0-N/ *"): its body is only the
       * start of an object of unknown size, and part 0 must ask for all */
      if (rc != CURLE_AGAIN || x->status == 416 ||
          (x->status == 206 && s->size == PF_SIZE_UNKNOWN && end != PF_SIZE_UNKNOWN)) {
        pf_xfer_free(x);
        x = NULL;
      }
      break;
    }
    free(final);
    if (rc == CURLE_OPERATION_TIMEDOUT)
      preconnect_give_up(s, a.why); /* they may be what it waited behind */
    if (!a.retry || tries >= s->cfg->retries || atomic_load(&s->stop)) {
      pf_xfer_free(x);
      pf_preconnect_drop(s); /* no download: nothing will use them */
      if (atomic_load(&s->cancelled))
        return pf_fail(s, PF_E_CANCELLED, "cancelled");
      return pf_fail(s, a.st, "%s", a.why);
    }
    atomic_fetch_add(&s->retries, 1);
    pf_log(s, "probe failed (%s); attempt %u of %u", a.why, tries + 1, s->cfg->retries);
    backoff(x, tries, a.wait_s);
  }
  /* paused until run() (or fetch_part) takes it: the loop holds it, and
   * may end it for a transfer that waits for the budget (evict_parked).
   * Parked at the loop's next turn, without a wakeup of its own: run()'s
   * start (posted after it) is what usually wakes the loop next, and the
   * loop's tick leaves a paused probe alone until then. */
  if (x && !x->keeping) /* (a kept reply holds no connection once it has come) */
    pf_loop_post_lazy(x->loop, &x->park_post, park_on_loop, x);
  if (x && x->keeping && s->log)
    pf_log(s, "the probe's reply is the whole object (%llu bytes): kept as it comes, for run()",
           (unsigned long long)s->size);
  s->probe = x;
  return PF_OK;
}

/* Take the paused probe if part 0 may use it. */
static struct pf_xfer *take_probe(pf_session *s) {
  pthread_mutex_lock(&s->probe_mu);
  struct pf_xfer *p = s->probe;
  s->probe = NULL;
  pthread_mutex_unlock(&s->probe_mu);
  /* its reply was ended: part 0 asks anew; or it keeps its body for run()
   * (a host's fetch_part of part 0: the part asks anew) */
  if (p && (atomic_load(&p->evicted) || p->keeping)) {
    pf_xfer_free(p);
    return NULL;
  }
  return p;
}

static int kept_ready(void *arg) {
  return ((struct pf_xfer *)arg)->finished;
}

pf_status pf_probe_kept(pf_session *s, int *whole) {
  *whole = 0;
  pthread_mutex_lock(&s->probe_mu);
  struct pf_xfer *p = s->probe;
  int keeping = p && p->keeping; /* (set before open() returned) */
  if (keeping)
    s->probe = NULL;
  pthread_mutex_unlock(&s->probe_mu);
  if (!keeping)
    return PF_OK;
  /* the rest of a small reply is on its way (the loop's tick ends it on a
   * stop or a stall) */
  pthread_mutex_lock(&p->wmu);
  pf_spin_wait(&p->wmu, kept_ready, p);
  while (!p->finished)
    pf_cond_wait_ms(&p->wcv, &p->wmu, 100);
  size_t n = p->nkept;
  /* all the object's bytes came: whole, whatever came after them (a
   * Content-Length that claimed more, the connection then closed) */
  int complete = n == s->size;
  pthread_mutex_unlock(&p->wmu);
  /* what came is the object's first bytes, checked as the probe's reply
   * was (learn()); a reply cut short leaves the rest to run()'s parts. A
   * resumed side file holds some already: only the gaps are stored. */
  pf_status st = PF_OK;
  uint64_t at = 0, stored = 0;
  while (st == PF_OK && at < n) {
    pthread_mutex_lock(&s->mu);
    uint64_t from = at, to = n;
    for (size_t i = 0; i < s->written.n; i++) {
      const pf_range *r = &s->written.v[i];
      if (r->start <= from && from < r->end)
        from = r->end; /* stored: skip it */
      else if (r->start > from && r->start < to)
        to = r->start; /* the gap ends where stored bytes begin */
    }
    pthread_mutex_unlock(&s->mu);
    if (from >= n)
      break;
    if (to > from) {
      st = pf_sink_store(s, from, p->kept + from, (size_t)(to - from));
      stored += to - from;
    }
    at = to > from ? to : from;
  }
  if (st == PF_OK && complete && stored == 0) {
    /* a resumed side file held all of it: nothing was fetched for it */
  } else if (st == PF_OK && complete) {
    *whole = 1;
    atomic_fetch_add(&s->parts_done, 1);
    unsigned none = 0; /* its one stream was the probe's (get_stats' streams_max) */
    atomic_compare_exchange_strong(&s->max_active, &none, 1);
    pf_log(s, "bytes 0-%llu done: the probe's reply", (unsigned long long)(n - 1));
  } else if (st == PF_OK && s->log) {
    pf_log(s, "the probe's reply ended at byte %llu of %llu (%s): the rest is fetched",
           (unsigned long long)n, (unsigned long long)s->size,
           p->rc == CURLE_OK ? "short" : curl_easy_strerror(p->rc));
  }
  /* out of the loop's multi and ring (finished): freed at the loop's next
   * turn, without a wakeup of its own */
  pf_loop_post_lazy(p->loop, &p->free_post, xfer_destroy, p);
  return st;
}

int pf_xfer_warm(const struct pf_xfer *x) {
  return x->warm;
}

void pf_drop_probe(pf_session *s) {
  struct pf_xfer *p = take_probe(s);
  pf_loop *l = p ? p->loop : NULL;
  pf_xfer_free(p);
  /* the loop may look at a parked probe's session (evict_parked) until it
   * is freed: the caller may free the session next */
  if (l)
    pf_loop_sync(l);
}

static uint64_t span_end(pf_span *span, uint64_t fixed) {
  if (!span)
    return fixed;
  pthread_mutex_lock(&span->mu);
  uint64_t e = span->end;
  pthread_mutex_unlock(&span->mu);
  return e;
}

/* ---- jobs: a part with its retries, on the loop ------------------------- */

/* The job has ended: its result, then done() at the next turn when it ended
 * inside pf_job_start (so that done() may start the next job at once). */
static void job_finish(pf_job *j);

static void job_done_posted(void *arg) {
  pf_job *j = arg;
  j->done(j);
}

/* done() at l's next turn (the job ended inside pf_job_start), or now if
 * that cannot be posted. */
static void job_done_later(pf_loop *l, pf_job *j) {
  if (pf_loop_post(l, job_done_posted, j) != 0)
    j->done(j);
}

static void job_end(pf_job *j) {
  pf_loop *l = j->x->loop;
  j->x->job = NULL;
  pf_loop_unwatch(l, &j->x->task);
  job_finish(j);
  if (j->starting)
    job_done_later(l, j);
  else
    j->done(j);
}

void pf_job_start(pf_job *j) {
  pf_session *s = j->s;
  const pf_part *part = &j->part;
  j->end = part->length == PF_SIZE_UNKNOWN ? PF_SIZE_UNKNOWN : part->offset + part->length;
  struct pf_xfer *probe = part->offset == s->probe_start && !j->src ? take_probe(s) : NULL;
  pf_loop *loop = j->x ? j->x->loop : j->loop;
  j->st = PF_OK;
  j->src_failed = 0;
  j->retry = j->more = 0;
  j->wait_s = -1;
  j->why[0] = '\0';
  j->tries = 0;
  j->waiting = 0;
  j->pre_wait_ns = 0;
  j->pos = part->offset;
  j->t0_ns = pf_now_ns();
  if (part->length == 0) {
    pf_xfer_free(probe);
    atomic_fetch_add(&s->parts_done, 1);
    j->result = PF_OK;
    job_done_later(loop, j);
    return;
  }
  if (probe && (!probe->in_multi || probe->loop != loop)) {
    /* libcurl ended its reply meanwhile; or it is on another network
     * thread than this job (a host's fetch_part of part 0 from a thread
     * whose loop is not the probe's): part 0 asks anew */
    pf_xfer_free(probe);
    probe = NULL;
  }
  if (probe) {
    /* the probe's transfer becomes the job's: its reply goes on as part
     * 0, and its connection carries the requests after it */
    probe->task.parked = 0;
    pf_xfer_free(j->x);
    j->x = probe;
  }
  if (!j->x && !(j->x = pf_xfer_new(s, j->lane))) {
    j->result = pf_fail(s, PF_E_NOMEM, "cannot create a transfer");
    job_done_later(loop, j);
    return;
  }
  j->continue_probe = probe != NULL;
  atomic_fetch_add(&s->active, 1);
  unsigned act = atomic_load(&s->active), mx = atomic_load(&s->max_active);
  while (act > mx && !atomic_compare_exchange_weak(&s->max_active, &mx, act))
    ;
  /* run()'s one GET of the whole object, after it stopped trusting ranges */
  j->ranged = s->ranges && !(j->span && j->span->trust && j->span->trust->whole);
  j->x->job = j;
  pf_loop_watch(j->x->loop, &j->x->task);
  j->result = PF_E_INTERNAL; /* until job_finish */
  /* job_step may end the job at once: done() then runs at the next turn */
  j->starting = 1;
  job_step(j);
  j->starting = 0;
}

/* The next request of the job: the top of the loop of attempts. */
static void job_step(pf_job *j) {
  pf_session *s = j->s;
  struct pf_xfer *x = j->x;
  const char *url = pf_source_url(s, j->src);
  if (distrusted(j->span)) { /* no further ranged request: run() takes over */
    j->st = PF_E_BAD_REPLY;
    snprintf(j->why, sizeof j->why, "%s: ranges are not trusted", url);
    job_end(j);
    return;
  }
  j->end = span_end(j->span, j->end);
  if (j->end != PF_SIZE_UNKNOWN && j->pos >= j->end) { /* a thief took the rest */
    j->st = PF_OK;
    job_end(j);
    return;
  }
  x->fn = j->fn;
  x->ctx = j->ctx;
  x->room = j->room;
  x->span = j->span;
  x->stop_at = j->end;
  if (j->span) { /* a new request: its rate and time to first byte start now */
    pthread_mutex_lock(&j->span->mu);
    j->span->start = j->pos;
    j->span->t0_ns = pf_now_ns();
    j->span->first_ns = 0;
    pthread_mutex_unlock(&j->span->mu);
  }
  if (j->continue_probe) {
    /* continue the probe's reply: its first bytes are part 0's */
    j->continue_probe = 0;
    x->last_rx_ns = pf_now_ns(); /* it waited for run(), not for the server */
    x->sent = 1;
    if (x->paused) {
      x->paused = 0;
      curl_easy_pause(x->easy, CURLPAUSE_CONT);
    }
    return; /* xfer_done() or tick() go on */
  }
  x->pos = j->pos;
  x->src = j->src;
  uint64_t now = pf_now_ns();
  if (!j->pre_wait_ns)
    j->pre_wait_ns = now;
  if (now - j->pre_wait_ns < PRECONNECT_WAIT_NS && preconnect_connecting(s)) {
    j->wait_until_ns = now + 1000000ull; /* tick() looks again in 1 ms */
    j->waiting = 1;
    return;
  }
  /* credentials only to the primary URL's host (a mirror elsewhere: none) */
  int creds = j->src ? atomic_load(&s->src[j->src].creds) : !s->cross_host;
  if (start_request(x, url, j->ranged, j->pos, j->end, creds) != 0) {
    /* stopped, or out of memory */
    j->st = pf_stopping(s) ? PF_E_CANCELLED : PF_E_NOMEM;
    snprintf(j->why, sizeof j->why, "cannot start a transfer for %s", url);
    job_end(j);
  }
}

/* A request of the job has ended with rc: on to the next one, a wait, or
 * the end. */
static void job_after(pf_job *j, CURLcode rc) {
  pf_session *s = j->s;
  struct pf_xfer *x = j->x;
  const char *url = pf_source_url(s, j->src);
  attempt a = judge(x, rc);
  count_bad(x, &a);
  if (j->src && a.st != PF_OK && is_redirect(x->status) && x->location && x->location[0]) {
    /* a mirror's redirect: followed by the session's rules (source.c) */
    if (pf_source_redirect(s, j->src, url, x->status, x->location, a.why, sizeof a.why) == 0) {
      job_step(j); /* the same range, from where it leads */
      return;
    }
  }
  if (j->src)
    a.retry = 0; /* a mirror that fails is dropped: the other sources take its range */
  uint64_t reached = x->pos;
  if (a.st == PF_OK && a.more && reached <= j->pos) {
    /* "the rest is the next request's" with nothing delivered: a server
     * that answers with less than it was asked for; not an endless loop */
    a.st = PF_E_BAD_REPLY;
    a.retry = 1;
    a.more = 0;
    snprintf(a.why, sizeof a.why, "%s: a reply ended at byte %llu, where it began", url,
             (unsigned long long)reached);
  }
  if (reached > j->pos)
    j->tries = 0; /* progress: the attempt count starts again */
  j->pos = reached;
  j->st = a.st;
  j->retry = a.retry;
  snprintf(j->why, sizeof j->why, "%s", a.why);
  if (a.st == PF_OK && a.more) {
    job_step(j); /* on to the next request, on the same connection */
    return;
  }
  if (a.st == PF_OK) {
    job_end(j);
    return;
  }
  j->tries++;
  if (!a.retry || j->tries >= s->cfg->retries || atomic_load(&s->stop) || distrusted(j->span)) {
    job_end(j);
    return;
  }
  atomic_fetch_add(&s->retries, 1);
  pf_log(s, "bytes %llu-%llu: %s; attempt %u of %u", (unsigned long long)j->pos,
         (unsigned long long)(j->end == PF_SIZE_UNKNOWN ? 0 : j->end - 1), a.why, j->tries + 1,
         s->cfg->retries);
  /* the backoff: tick() starts the next attempt when it is over */
  j->wait_until_ns = pf_now_ns() + (uint64_t)backoff_ms(x, j->tries, a.wait_s) * 1000000ull;
  j->waiting = 1;
}

/* The end of the loop of attempts: the part's outcome in j->result. */
static void job_finish(pf_job *j) {
  pf_session *s = j->s;
  const pf_part *part = &j->part;
  uint64_t pos = j->pos;
  atomic_fetch_sub(&s->active, 1);
  if (j->st != PF_OK && distrusted(j->span) && !atomic_load(&s->stop)) {
    j->result = PF_E_BAD_REPLY; /* not the session's failure: run() fetches the rest without ranges */
    return;
  }
  if (j->st == PF_OK) {
    atomic_fetch_add(&s->parts_done, 1);
    if (s->log && pos > part->offset) {
      double secs = (double)(pf_now_ns() - j->t0_ns) / 1e9;
      pf_log(s, "bytes %llu-%llu done: %.1f MB in %.3f s (%.1f MB/s)",
             (unsigned long long)part->offset, (unsigned long long)(pos - 1),
             (double)(pos - part->offset) / 1e6, secs,
             secs > 0 ? (double)(pos - part->offset) / 1e6 / secs : 0.0);
    }
    if (j->end == PF_SIZE_UNKNOWN) {
      atomic_store(&s->end_seen, pos);
      atomic_store(&s->size_final, 1);
    }
    j->result = PF_OK;
    return;
  }
  /* the primary's own failure, its retries spent, with mirrors: run() drops
   * it when a mirror is live (an object that changed there fails) */
  int alone = j->st == PF_E_NETWORK || j->st == PF_E_HTTP || j->st == PF_E_BAD_REPLY;
  if ((j->src || (j->failover && alone)) && j->st != PF_E_CANCELLED && !atomic_load(&s->stop)) {
    j->src_failed = 1; /* not the session's failure: run() drops the source */
    j->result = j->st;
    return;
  }
  if (j->st == PF_E_CANCELLED) {
    if (atomic_load(&s->cancelled)) {
      j->result = pf_fail(s, PF_E_CANCELLED, "cancelled");
      return;
    }
    pf_status first = atomic_load(&s->err);
    /* the session stopped for an error elsewhere, or the host's data
     * callback gave up this part only: the session goes on */
    j->result = first != PF_OK ? first : PF_E_CANCELLED;
    return;
  }
  if (j->tries >= s->cfg->retries && j->retry)
    j->result = pf_fail(s, j->st, "%s (gave up after %u attempts)", j->why, j->tries);
  else
    j->result = pf_fail(s, j->st, "%s", j->why);
}

/* ---- fetch_part: a job whose data the host's thread takes ---------------- */

/* One callback's bytes at a time, from the loop to the waiting thread. */
typedef struct handoff {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pf_job job;
  pf_data_fn fn;
  void *ctx;
  unsigned char *buf;
  size_t cap, len; /* len > 0: bytes for the host's thread */
  uint64_t off;
  int failed; /* fn said stop: the next bytes end the reply */
  int done;
} handoff;

static int hand_room(void *ctx, size_t n) {
  handoff *h = ctx;
  pthread_mutex_lock(&h->mu);
  int ok = h->failed || (h->len == 0 && n <= h->cap);
  pthread_mutex_unlock(&h->mu);
  return ok;
}

static int hand_fn(void *ctx, uint64_t off, const void *buf, size_t len) {
  handoff *h = ctx;
  pthread_mutex_lock(&h->mu);
  int failed = h->failed;
  if (!failed) {
    memcpy(h->buf, buf, len);
    h->len = len;
    h->off = off;
    pthread_cond_signal(&h->cv);
  }
  pthread_mutex_unlock(&h->mu);
  return failed ? -1 : 0;
}

static void hand_done(pf_job *j) {
  handoff *h = j->arg;
  pthread_mutex_lock(&h->mu);
  h->done = 1;
  pthread_cond_signal(&h->cv);
  pthread_mutex_unlock(&h->mu);
}

static void hand_start(void *arg) {
  pf_job_start(arg);
}

/* The loop thread: the host took the bytes; a reply paused for them goes on. */
static void hand_resume(void *arg) {
  handoff *h = arg;
  pthread_mutex_lock(&h->mu);
  int done = h->done;
  pthread_mutex_unlock(&h->mu);
  if (!done && h->job.x)
    pf_xfer_room(h->job.x);
}

pf_status pf_fetch(pf_session *s, struct pf_xfer **xp, const pf_part *part, pf_data_fn fn,
                   void *ctx) {
  handoff h;
  memset(&h, 0, sizeof h);
  /* libcurl hands at most its buffer at once (CURLOPT_BUFFERSIZE) */
  h.cap = PF_READ_MAX;
  h.buf = malloc(h.cap);
  if (!h.buf)
    return pf_fail(s, PF_E_NOMEM, "out of memory");
  pthread_mutex_init(&h.mu, NULL);
  pf_cond_init_monotonic(&h.cv);
  h.fn = fn;
  h.ctx = ctx;
  h.job = (pf_job){.s = s, .x = *xp, .part = *part, .fn = hand_fn, .ctx = &h,
                   .room = hand_room, .done = hand_done, .arg = &h};
  pf_loop *loop = (*xp)->loop;
  pf_status st;
  if (pf_loop_post(loop, hand_start, &h.job) != 0) {
    st = pf_fail(s, PF_E_NOMEM, "out of memory");
  } else {
    pthread_mutex_lock(&h.mu);
    for (;;) {
      if (h.len > 0) { /* bytes that came before the end are delivered too */
        size_t len = h.len;
        uint64_t off = h.off;
        pthread_mutex_unlock(&h.mu);
        int r = h.failed ? -1 : fn(ctx, off, h.buf, len);
        pthread_mutex_lock(&h.mu);
        h.len = 0;
        if (r != 0)
          h.failed = 1;
        if (!h.done)
          pf_loop_post(loop, hand_resume, &h);
        continue;
      }
      if (h.done)
        break;
      pthread_cond_wait(&h.cv, &h.mu);
    }
    pthread_mutex_unlock(&h.mu);
    *xp = h.job.x; /* the probe's, if it took it */
    st = h.job.result;
    if (st == PF_OK && h.failed) {
      /* fn gave up on bytes of a reply that ended meanwhile: as if it had
       * stopped the reply (the part is not done) */
      pf_status first = atomic_load(&s->err);
      st = first != PF_OK ? first : PF_E_CANCELLED;
    }
  }
  /* a hand_resume posted last may still be queued: the loop is done with h
   * once a turn after it has come */
  pf_loop_sync(loop);
  pthread_cond_destroy(&h.cv);
  pthread_mutex_destroy(&h.mu);
  free(h.buf);
  return st;
}
