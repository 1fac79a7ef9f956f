/*
 * loop.c - one of a client's network threads (client.c makes
 * network_threads of them): a libcurl multi handle that drives the
 * transfers the client's sessions give it.
 *
 * The loop owns the multi handle, and every easy handle while it is in it:
 * only the loop thread calls curl_multi_*, and curl_easy_* on a handle in
 * the multi. Other threads hand it work with pf_loop_post() (a function run
 * on the loop thread at its next turn) and wake it with curl_multi_wakeup.
 * An easy handle out of the multi belongs to whoever holds its transfer: the
 * probe's thread prepares its request there, then posts it.
 *
 * Each turn: the posted functions run; curl_multi_perform moves every
 * transfer (libcurl's callbacks, fetch.c's on_header and on_write, run on
 * this thread and never block: a reply that cannot be taken now is paused);
 * each finished transfer is removed from the multi and its task's done()
 * runs; then every watched task's tick() runs (stops, stalls, pauses to
 * lift, timers), and curl_multi_poll waits for a socket, a wakeup or the
 * earliest time a tick asked for, 100 ms at most.
 *
 * Connections: the multi's cache holds them for every session of the
 * client that uses this loop, and its limits are this loop's share of the
 * budget: CURLMOPT_MAX_HOST_CONNECTIONS (of max_connections_per_host),
 * CURLMOPT_MAX_TOTAL_CONNECTIONS (of max_connections; libcurl closes an
 * idle connection to another host to make room); a transfer over them
 * waits in libcurl's queue. The shares add up to the budget. When the loop
 * has had nothing to do for idle_timeout, the multi handle is made anew:
 * its idle connections close (idle_timeout 0: as soon as it has nothing to
 * do). While transfers run, libcurl closes a connection idle for longer
 * than idle_timeout before it reuses one (CURLOPT_MAXAGE_CONN, fetch.c).
 *
 * Lock order: mu is a leaf; tasks may take their sessions' locks.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define LOOP_MAX_WAIT_MS 100

struct pf_loop {
  CURLM *multi;
  const pf_config *cfg; /* the client's */
  long per_host, total;  /* this loop's share of the budget */
  pthread_t th;
  int started;
  /* DNS and TLS sessions, for this loop's easy handles only: libcurl 7.88
   * with OpenSSL 3 reads a shared TLS session outside the share's lock, so
   * one CURLSH used by two threads races (a session freed by one while the
   * other's handshake copies it) */
  CURLSH *share;
  pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
  pthread_mutex_t mu; /* guards posted, quit */
  pf_post *posted, **tail;
  int quit;
  /* the loop thread's own */
  pf_task tasks;      /* a ring: the watched tasks */
  pf_task *cursor;    /* the next one a turn will tick */
  size_t ntasks;
  int soon;           /* a task asked for another turn at once */
  int used;           /* the multi has carried a transfer since it was made */
  uint64_t idle_since_ns;
};

static void setup_multi(pf_loop *l) {
  const pf_config *c = l->cfg;
  curl_multi_setopt(l->multi, CURLMOPT_MAX_HOST_CONNECTIONS, l->per_host);
  curl_multi_setopt(l->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, l->total);
  curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, l->total);
  curl_multi_setopt(l->multi, CURLMOPT_PIPELINING,
                    c->multiplex ? (long)CURLPIPE_MULTIPLEX : (long)CURLPIPE_NOTHING);
}

void pf_loop_watch(pf_loop *l, pf_task *t) {
  if (t->watched)
    return;
  t->watched = 1;
  t->next = &l->tasks;
  t->prev = l->tasks.prev;
  l->tasks.prev->next = t;
  l->tasks.prev = t;
  l->ntasks++;
  l->used = 1;
}

void pf_loop_unwatch(pf_loop *l, pf_task *t) {
  if (!t->watched)
    return;
  t->watched = 0;
  if (l->cursor == t)
    l->cursor = t->next;
  t->prev->next = t->next;
  t->next->prev = t->prev;
  t->next = t->prev = NULL;
  l->ntasks--;
  l->idle_since_ns = pf_now_ns();
}

CURLM *pf_loop_multi(pf_loop *l) {
  return l->multi;
}

