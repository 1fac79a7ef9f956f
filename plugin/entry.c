/*
 * entry.c - the one exported symbol (parfetch_entry) and the session
 * lifecycle behind it: open (probe + prepare the sink), the host-driven
 * calls (plan_parts, fetch_part, write_sink), run, cancel, stats, errors and
 * close (commit or discard); and the client functions (ABI 1.2), whose
 * client lives in client.c: open() makes a client of its own for its
 * session, open_on() opens on the host's.
 *
 * Threads: a session is created and closed by one thread; in between, the
 * functions marked [thread-safe] in parfetch.h may run concurrently. The
 * first error is recorded under s->mu and sets s->stop, which every
 * transfer and queue wait polls. A call the host should not have made is
 * refused (pf_refuse) without recording a session error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "internal.h"

uint64_t pf_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Keep a string the host may still hold (get_info, errmsg) until close(). */
void pf_retire(pf_session *s, char *p) {
  if (!p)
    return;
  pthread_mutex_lock(&s->info_mu);
  char **v = realloc(s->retired, (s->nretired + 1) * sizeof *v);
  if (v) { /* else leaked rather than freed under a host's feet */
    v[s->nretired++] = p;
    s->retired = v;
  }
  pthread_mutex_unlock(&s->info_mu);
}

/* Publish why a call was refused; the message it replaces may still be in
 * a host's hands (errmsg), so it is kept until close(). A host that repeats
 * the same refused call does not pile up copies of the same message. */
pf_status pf_refuse(pf_session *s, pf_status st, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  pf_text_vformat(buf, sizeof buf, fmt, ap); /* errmsg() shows it: the same filter */
  va_end(ap);
  const char *last = atomic_load_explicit(&s->refusal, memory_order_acquire);
  if (last && strcmp(last, buf) == 0)
    return st;
  char *msg = strdup(buf);
  if (msg)
    pf_retire(s, atomic_exchange_explicit(&s->refusal, msg, memory_order_acq_rel));
  return st;
}

/* Record the first error (with or without s->mu: it is not needed). The
 * message is published once (a release store of a finished string), so
 * errmsg() may read it from any thread without a lock. */
static void fail_locked(pf_session *s, pf_status st, const char *fmt, va_list ap) {
  pf_status none = PF_OK;
  if (st == PF_OK || !atomic_compare_exchange_strong(&s->err, &none, st))
    return;
  /* server-supplied text is escaped, URL passwords redacted */
  char clean[2048];
  pf_text_vformat(clean, sizeof clean, fmt, ap);
  char *msg = strdup(clean);
  if (msg)
    atomic_store_explicit(&s->errmsg, msg, memory_order_release);
}

pf_status pf_fail(pf_session *s, pf_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fail_locked(s, st, fmt, ap);
  va_end(ap);
  if (st != PF_OK)
    atomic_store(&s->stop, 1);
  return st;
}

pf_status pf_fail_locked(pf_session *s, pf_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fail_locked(s, st, fmt, ap);
  va_end(ap);
  if (st != PF_OK)
    atomic_store(&s->stop, 1);
  return st;
}

int pf_stopping(pf_session *s) {
  if (s->cancel_flag && __atomic_load_n(s->cancel_flag, __ATOMIC_ACQUIRE))
    atomic_store(&s->cancelled, 1);
  if (atomic_load(&s->cancelled))
    atomic_store(&s->stop, 1);
  return atomic_load(&s->stop);
}

