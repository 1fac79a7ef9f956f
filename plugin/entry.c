/*
 * entry.c - the one exported symbol (parfetch_entry) and the session
 * lifecycle behind it: open (probe + prepare the sink), the host-driven
 * calls (plan_parts, fetch_part, write_sink), run, cancel, stats, errors and
 * close (commit or discard).
 *
 * Threads: a session is created and closed by one thread; in between, the
 * functions marked [thread-safe] in parfetch.h may run concurrently. The
 * first error is recorded under s->mu and sets s->stop, which every
 * transfer and queue wait polls.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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
  char **v = realloc(s->retired, (s->nretired + 1) * sizeof *v);
  if (!v) {
    return; /* leaked rather than freed under a host's feet */
  }
  v[s->nretired++] = p;
  s->retired = v;
}

/* Record the first error; the caller holds s->mu. The message is published
 * once (a release store of a finished string), so errmsg() may read it from
 * any thread without the lock. */
static void fail_locked(pf_session *s, pf_status st, const char *fmt, va_list ap) {
  if (s->err != PF_OK || st == PF_OK)
    return;
  s->err = st;
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
  pthread_mutex_lock(&s->mu);
  fail_locked(s, st, fmt, ap);
  pthread_mutex_unlock(&s->mu);
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

/* ---- sessions ----------------------------------------------------------- */

static void session_free(pf_session *s, int keep) {
  pf_sink_close(s, keep);
  pf_xfer_free(s->probe);
  pf_xfer_drain(s);
  pf_preconnect_drop(s);
  pf_digest_free(s->digest);
  pf_rangeset_free(&s->written);
  free(s->scratch);
  for (size_t i = 0; i < s->nretired; i++)
    free(s->retired[i]);
  free(s->retired);
  free(atomic_load(&s->errmsg));
  free(s->weak_etag);
  free(s->journal_buf);
  free(s->journal_snap);
  free(s->checksum);
  free(s->url);
  free(s->etag);
  free(s->last_modified);
  free(s->content_type);
  free(s->effective_url);
  free(s->out_path);
  free(s->side_path);
  pf_config_free(s->cfg);
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->probe_mu);
  pthread_mutex_destroy(&s->pool_mu);
  pthread_mutex_destroy(&s->pre_mu);
  pthread_mutex_destroy(&s->journal_mu);
  pthread_mutex_destroy(&s->log_mu);
  pthread_cond_destroy(&s->journal_cv);
  if (s->curl_ref)
    pf_curl_global_unref();
  free(s);
}

static pf_status check_url(pf_session *s) {
  CURLU *u = curl_url();
  if (!u)
    return pf_fail(s, PF_E_NOMEM, "out of memory");
  char *scheme = NULL;
  CURLUcode uc = curl_url_set(u, CURLUPART_URL, s->url, 0);
  pf_status st = PF_OK;
  if (uc != CURLUE_OK) {
    st = pf_fail(s, PF_E_URL, "%s: %s", s->url, curl_url_strerror(uc));
  } else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
             (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
    st = pf_fail(s, PF_E_URL, "%s: unsupported scheme \"%s\" (http and https are)", s->url,
                 scheme ? scheme : "");
  }
  curl_free(scheme);
  curl_url_cleanup(u);
  return st;
}

static pf_status e_open(const pf_config *cfg, const char *url, const pf_open_args *args,
                        pf_session **out) {
  if (!out)
    return PF_E_INVALID;
  *out = NULL;
  /* every field of the 1.0 structs is required; later ones may be larger */
  if (!cfg || !url || !args || args->struct_size < sizeof(pf_open_args))
    return PF_E_INVALID;
  if ((args->output_path == NULL) == (args->sink == NULL))
    return PF_E_INVALID;
  if (args->sink && (args->sink->struct_size < sizeof(pf_sink) || !args->sink->write))
    return PF_E_INVALID;

  pf_session *s = calloc(1, sizeof *s);
  if (!s)
    return PF_E_NOMEM;
  s->fd = -1;
  s->size = PF_SIZE_UNKNOWN;
  atomic_store(&s->size_seen, PF_SIZE_UNKNOWN);
  s->t0_ns = pf_now_ns();
  pthread_mutex_init(&s->mu, NULL);
  pthread_mutex_init(&s->probe_mu, NULL);
  pthread_mutex_init(&s->pool_mu, NULL);
  pthread_mutex_init(&s->pre_mu, NULL);
  pthread_mutex_init(&s->journal_mu, NULL);
  pthread_mutex_init(&s->log_mu, NULL);
  s->log = args->log;
  s->log_ctx = args->log_ctx;
  s->cancel_flag = args->cancel_flag;
  pf_cond_init_monotonic(&s->journal_cv);
  s->resume = (args->flags & PF_OPEN_RESUME) != 0;
  pf_rangeset_init(&s->written);
  s->cfg = pf_config_dup(cfg);
  s->url = strdup(url);
  if (!s->cfg || !s->url) {
    session_free(s, 0);
    return PF_E_NOMEM;
  }
  *out = s;

  if (pf_curl_global_ref() != 0)
    return pf_fail(s, PF_E_INTERNAL, "curl_global_init failed");
  s->curl_ref = 1;
  pf_status st = check_url(s);
  if (st != PF_OK)
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
    memcpy(&s->host_sink, args->sink, sizeof s->host_sink);
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

  st = pf_probe(s);
  if (st != PF_OK)
    return st;
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
  pf_part *plan;
  size_t n;
  pf_status st = pf_sink_plan(s, &plan, &n);
  if (st != PF_OK)
    return st;
  *count = n;
  if (parts && cap < n)
    st = PF_E_INVALID;
  else if (parts)
    memcpy(parts, plan, n * sizeof *plan);
  free(plan);
  return st;
}