CURLSH *pf_loop_share(pf_loop *l) {
  return l->share;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg) {
  pf_loop *l = arg;
  (void)h, (void)access;
  pthread_mutex_lock(&l->share_mu[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg) {
  pf_loop *l = arg;
  (void)h;
  pthread_mutex_unlock(&l->share_mu[data]);
}

int pf_loop_on_thread(const pf_loop *l) {
  return l->started && pthread_equal(pthread_self(), l->th);
}

void pf_loop_soon(pf_loop *l) {
  l->soon = 1;
}

static void append(pf_loop *l, pf_post *p, void (*fn)(void *arg), void *arg, int owned,
                   int wake) {
  p->fn = fn;
  p->arg = arg;
  p->owned = owned;
  p->next = NULL;
  pthread_mutex_lock(&l->mu);
  *l->tail = p;
  l->tail = &p->next;
  if (wake)
    curl_multi_wakeup(l->multi); /* under mu: the loop may be making it anew */
  pthread_mutex_unlock(&l->mu);
}

void pf_loop_post_at(pf_loop *l, pf_post *p, void (*fn)(void *arg), void *arg) {
  append(l, p, fn, arg, 0, 1);
}

void pf_loop_post_lazy(pf_loop *l, pf_post *p, void (*fn)(void *arg), void *arg) {
  append(l, p, fn, arg, 0, 0);
}

int pf_loop_post(pf_loop *l, void (*fn)(void *arg), void *arg) {
  pf_post *p = malloc(sizeof *p);
  if (!p)
    return -1;
  append(l, p, fn, arg, 1, 1);
  return 0;
}

void pf_loop_wake(pf_loop *l) {
  pthread_mutex_lock(&l->mu);
  curl_multi_wakeup(l->multi);
  pthread_mutex_unlock(&l->mu);
}

/* Run what other threads posted. Returns 1 once told to quit. */
static int run_posted(pf_loop *l) {
  pthread_mutex_lock(&l->mu);
  pf_post *p = l->posted;
  l->posted = NULL;
  l->tail = &l->posted;
  int quit = l->quit;
  pthread_mutex_unlock(&l->mu);
  while (p) {
    pf_post *next = p->next;
    int owned = p->owned;
    p->fn(p->arg); /* may free a caller's p (not owned) */
    if (owned)
      free(p);
    p = next;
  }
  return quit;
}

/* Nothing to do for idle_timeout: a new multi handle, the old one's idle
 * connections closed. */
static void maybe_recycle(pf_loop *l, uint64_t now, uint64_t *wake_ns) {
  if (l->ntasks || !l->used)
    return;
  uint64_t ttl = (uint64_t)l->cfg->idle_timeout_ms * 1000000ull;
  if (now < l->idle_since_ns + ttl) { /* (idle_since may be later than now) */
    if (l->idle_since_ns + ttl < *wake_ns)
      *wake_ns = l->idle_since_ns + ttl;
    return;
  }
  CURLM *fresh = curl_multi_init();
  if (!fresh)
    return;
  /* other threads wake it under mu */
  pthread_mutex_lock(&l->mu);
  CURLM *old = l->multi;
  l->multi = fresh;
  pthread_mutex_unlock(&l->mu);
  curl_multi_cleanup(old); /* no easy handle is in it */
  setup_multi(l);
  l->used = 0;
  l->soon = 1; /* a post that woke the old one is not kept waiting */
}

static void *loop_main(void *arg) {
  pf_loop *l = arg;
  for (;;) {
    if (run_posted(l) && l->ntasks == 0)
      break;
    int running = 0;
    curl_multi_perform(l->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(l->multi, &left))) {
      if (m->msg != CURLMSG_DONE)
        continue;
      CURL *e = m->easy_handle;
      CURLcode rc = m->data.result;
      pf_task *t = NULL;
      curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&t);
      curl_multi_remove_handle(l->multi, e);
      if (t && t->done)
        t->done(t, rc);
    }
    uint64_t now = pf_now_ns();
    uint64_t wake = now + LOOP_MAX_WAIT_MS * 1000000ull;
    /* a tick may unwatch tasks, its own or others: the cursor moves on */
    for (l->cursor = l->tasks.next; l->cursor != &l->tasks;) {
      pf_task *t = l->cursor;
      l->cursor = t->next;
      if (t->tick)
        t->tick(t, now, &wake);
    }
    maybe_recycle(l, now, &wake);
    if (l->soon) {
      l->soon = 0;
      continue;
    }
    now = pf_now_ns();
    int ms = wake > now ? (int)((wake - now + 999999) / 1000000) : 0;
    if (ms > LOOP_MAX_WAIT_MS)
      ms = LOOP_MAX_WAIT_MS;
    curl_multi_poll(l->multi, NULL, 0, ms, NULL);
  }
  return NULL;
}