void pf_log(pf_session *s, const char *fmt, ...) {
  if (!s->log)
    return;
  char line[2048];
  /* the time since open(): a -v trace reads as a timeline */
  int n = snprintf(line, sizeof line, "%8.3f ", (double)(pf_now_ns() - s->t0_ns) / 1e9);
  /* server-supplied text is escaped, URL passwords redacted */
  va_list ap;
  va_start(ap, fmt);
  pf_text_vformat(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  pthread_mutex_lock(&s->log_mu);
  s->log(s->log_ctx, line);
  pthread_mutex_unlock(&s->log_mu);
}

static const char *e_strerror(pf_status st) {
  switch (st) {
  case PF_OK:
    return "success";
  case PF_E_INVALID:
    return "invalid argument";
  case PF_E_NOMEM:
    return "out of memory";
  case PF_E_CONFIG:
    return "configuration error";
  case PF_E_URL:
    return "bad URL";
  case PF_E_NETWORK:
    return "network error";
  case PF_E_HTTP:
    return "HTTP error";
  case PF_E_BAD_REPLY:
    return "bad reply from the server";
  case PF_E_CHANGED:
    return "the object changed on the server";
  case PF_E_CHECKSUM:
    return "checksum mismatch";
  case PF_E_IO:
    return "local I/O error";
  case PF_E_CANCELLED:
    return "cancelled";
  case PF_E_STATE:
    return "call not valid in this state";
  case PF_E_INTERNAL:
    return "internal error";
  case PF_E_NOT_MODIFIED:
    return "not modified";
  case PF_E_TOO_LARGE:
    return "the object is larger than allowed";
  }
  return "unknown error";
}

/* ---- config: thin wrappers over config.c -------------------------------- */

static pf_config *e_config_new(void) {
  return pf_config_new();
}

static pf_status e_config_load(pf_config *cfg, const char *path) {
  if (!cfg || !path)
    return PF_E_INVALID;
  return pf_config_load_file(cfg, path);
}

static pf_status e_config_set(pf_config *cfg, const char *key, const char *value) {
  if (!cfg || !key || !value)
    return PF_E_INVALID;
  return pf_config_set(cfg, key, value);
}

static const char *e_config_get(pf_config *cfg, const char *key) {
  return cfg && key ? pf_config_get(cfg, key) : NULL;
}

static const char *e_config_error(const pf_config *cfg) {
  return cfg ? pf_config_error(cfg) : "";
}

static void e_config_free(pf_config *cfg) {
  pf_config_free(cfg);
}

/* ---- session states -----------------------------------------------------
 *
 * Every entry function that takes a session first asks enter() whether its
 * state allows the call; a call it does not allow is PF_E_STATE, with a
 * refusal detail in errmsg() when the session has no error of its own.
 *
 *   state        how it is reached               what the host may call
 *   OPEN_FAILED  open() returned an error        get_stats, errmsg, cancel, close
 *   READY        open() succeeded                everything
 *   RUNNING      inside run()                    get_info, get_stats, errmsg, cancel
 *   FAILED       READY with a session error      get_info, get_stats, errmsg, cancel, close
 *                (run, fetch_part or commit
 *                failed; a refused call is not
 *                a session error)
 *   COMMITTED    commit() succeeded              get_info, get_stats, errmsg, cancel, close
 *
 * close() and cancel() are valid in every state, errmsg() too.
 */

enum {
  IN_OPEN_FAILED = 1u << 0,
  IN_READY = 1u << 1,
  IN_RUNNING = 1u << 2,
  IN_FAILED = 1u << 3,
  IN_COMMITTED = 1u << 4,
  IN_OBSERVABLE = IN_READY | IN_RUNNING | IN_FAILED | IN_COMMITTED,
};

/* The state; telling READY from FAILED takes s->mu, which a caller that
 * allows both (the observers, polled while the writer holds it) need not. */
static unsigned state_of(pf_session *s, unsigned allowed) {
  switch ((enum pf_phase)atomic_load(&s->phase)) {
  case PF_PHASE_OPENING:
    return 0;
  case PF_PHASE_OPEN_FAILED:
    return IN_OPEN_FAILED;
  case PF_PHASE_RUNNING:
    return IN_RUNNING;
  case PF_PHASE_COMMITTED:
    return IN_COMMITTED;
  case PF_PHASE_READY:
    break;
  }
  if ((allowed & (IN_READY | IN_FAILED)) == (IN_READY | IN_FAILED))
    return IN_READY;
  pthread_mutex_lock(&s->mu);
  pf_status err = s->err;
  pthread_mutex_unlock(&s->mu);
  return err != PF_OK ? IN_FAILED : IN_READY;
}

static const char *state_name(unsigned state) {
  switch (state) {
  case IN_OPEN_FAILED:
    return "its open() failed";
  case IN_RUNNING:
    return "run() is in progress";
  case IN_FAILED:
    return "it has failed";
  case IN_COMMITTED:
    return "it is committed";
  }
  return "it is not open";
}

/* PF_OK if the session's state allows the call `fn`, else PF_E_STATE. */
static pf_status enter(pf_session *s, unsigned allowed, const char *fn) {
  unsigned state = state_of(s, allowed);
  if (state & allowed)
    return PF_OK;
  return pf_refuse(s, PF_E_STATE, "%s: not valid on this session: %s", fn, state_name(state));
}

/* ---- sessions ----------------------------------------------------------- */

static void session_free(pf_session *s, int keep) {
  pf_sink_close(s, keep);
  pf_drop_probe(s);
  pf_preconnect_drop(s);
  free(s->pre_key);
  pf_digest_free(s->digest);
  pf_rangeset_free(&s->written);
  free(s->scratch);
  for (size_t i = 0; i < s->nretired; i++)
    free(s->retired[i]);
  free(s->retired);
  free(atomic_load(&s->errmsg));
  free(atomic_load(&s->refusal));
  free(s->weak_etag);
  free(s->journal_buf);
  free(s->journal_snap);
  free(s->checksum);
  free(s->url);
  pf_sources_free(s);
  free(s->etag);
  free(s->last_modified);
  free(s->content_type);
  free(s->effective_url);
  free(s->out_path);
  free(s->side_path);
  pf_rate_free(s->rate);
  pf_config_free(s->cfg);
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->probe_mu);
  pthread_mutex_destroy(&s->pre_mu);
  pthread_mutex_destroy(&s->journal_mu);
  pthread_mutex_destroy(&s->log_mu);
  pthread_mutex_destroy(&s->info_mu);
  pthread_cond_destroy(&s->journal_cv);
  /* after every transfer: their connections went back to it */
  pf_client_unhome(s->client, s->home);
  pf_client_unref(s->client);
  if (s->curl_ref)
    pf_curl_global_unref();
  free(s);
}