static int to_sink(void *ctx, uint64_t off, const void *buf, size_t len) {
  return pf_sink_store(ctx, off, buf, len) == PF_OK ? 0 : -1;
}

static pf_status e_fetch_part(pf_session *s, const pf_part *part, pf_data_fn fn, void *ctx) {
  if (!s || !part)
    return PF_E_INVALID;
  if (s->size != PF_SIZE_UNKNOWN &&
      (part->length == PF_SIZE_UNKNOWN || part->offset > s->size ||
       part->length > s->size - part->offset))
    return PF_E_INVALID;
  if (!s->ranges && part->offset != 0)
    return PF_E_INVALID;
  if (atomic_load(&s->stop)) {
    pthread_mutex_lock(&s->mu);
    pf_status first = s->err;
    pthread_mutex_unlock(&s->mu);
    return first != PF_OK ? first : PF_E_CANCELLED;
  }
  struct pf_xfer *x = pf_xfer_get(s);
  if (!x)
    return pf_fail(s, PF_E_NOMEM, "cannot create a transfer");
  pf_status st = pf_fetch(s, &x, part, fn ? fn : to_sink, fn ? ctx : s, NULL);
  pf_xfer_put(s, x);
  return st;
}

static pf_status e_write_sink(pf_session *s, uint64_t offset, const void *buf, size_t len) {
  if (!s || (!buf && len))
    return PF_E_INVALID;
  return pf_sink_store(s, offset, buf, len);
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
  /* the host may still hold get_info's strings: keep them until close() */
  pf_retire(s, s->etag), pf_retire(s, s->last_modified), pf_retire(s, s->weak_etag);
  pf_retire(s, s->content_type), pf_retire(s, s->effective_url);
  s->etag = s->last_modified = s->weak_etag = s->content_type = s->effective_url = NULL;
  s->size = PF_SIZE_UNKNOWN;
  atomic_store(&s->size_seen, PF_SIZE_UNKNOWN);
  s->resume = 0;
  pf_log(s, "the object changed: starting over");
  st = pf_probe(s);
  return st == PF_OK ? pf_sink_prepare(s) : st;
}

#define MAX_RESTARTS 3

static pf_status e_run(pf_session *s) {
  if (!s)
    return PF_E_INVALID;
  pthread_mutex_lock(&s->mu);
  pf_status st = s->err;
  pthread_mutex_unlock(&s->mu);
  if (st != PF_OK)
    return st;
  for (unsigned restarts = 0;; restarts++) {
    st = pf_run(s);
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

static void e_cancel(pf_session *s) {
  if (!s)
    return;
  atomic_store(&s->cancelled, 1);
  atomic_store(&s->stop, 1);
}

static pf_status e_get_info(pf_session *s, pf_info *info) {
  if (!s || !info || info->struct_size < sizeof(size_t))
    return PF_E_INVALID;
  pf_info v;
  memset(&v, 0, sizeof v);
  v.struct_size = info->struct_size < sizeof v ? info->struct_size : sizeof v;
  v.size = s->size;
  v.ranges = s->ranges;
  v.etag = s->etag ? s->etag : s->weak_etag;
  v.last_modified = s->last_modified;
  v.effective_url = s->effective_url;
  v.content_type = s->content_type;
  v.http_version = s->http_version;
  memcpy(info, &v, v.struct_size);
  return PF_OK;
}

static pf_status e_get_stats(pf_session *s, pf_stats *stats) {
  if (!s || !stats || stats->struct_size < sizeof(size_t))
    return PF_E_INVALID;
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
  memcpy(stats, &v, v.struct_size);
  return PF_OK;
}

static const char *e_errmsg(pf_session *s) {
  const char *m = s ? atomic_load_explicit(&s->errmsg, memory_order_acquire) : NULL;
  return m ? m : "";
}

static pf_status e_commit(pf_session *s) {
  if (!s)
    return PF_E_INVALID;
  if (s->committed)
    return PF_OK;
  pthread_mutex_lock(&s->mu);
  pf_status st = s->err;
  pthread_mutex_unlock(&s->mu);
  if (st == PF_OK)
    st = pf_sink_commit(s);
  s->committed = st == PF_OK;
  return st;
}

static pf_status e_close(pf_session *s, unsigned flags) {
  if (!s)
    return PF_E_INVALID;
  pf_status st = PF_OK;
  if (flags & PF_CLOSE_COMMIT)
    st = e_commit(s);
  pthread_mutex_lock(&s->mu);
  pf_status first = s->err;
  pthread_mutex_unlock(&s->mu);
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
};