unsigned pf_loop_budget(unsigned total, unsigned i, unsigned n) {
  return total / n + (i < total % n);
}

pf_status pf_loop_new(const pf_config *cfg, unsigned i, unsigned n, pf_loop **out) {
  *out = NULL;
  pf_loop *l = calloc(1, sizeof *l);
  if (!l)
    return PF_E_NOMEM;
  l->cfg = cfg;
  /* the budget, dealt out: n is at most either limit, so each gets >= 1 */
  l->per_host = (long)pf_loop_budget(cfg->max_connections_per_host, i, n);
  l->total = (long)pf_loop_budget(cfg->max_connections, i, n);
  l->tail = &l->posted;
  l->tasks.next = l->tasks.prev = &l->tasks;
  l->idle_since_ns = pf_now_ns();
  pthread_mutex_init(&l->mu, NULL);
  for (int k = 0; k < CURL_LOCK_DATA_LAST; k++)
    pthread_mutex_init(&l->share_mu[k], NULL);
  l->multi = curl_multi_init();
  l->share = curl_share_init();
  if (!l->multi || !l->share) {
    pf_loop_free(l);
    return PF_E_NOMEM;
  }
  curl_share_setopt(l->share, CURLSHOPT_LOCKFUNC, share_lock);
  curl_share_setopt(l->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
  curl_share_setopt(l->share, CURLSHOPT_USERDATA, l);
  curl_share_setopt(l->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(l->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  setup_multi(l);
  /* it outlives any one call: no signal of the host's may land on it */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  l->started = pthread_create(&l->th, NULL, loop_main, l) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (!l->started) {
    pf_loop_free(l);
    return PF_E_INTERNAL;
  }
  *out = l;
  return PF_OK;
}

void pf_loop_free(pf_loop *l) {
  if (!l)
    return;
  if (l->started) {
    pthread_mutex_lock(&l->mu);
    l->quit = 1;
    curl_multi_wakeup(l->multi);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->th, NULL);
  }
  run_posted(l); /* frees of transfers posted last: no thread runs them now */
  if (l->multi)
    curl_multi_cleanup(l->multi);
  if (l->share) /* after every easy handle that used it */
    curl_share_cleanup(l->share);
  for (int k = 0; k < CURL_LOCK_DATA_LAST; k++)
    pthread_mutex_destroy(&l->share_mu[k]);
  pthread_mutex_destroy(&l->mu);
  free(l);
}

pf_task *pf_loop_next_parked(pf_loop *l, pf_task *after) {
  for (pf_task *t = after ? after->next : l->tasks.next; t != &l->tasks; t = t->next)
    if (t->parked)
      return t;
  return NULL;
}

struct sync {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
};

static void sync_posted(void *arg) {
  struct sync *y = arg;
  pthread_mutex_lock(&y->mu);
  y->done = 1;
  pthread_cond_signal(&y->cv);
  pthread_mutex_unlock(&y->mu);
}

void pf_loop_sync(pf_loop *l) {
  if (pf_loop_on_thread(l))
    return;
  struct sync y = {.done = 0};
  pf_post p;
  pthread_mutex_init(&y.mu, NULL);
  pthread_cond_init(&y.cv, NULL);
  pf_loop_post_at(l, &p, sync_posted, &y);
  pthread_mutex_lock(&y.mu);
  while (!y.done)
    pthread_cond_wait(&y.cv, &y.mu);
  pthread_mutex_unlock(&y.mu);
  pthread_cond_destroy(&y.cv);
  pthread_mutex_destroy(&y.mu);
}