/* A URL the user gave that is not a URL we take, as it may be shown: the
 * text filter redacts the password of "scheme://user:pw@host" itself, but
 * not of a URL without a scheme ("user:pw@host/x"), which curl refuses:
 * a ':' ... '@' before the first '/' is taken as a password there. The
 * result is cut at 2 KiB. */
static void shown_url(char *out, size_t cap, const char *url) {
  size_t auth = strcspn(url, "/?#");
  const char *at = memchr(url, '@', auth);
  const char *sep = strstr(url, "://"); /* a scheme only if it comes before the authority ends */
  int scheme = sep && (size_t)(sep - url) < auth;
  const char *colon = at && !scheme ? memchr(url, ':', (size_t)(at - url)) : NULL;
  if (colon)
    snprintf(out, cap, "%.*s:%s%s", (int)(colon - url), url, PF_TEXT_REDACTED, at);
  else
    snprintf(out, cap, "%s", url);
}

static pf_status check_url(pf_session *s, const char *url) {
  CURLU *u = curl_url();
  if (!u)
    return pf_fail(s, PF_E_NOMEM, "out of memory");
  char *scheme = NULL;
  CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
  pf_status st = PF_OK;
  char shown[2048];
  shown_url(shown, sizeof shown, url);
  if (uc != CURLUE_OK) {
    st = pf_fail(s, PF_E_URL, "%s: %s", shown, curl_url_strerror(uc));
  } else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
             (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
    st = pf_fail(s, PF_E_URL, "%s: unsupported scheme \"%s\" (http and https are)", shown,
                 scheme ? scheme : "");
  }
  curl_free(scheme);
  curl_url_cleanup(u);
  return st;
}

/* A host struct as this plugin knows it: the fields within struct_size,
 * and zero for those a host of an older minor does not have. */
static void copy_in(void *dst, size_t cap, const void *src, size_t struct_size) {
  memset(dst, 0, cap);
  memcpy(dst, src, struct_size < cap ? struct_size : cap);
}

static pf_status open_session(pf_client *c, const char *url, const pf_open_args *args,
                              pf_session **out);

/* open() and open_on(): c is held by the caller; the session takes a
 * reference of its own if it comes to exist. */
static pf_status open_on_client(pf_client *c, const char *url, const pf_open_args *host_args,
                                pf_session **out) {
  /* the 1.0 fields are required; a newer host's struct may be larger */
  if (!url || !host_args || host_args->struct_size < PF_OPEN_ARGS_1_0_SIZE)
    return PF_E_INVALID;
  pf_open_args args;
  copy_in(&args, sizeof args, host_args, host_args->struct_size);
  if ((args.output_path == NULL) == (args.sink == NULL))
    return PF_E_INVALID;
  if (args.sink && (args.sink->struct_size < PF_SINK_1_0_SIZE || !args.sink->write))
    return PF_E_INVALID;
  pf_status st = open_session(c, url, &args, out);
  if (*out)
    atomic_store(&(*out)->phase, st == PF_OK ? PF_PHASE_READY : PF_PHASE_OPEN_FAILED);
  return st;
}

static pf_status e_open(const pf_config *cfg, const char *url, const pf_open_args *args,
                        pf_session **out) {
  if (!out)
    return PF_E_INVALID;
  *out = NULL;
  if (!cfg)
    return PF_E_INVALID;
  /* a client of its own, gone with the session (or now, if none exists) */
  pf_client *c;
  pf_status st = pf_client_create(cfg, 1, &c);
  if (st != PF_OK)
    return st;
  st = open_on_client(c, url, args, out);
  pf_client_unref(c);
  return st;
}

static pf_status e_open_on(pf_client *c, const char *url, const pf_open_args *args,
                           pf_session **out) {
  if (!out)
    return PF_E_INVALID;
  *out = NULL;
  if (!c)
    return PF_E_INVALID;
  return open_on_client(c, url, args, out);
}

static pf_status e_client_new(const pf_config *cfg, pf_client **out) {
  if (!out)
    return PF_E_INVALID;
  *out = NULL;
  return cfg ? pf_client_create(cfg, 0, out) : PF_E_INVALID;
}

static void e_client_free(pf_client *c) {
  pf_client_unref(c); /* the host's reference; its sessions hold theirs */
}

static pf_status open_session(pf_client *c, const char *url, const pf_open_args *args,
                              pf_session **out) {
  pf_session *s = calloc(1, sizeof *s);
  if (!s)
    return PF_E_NOMEM;
  pf_client_ref(c);
  s->client = c;
  s->home = pf_client_home(c);
  atomic_store(&s->phase, PF_PHASE_OPENING);
  s->fd = -1;
  s->size = PF_SIZE_UNKNOWN;
  atomic_store(&s->size_seen, PF_SIZE_UNKNOWN);
  s->t0_ns = pf_now_ns();
  pthread_mutex_init(&s->mu, NULL);
  pthread_mutex_init(&s->probe_mu, NULL);
  pthread_mutex_init(&s->pre_mu, NULL);
  pthread_mutex_init(&s->journal_mu, NULL);
  pthread_mutex_init(&s->log_mu, NULL);
  pthread_mutex_init(&s->info_mu, NULL);
  s->log = args->log;
  s->log_ctx = args->log_ctx;
  s->cancel_flag = args->cancel_flag;
  pf_cond_init_monotonic(&s->journal_cv);
  s->resume = (args->flags & PF_OPEN_RESUME) != 0;
  s->prefix = (args->flags & PF_OPEN_PREFIX) != 0;
  s->no_sync = (args->flags & PF_OPEN_NO_SYNC) != 0;
  s->ims = args->if_modified_since;
  s->max_size = args->max_size;
  pf_rangeset_init(&s->written);
  s->cfg = pf_config_dup(pf_client_config(c));
  s->url = strdup(url);
  if (!s->cfg || !s->url) {
    session_free(s, 0);
    return PF_E_NOMEM;
  }
  /* the session's own headers join its copy of the config's, checked as
   * -H is (credential headers are then withheld from other hosts alike) */
  pf_status hst = PF_OK;
  for (size_t i = 0; args->headers && args->headers[i] && hst == PF_OK; i++)
    hst = pf_config_set(s->cfg, "headers", args->headers[i]);
  if (s->cfg->rate_limit) {
    s->rate = pf_rate_new(s->cfg->rate_limit, pf_now_ns());
    if (!s->rate) {
      session_free(s, 0);
      return PF_E_NOMEM;
    }
  }
  *out = s;
  if (hst != PF_OK)
    return pf_fail(s, PF_E_INVALID, "open: %s", pf_config_error(s->cfg));

  if (pf_curl_global_ref() != 0)
    return pf_fail(s, PF_E_INTERNAL, "curl_global_init failed");
  s->curl_ref = 1;
  pf_status st = check_url(s, s->url);
  if (st != PF_OK)
    return st;
  /* (1.4) args->mirrors is NULL when the host's struct_size does not
   * reach it (copy_in) */
  if (pf_sources_init(s, args->mirrors) != PF_OK)
    return pf_fail(s, PF_E_NOMEM, "out of memory");
  for (size_t i = 1; i < s->nsrc; i++)
    if ((st = check_url(s, s->src[i].url)) != PF_OK)
      return st;

  if (args->checksum) {
    char err[256];
    s->checksum = strdup(args->checksum);
    if (!s->checksum)
      return pf_fail(s, PF_E_NOMEM, "out of memory");
    s->digest = pf_digest_new(args->checksum, err, sizeof err);
    if (!s->digest)
      return pf_fail(s, PF_E_INVALID, "%s", err);
    s->checksum_hex = strchr(s->checksum, '=') + 1;
  }
  if (args->sink) {
    copy_in(&s->host_sink, sizeof s->host_sink, args->sink, args->sink->struct_size);
    s->in_order = (s->host_sink.flags & PF_SINK_IN_ORDER) || (s->digest && !s->host_sink.read);
  } else {
    size_t len = strlen(args->output_path);
    s->out_path = strdup(args->output_path);
    s->side_path = malloc(len + sizeof ".pfpart");
    if (!s->out_path || !s->side_path)
      return pf_fail(s, PF_E_NOMEM, "out of memory");
    memcpy(s->side_path, args->output_path, len);
    memcpy(s->side_path + len, ".pfpart", sizeof ".pfpart");
  }

  struct stat pst;
  if (s->prefix && s->out_path && lstat(s->out_path, &pst) == 0 && S_ISREG(pst.st_mode) &&
      pst.st_size > 0)
    s->probe_start = (uint64_t)pst.st_size; /* ask for what that prefix lacks */
  /* a side file to resume: its first missing byte is known only after the
   * probe (the journal is checked against what the probe learns), so the
   * probe asks for little; a long one would mostly bring stored bytes */
  if (s->resume && s->side_path && lstat(s->side_path, &pst) == 0 && S_ISREG(pst.st_mode) &&
      pst.st_size > 0)
    s->probe_short = 1;
  st = pf_probe(s);
  if (st != PF_OK)
    return st;
  if (s->resume && !s->ranges) {
    /* the plan is one part from byte 0: what the side file holds is of no
     * use, and a plan of what is missing could not be fetched */
    pf_log(s, "%s does not honour ranges: not resuming, starting over", s->url);
    s->resume = 0;
  }
  st = pf_sink_prepare(s);
  if (st != PF_OK)
    return st;
  pf_part *parts;
  size_t n;
  st = pf_sink_plan(s, &parts, &n);
  if (st != PF_OK)
    return st;
  free(parts);
  atomic_store(&s->parts_total, (unsigned)n);
  return PF_OK;
}

static pf_status e_plan_parts(pf_session *s, pf_part *parts, size_t cap, size_t *count) {
  if (!s || !count)
    return PF_E_INVALID;
  pf_status st = enter(s, IN_READY, "plan_parts");
  if (st != PF_OK)
    return st;
  pf_part *plan;
  size_t n;
  st = pf_sink_plan(s, &plan, &n);
  if (st != PF_OK)
    return st;
  *count = n;
  if (parts && cap < n)
    st = pf_refuse(s, PF_E_INVALID, "plan_parts: %zu parts, room for %zu", n, cap);
  else if (parts)
    memcpy(parts, plan, n * sizeof *plan);
  free(plan);
  return st;
}

static int to_sink(void *ctx, uint64_t off, const void *buf, size_t len) {
  return pf_sink_store_host(ctx, off, buf, len) == PF_OK ? 0 : -1;
}

/* Can part be fetched into the sink? Caught here, it is PF_E_INVALID with a
 * reason; caught by the store of its first bytes, it would cancel the part. */
static pf_status check_part_for_sink(pf_session *s, const pf_part *part) {
  uint64_t end = part->length == PF_SIZE_UNKNOWN ? UINT64_MAX : part->offset + part->length;
  pthread_mutex_lock(&s->mu);
  int overlaps = pf_rangeset_overlaps(&s->written, part->offset, end);
  uint64_t next = pf_rangeset_prefix(&s->written);
  pthread_mutex_unlock(&s->mu);
  if (overlaps)
    return pf_refuse(
        s, PF_E_INVALID, "fetch_part: part %u (bytes %llu+%llu) overlaps bytes already stored",
        part->index, (unsigned long long)part->offset, (unsigned long long)part->length);
  if (s->in_order && part->offset != next)
    return pf_refuse(s, PF_E_INVALID,
                     "fetch_part: the sink takes bytes in order: expected offset %llu, got %llu",
                     (unsigned long long)next, (unsigned long long)part->offset);
  return PF_OK;
}

static pf_status e_fetch_part(pf_session *s, const pf_part *part, pf_data_fn fn, void *ctx) {
  if (!s || !part)
    return PF_E_INVALID;
  pf_status st = enter(s, IN_READY, "fetch_part");
  if (st != PF_OK)
    return st;
  if (s->size != PF_SIZE_UNKNOWN &&
      (part->length == PF_SIZE_UNKNOWN || part->offset > s->size ||
       part->length > s->size - part->offset))
    return pf_refuse(s, PF_E_INVALID, "fetch_part: bytes %llu+%llu are past the end (%llu bytes)",
                     (unsigned long long)part->offset, (unsigned long long)part->length,
                     (unsigned long long)s->size);
  if (!s->ranges && part->offset != 0)
    return pf_refuse(s, PF_E_INVALID,
                     "fetch_part: the server does not honour ranges: only a part from 0");
  if (!fn && (st = check_part_for_sink(s, part)) != PF_OK)
    return st;
  if (atomic_load(&s->stop)) {
    pthread_mutex_lock(&s->mu);
    pf_status first = s->err;
    pthread_mutex_unlock(&s->mu);
    return first != PF_OK ? first : PF_E_CANCELLED;
  }
  /* its connection: the client's, on a loop by the part's index (host
   * threads fetching parts at once use the client's network threads) */
  struct pf_xfer *x = pf_xfer_new(s, part->index);
  if (!x)
    return pf_fail(s, PF_E_NOMEM, "cannot create a transfer");
  st = pf_fetch(s, &x, part, fn ? fn : to_sink, fn ? ctx : s);
  pf_xfer_free(x); /* the connection goes back to the client, open */
  return st;
}

static pf_status e_write_sink(pf_session *s, uint64_t offset, const void *buf, size_t len) {
  if (!s || (!buf && len))
    return PF_E_INVALID;
  pf_status st = enter(s, IN_READY, "write_sink");
  if (st != PF_OK)
    return st;
  return pf_sink_store_host(s, offset, buf, len);
}

/* The object changed and the config says start over: forget everything the
 * probe learned and every stored byte, and probe again. */
static pf_status restart(pf_session *s) {
  pf_drop_probe(s);
  pf_preconnect_drop(s);
  pf_status st = pf_sink_reset(s);
  if (st != PF_OK)
    return st;
  pthread_mutex_lock(&s->mu);
  s->err = PF_OK;
  pf_retire(s, atomic_exchange(&s->errmsg, NULL));
  pthread_mutex_unlock(&s->mu);
  atomic_store(&s->stop, 0);
  if (pf_stopping(s)) /* a cancel that came in meanwhile is not lost */
    return pf_fail(s, PF_E_CANCELLED, "cancelled");
  atomic_store(&s->parts_done, 0);
  /* get_info may be reading them: swapped under info_mu; and the host may
   * still hold the strings: kept until close() */
  pthread_mutex_lock(&s->info_mu);
  char *old[] = {s->etag, s->last_modified, s->weak_etag, s->content_type, s->effective_url};
  s->etag = s->last_modified = s->weak_etag = s->content_type = s->effective_url = NULL;
  s->size = PF_SIZE_UNKNOWN;
  pthread_mutex_unlock(&s->info_mu);
  for (size_t i = 0; i < sizeof old / sizeof old[0]; i++)
    pf_retire(s, old[i]);
  atomic_store(&s->size_seen, PF_SIZE_UNKNOWN);
  s->resume = 0;
  pf_log(s, "the object changed: starting over");
  st = pf_probe(s);
  return st == PF_OK ? pf_sink_prepare(s) : st;
}

#define MAX_RESTARTS 3

static pf_status run_restarting(pf_session *s) {
  for (unsigned restarts = 0;; restarts++) {
    pf_status st = pf_run(s);
    /* bytes a host sink already took cannot be taken back: no restart */
    int undoable = s->fd >= 0 || atomic_load(&s->bytes_written) == 0;
    if (st != PF_E_CHANGED || s->cfg->on_change != PF_ON_CHANGE_RESTART ||
        restarts == MAX_RESTARTS || atomic_load(&s->cancelled) || !undoable)
      return st;
    st = restart(s);
    if (st != PF_OK)
      return st;
  }
}

static pf_status e_run(pf_session *s) {
  if (!s)
    return PF_E_INVALID;
  pf_status st = enter(s, IN_READY, "run");
  if (st != PF_OK)
    return st;
  int ready = PF_PHASE_READY;
  if (!atomic_compare_exchange_strong(&s->phase, &ready, PF_PHASE_RUNNING))
    return pf_refuse(s, PF_E_STATE, "run: not valid on this session: %s",
                     state_name(state_of(s, 0))); /* another run() won the race */
  st = run_restarting(s);
  atomic_store(&s->phase, PF_PHASE_READY); /* FAILED if st recorded an error */
  return st;
}

static void e_cancel(pf_session *s) {
  if (!s)
    return;
  atomic_store(&s->cancelled, 1);
  atomic_store(&s->stop, 1);
}

static pf_status e_get_info(pf_session *s, pf_info *info) {
  if (!s || !info || info->struct_size < PF_INFO_1_0_SIZE)
    return PF_E_INVALID;
  pf_status st = enter(s, IN_OBSERVABLE, "get_info");
  if (st != PF_OK)
    return st;
  pf_info v;
  memset(&v, 0, sizeof v);
  v.struct_size = info->struct_size < sizeof v ? info->struct_size : sizeof v;
  pthread_mutex_lock(&s->info_mu); /* run() may be probing again (restart) */
  v.size = s->size;
  v.ranges = s->ranges;
  v.etag = s->etag ? s->etag : s->weak_etag;
  v.last_modified = s->last_modified;
  v.effective_url = s->effective_url;
  v.content_type = s->content_type;
  v.http_version = s->http_version;
  pthread_mutex_unlock(&s->info_mu);
  memcpy(info, &v, v.struct_size);
  return PF_OK;
}

static pf_status e_get_stats(pf_session *s, pf_stats *stats) {
  if (!s || !stats || stats->struct_size < PF_STATS_1_0_SIZE)
    return PF_E_INVALID;
  pf_status st = enter(s, IN_OPEN_FAILED | IN_OBSERVABLE, "get_stats");
  if (st != PF_OK)
    return st;
  pf_stats v;
  memset(&v, 0, sizeof v);
  v.struct_size = stats->struct_size < sizeof v ? stats->struct_size : sizeof v;
  v.size = atomic_load(&s->size_seen);
  v.bytes_written = atomic_load(&s->bytes_written);
  v.bytes_fetched = atomic_load(&s->bytes_fetched);
  v.streams_active = atomic_load(&s->active);
  v.streams_max = atomic_load(&s->max_active);
  v.parts_total = atomic_load(&s->parts_total);
  v.parts_done = atomic_load(&s->parts_done);
  v.retries = atomic_load(&s->retries);
  v.elapsed_ns = pf_now_ns() - s->t0_ns;
  v.bytes_resumed = atomic_load(&s->bytes_resumed);
  v.steals = atomic_load(&s->steals);
  v.http_status = atomic_load(&s->last_http);
  v.net_error = atomic_load(&s->last_net);
  memcpy(stats, &v, v.struct_size);
  return PF_OK;
}

/* The session's first error; without one, why the last call was refused. */
static const char *e_errmsg(pf_session *s) {
  if (!s)
    return "";
  const char *m = atomic_load_explicit(&s->errmsg, memory_order_acquire);
  if (!m)
    m = atomic_load_explicit(&s->refusal, memory_order_acquire);
  return m ? m : "";
}

static pf_status e_commit(pf_session *s) {
  if (!s)
    return PF_E_INVALID;
  pf_status st = enter(s, IN_READY, "commit");
  if (st != PF_OK)
    return st;
  st = pf_sink_commit(s);
  if (st == PF_OK)
    atomic_store(&s->phase, PF_PHASE_COMMITTED);
  return st;
}

static pf_status e_close(pf_session *s, unsigned flags) {
  if (!s)
    return PF_E_INVALID;
  pthread_mutex_lock(&s->mu);
  pf_status first = s->err;
  pthread_mutex_unlock(&s->mu);
  pf_status st = PF_OK;
  if ((flags & PF_CLOSE_COMMIT) && state_of(s, 0) != IN_COMMITTED) {
    /* a failed session answers with its first error, as it always has */
    st = first != PF_OK ? first : e_commit(s);
    pthread_mutex_lock(&s->mu);
    first = s->err;
    pthread_mutex_unlock(&s->mu);
  }
  /* bytes of a changed object, or bytes that failed their checksum, are
   * worth nothing to a later run */
  int keep = !(flags & PF_CLOSE_DISCARD) && first != PF_E_CHECKSUM && first != PF_E_CHANGED &&
             first != PF_E_INVALID;
  session_free(s, keep); /* the side file is gone or kept unless it was renamed */
  return st;
}

__attribute__((visibility("default"))) const pf_entry parfetch_entry = {
    .abi_major = PF_ABI_MAJOR,
    .abi_minor = PF_ABI_MINOR,
    .struct_size = sizeof(pf_entry),
    .name = "parfetch",
    .version = PF_VERSION,
    .config_new = e_config_new,
    .config_load = e_config_load,
    .config_set = e_config_set,
    .config_get = e_config_get,
    .config_error = e_config_error,
    .config_free = e_config_free,
    .open = e_open,
    .plan_parts = e_plan_parts,
    .fetch_part = e_fetch_part,
    .write_sink = e_write_sink,
    .run = e_run,
    .cancel = e_cancel,
    .get_info = e_get_info,
    .get_stats = e_get_stats,
    .errmsg = e_errmsg,
    .close = e_close,
    .strerror = e_strerror,
    .commit = e_commit,
    .client_new = e_client_new,
    .client_free = e_client_free,
    .open_on = e_open_on,
};
