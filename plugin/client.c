/*
 * client.c - one engine for many sessions (ABI 1.2): the connection cache,
 * the DNS and TLS session caches, and the connection budget.
 *
 * A connection (pf_conn) is a libcurl easy handle in a multi handle of its
 * own, whose cache (CURLMOPT_MAXCONNECTS 1) keeps the one connection its
 * last transfer left open. A transfer (fetch.c) takes one for the host it
 * asks before a request and gives it back when it is freed: kept, if its
 * last reply ended as the server meant it to, for the next transfer to that
 * host, of any session on the client; else closed. libcurl's own shared
 * connection cache (CURL_LOCK_DATA_CONNECT) is not used: libcurl 7.88 does
 * not support sharing connections between concurrent threads, and every
 * stream here is a thread of its own. DNS and TLS sessions are shared with
 * a CURLSH (CURL_LOCK_DATA_DNS, _SSL_SESSION; one mutex per kind of data),
 * which libcurl supports across threads.
 *
 * The budget: a slot is an open connection, in use or idle, or one opened
 * ahead by a probe (fetch.c reserves those). At most max_connections_per_host
 * per host ("scheme://host:port") and max_connections in all. A transfer
 * that needs a connection takes an idle one to its host, else a new slot,
 * else closes an idle connection to another host to make room, else waits
 * (polling its session's stop flag every 100 ms) until one is given back.
 * Slots held by sessions in open() or opened and not run yet (a paused
 * probe, connections opened ahead) are "parked": a host may open many
 * sessions before it runs any, so a transfer that has waited PARKED_WAIT_MS
 * for a budget held by parked slots only goes over it rather than wait for
 * ever.
 *
 * Lifetime: a reference count. The host's client_new() holds one and
 * client_free() drops it; every session holds one until it is closed. The
 * last one frees the client. A session opened with open() gets a client of
 * its own ("implicit"), held by the session alone.
 *
 * Threads: any session thread may take and give back connections at once
 * (under mu). One thread per explicit client, started when a connection is
 * first kept idle, closes those idle for idle_timeout; an implicit client
 * has none (its idle connections go with its session; the stale ones are
 * closed when the next connection is taken). Lock order: a session's pre_mu
 * before mu; mu is taken by nothing else of a session's and calls nothing
 * that locks.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "internal.h"

struct pf_conn {
  CURL *easy;
  CURLM *multi;
  char *key;              /* "scheme://host:port" of its last request */
  uint64_t idle_since_ns; /* when it was given back */
  struct pf_conn *next;   /* idle list */
};

/* Slots in use per host: connections (in use or idle) and those opened
 * ahead. */
struct host_slots {
  char *key;
  unsigned n;
  unsigned parked; /* of them, held by probes of sessions not run yet */
  struct host_slots *next;
};

struct pf_client {
  atomic_uint refs;
  pf_config *cfg;
  int implicit;
  int curl_ref;
  CURLSH *share;
  pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];

  pthread_mutex_t mu;
  pthread_cond_t freed_cv; /* with mu: a slot or an idle connection came back */
  struct host_slots *hosts;
  unsigned total, parked_total;
  struct pf_conn *idle; /* most recently given back first */
  atomic_uint waiting; /* transfers waiting for a slot */

  /* the idle-connection thread */
  pthread_cond_t reaper_cv; /* with mu */
  pthread_t reaper;
  int reaper_on, quit;

  pf_rate *rate; /* its own rate_limit, for all its sessions; NULL: none */
};

/* How long a transfer waits for a budget held by parked probes only. */
#define PARKED_WAIT_MS 1000ull

/* ---- the budget, pure --------------------------------------------------- */

enum pf_budget_step pf_budget_next(unsigned host_n, unsigned total, unsigned per_host,
                                   unsigned max_total, int idle_here, int idle_elsewhere) {
  if (idle_here)
    return PF_BUDGET_TAKE_IDLE;
  if (host_n < per_host && total < max_total)
    return PF_BUDGET_NEW;
  if (host_n < per_host && idle_elsewhere)
    return PF_BUDGET_EVICT;
  return PF_BUDGET_WAIT;
}

unsigned pf_budget_ahead(unsigned host_n, unsigned total, unsigned per_host, unsigned max_total,
                         int idle_here, unsigned want) {
  if (idle_here || host_n >= per_host || total >= max_total)
    return 0;
  unsigned room = per_host - host_n;
  if (max_total - total < room)
    room = max_total - total;
  return want < room ? want : room;
}

/* ---- host keys ---------------------------------------------------------- */

char *pf_host_key(const char *url) {
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL, *port = NULL, *key = NULL;
  if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
    size_t len = strlen(scheme) + strlen(host) + strlen(port) + sizeof "://:";
    key = malloc(len);
    if (key) {
      snprintf(key, len, "%s://%s:%s", scheme, host, port);
      for (char *p = key; *p; p++) /* scheme and host are case-insensitive */
        if (*p >= 'A' && *p <= 'Z')
          *p = (char)(*p - 'A' + 'a');
    }
  }
  curl_free(scheme), curl_free(host), curl_free(port);
  curl_url_cleanup(u);
  return key;
}

/* ---- slots, under mu ---------------------------------------------------- */

static struct host_slots *host_find(pf_client *c, const char *key) {
  for (struct host_slots *h = c->hosts; h; h = h->next)
    if (strcmp(h->key, key) == 0)
      return h;
  return NULL;
}

static unsigned host_n(pf_client *c, const char *key) {
  struct host_slots *h = host_find(c, key);
  return h ? h->n : 0;
}

/* Take n slots for key. -1 on out of memory. */
static int slots_take(pf_client *c, const char *key, unsigned n) {
  struct host_slots *h = host_find(c, key);
  if (!h) {
    h = calloc(1, sizeof *h);
    if (!h || !(h->key = strdup(key))) {
      free(h);
      return -1;
    }
    h->next = c->hosts;
    c->hosts = h;
  }
  h->n += n;
  c->total += n;
  return 0;
}

/* n slots of key stop (parked < 0) or start being held by sessions not run
 * yet. */
static void park_locked(pf_client *c, const char *key, int parked) {
  struct host_slots *h = host_find(c, key);
  if (!h)
    return;
  if (parked > 0) {
    h->parked += (unsigned)parked;
    c->parked_total += (unsigned)parked;
  } else {
    unsigned n = (unsigned)-parked;
    n = n < h->parked ? n : h->parked;
    h->parked -= n;
    c->parked_total -= n;
  }
}

static void slots_give(pf_client *c, const char *key, unsigned n) {
  for (struct host_slots **pp = &c->hosts; *pp; pp = &(*pp)->next) {
    struct host_slots *h = *pp;
    if (strcmp(h->key, key) != 0)
      continue;
    if (n > h->n)
      n = h->n;
    h->n -= n;
    c->total -= n;
    if (h->n == 0) {
      *pp = h->next;
      free(h->key);
      free(h);
    }
    break;
  }
  pthread_cond_broadcast(&c->freed_cv);
}

static void conn_close(struct pf_conn *k) {
  if (!k)
    return;
  if (k->easy)
    curl_easy_cleanup(k->easy);
  if (k->multi)
    curl_multi_cleanup(k->multi);
  free(k->key);
  free(k);
}

/* Unlink the idle connection at *pp and give back its slot; the caller
 * closes it outside mu. */
static struct pf_conn *idle_unlink(pf_client *c, struct pf_conn **pp) {
  struct pf_conn *k = *pp;
  *pp = k->next;
  k->next = NULL;
  slots_give(c, k->key, 1);
  return k;
}

/* Move the connections idle since before now - idle_timeout to *dead. */
static void expire_locked(pf_client *c, uint64_t now, struct pf_conn **dead) {
  uint64_t ttl = (uint64_t)c->cfg->idle_timeout_ms * 1000000ull;
  for (struct pf_conn **pp = &c->idle; *pp;) {
    if (now - (*pp)->idle_since_ns >= ttl) {
      struct pf_conn *k = idle_unlink(c, pp);
      k->next = *dead;
      *dead = k;
    } else {
      pp = &(*pp)->next;
    }
  }
}

static void close_list(struct pf_conn *k) {
  while (k) {
    struct pf_conn *next = k->next;
    conn_close(k);
    k = next;
  }
}

/* ---- the idle-connection thread ----------------------------------------- */

static void *reaper_main(void *arg) {
  pf_client *c = arg;
  pthread_mutex_lock(&c->mu);
  while (!c->quit) {
    struct pf_conn *dead = NULL;
    uint64_t now = pf_now_ns();
    expire_locked(c, now, &dead);
    if (dead) {
      pthread_mutex_unlock(&c->mu);
      close_list(dead);
      pthread_mutex_lock(&c->mu);
      continue;
    }
    /* until the oldest idle one is due, or 1 s when there is none */
    long ms = 1000;
    for (struct pf_conn *k = c->idle; k; k = k->next) {
      uint64_t due = k->idle_since_ns + (uint64_t)c->cfg->idle_timeout_ms * 1000000ull;
      long left = due > now ? (long)((due - now) / 1000000ull) + 1 : 0;
      if (left < ms)
        ms = left;
    }
    pf_cond_wait_ms(&c->reaper_cv, &c->mu, ms);
  }
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

/* ---- connections -------------------------------------------------------- */

static struct pf_conn *conn_new(pf_client *c, const char *key) {
  struct pf_conn *k = calloc(1, sizeof *k);
  if (!k)
    return NULL;
  k->key = strdup(key);
  k->easy = curl_easy_init();
  k->multi = curl_multi_init();
  if (!k->key || !k->easy || !k->multi) {
    conn_close(k);
    return NULL;
  }
  curl_multi_setopt(k->multi, CURLMOPT_MAXCONNECTS, 1L);
  if (c->share)
    curl_easy_setopt(k->easy, CURLOPT_SHARE, c->share);
  return k;
}

struct pf_conn *pf_conn_get(pf_client *c, const char *key, pf_session *s, int *reused) {
  *reused = 0;
  struct pf_conn *dead = NULL, *got = NULL;
  uint64_t stuck_since = 0;
  int over = 0;
  /* a slot the session's probe reserved for a connection opened ahead */
  int have_slot = pf_preconnect_claim(s, key);
  pthread_mutex_lock(&c->mu);
  if (have_slot)
    park_locked(c, key, -1); /* a transfer of a running session has it now */
  for (;;) {
    expire_locked(c, pf_now_ns(), &dead);
    struct pf_conn **here = NULL, **elsewhere = NULL;
    for (struct pf_conn **pp = &c->idle; *pp; pp = &(*pp)->next) {
      if (!here && strcmp((*pp)->key, key) == 0)
        here = pp;
      else if (!elsewhere && strcmp((*pp)->key, key) != 0)
        elsewhere = pp;
    }
    if (have_slot) {
      if (here) { /* better than a new one: give the reserved slot back */
        slots_give(c, key, 1);
        have_slot = 0;
      } else {
        break;
      }
    }
    enum pf_budget_step step = pf_budget_next(host_n(c, key), c->total,
                                              c->cfg->max_connections_per_host,
                                              c->cfg->max_connections, here != NULL,
                                              elsewhere != NULL);
    if (step == PF_BUDGET_TAKE_IDLE) {
      got = *here;
      *here = got->next;
      got->next = NULL;
      *reused = 1;
      break;
    }
    if (step == PF_BUDGET_EVICT) {
      struct pf_conn *k = idle_unlink(c, elsewhere);
      k->next = dead;
      dead = k;
      continue;
    }
    if (step == PF_BUDGET_NEW) {
      if (slots_take(c, key, 1) != 0)
        break;
      have_slot = 1;
      break;
    }
    if (pf_stopping(s))
      break;
    /* every slot held by a probe whose session the host has not run yet:
     * a host that opens sessions before it runs them would wait here for
     * ever; past PARKED_WAIT_MS it goes over the budget instead */
    struct host_slots *h = host_find(c, key);
    int stuck = (h && h->n >= c->cfg->max_connections_per_host && h->parked >= h->n) ||
                (c->total >= c->cfg->max_connections && c->parked_total >= c->total);
    if (!stuck)
      stuck_since = 0;
    else if (!stuck_since)
      stuck_since = pf_now_ns();
    else if (pf_now_ns() - stuck_since > PARKED_WAIT_MS * 1000000ull) {
      if (slots_take(c, key, 1) == 0)
        have_slot = over = 1;
      break;
    }
    atomic_fetch_add(&c->waiting, 1);
    pf_cond_wait_ms(&c->freed_cv, &c->mu, 100);
    atomic_fetch_sub(&c->waiting, 1);
  }
  pthread_mutex_unlock(&c->mu);
  close_list(dead);
  if (got || !have_slot)
    return got;
  if (over)
    pf_log(s, "over the connection budget: the connections to %s are held by sessions "
              "opened but not run", key);
  got = conn_new(c, key);
  if (!got) {
    pthread_mutex_lock(&c->mu);
    slots_give(c, key, 1);
    pthread_mutex_unlock(&c->mu);
  }
  return got;
}

void pf_conn_put(pf_client *c, struct pf_conn *k, int keep) {
  if (!k)
    return;
  /* nothing of the last session's stays pointed at */
  curl_easy_setopt(k->easy, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt(k->easy, CURLOPT_ERRORBUFFER, NULL);
  pthread_mutex_lock(&c->mu);
  if (!keep || c->cfg->idle_timeout_ms == 0) {
    slots_give(c, k->key, 1);
    pthread_mutex_unlock(&c->mu);
    conn_close(k);
    return;
  }
  k->idle_since_ns = pf_now_ns();
  k->next = c->idle;
  c->idle = k;
  pthread_cond_broadcast(&c->freed_cv);
  if (!c->implicit && !c->reaper_on) {
    /* it outlives run(): no signal of the host's may land on it */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    c->reaper_on = pthread_create(&c->reaper, NULL, reaper_main, c) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
  }
  pthread_cond_signal(&c->reaper_cv);
  pthread_mutex_unlock(&c->mu);
}

void pf_client_park(pf_client *c, const char *key, int parked) {
  pthread_mutex_lock(&c->mu);
  park_locked(c, key, parked ? 1 : -1);
  pthread_mutex_unlock(&c->mu);
}

int pf_client_wanted(pf_client *c) {
  return atomic_load(&c->waiting) > 0;
}

CURL *pf_conn_easy(struct pf_conn *k) {
  return k->easy;
}

CURLM *pf_conn_multi(struct pf_conn *k) {
  return k->multi;
}

const char *pf_conn_key(const struct pf_conn *k) {
  return k->key;
}

unsigned pf_client_reserve(pf_client *c, const char *key, unsigned want) {
  pthread_mutex_lock(&c->mu);
  int idle_here = 0;
  for (struct pf_conn *k = c->idle; k && !idle_here; k = k->next)
    idle_here = strcmp(k->key, key) == 0;
  unsigned n = pf_budget_ahead(host_n(c, key), c->total, c->cfg->max_connections_per_host,
                               c->cfg->max_connections, idle_here, want);
  if (n > 0 && slots_take(c, key, n) != 0)
    n = 0;
  park_locked(c, key, (int)n); /* held by a session in open() until run() */
  pthread_mutex_unlock(&c->mu);
  return n;
}

void pf_client_unreserve(pf_client *c, const char *key, unsigned n) {
  if (n == 0)
    return;
  pthread_mutex_lock(&c->mu);
  park_locked(c, key, -(int)n);
  slots_give(c, key, n);
  pthread_mutex_unlock(&c->mu);
}

/* ---- life cycle --------------------------------------------------------- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg) {
  pf_client *c = arg;
  (void)h, (void)access;
  pthread_mutex_lock(&c->share_mu[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg) {
  pf_client *c = arg;
  (void)h;
  pthread_mutex_unlock(&c->share_mu[data]);
}

static void client_destroy(pf_client *c) {
  pthread_mutex_lock(&c->mu);
  c->quit = 1;
  pthread_cond_signal(&c->reaper_cv);
  pthread_mutex_unlock(&c->mu);
  if (c->reaper_on)
    pthread_join(c->reaper, NULL);
  struct pf_conn *idle = c->idle;
  c->idle = NULL;
  close_list(idle); /* every session is closed: nothing else is out */
  while (c->hosts) {
    struct host_slots *next = c->hosts->next;
    free(c->hosts->key);
    free(c->hosts);
    c->hosts = next;
  }
  if (c->share)
    curl_share_cleanup(c->share);
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_destroy(&c->share_mu[i]);
  pthread_cond_destroy(&c->freed_cv);
  pthread_cond_destroy(&c->reaper_cv);
  pthread_mutex_destroy(&c->mu);
  pf_rate_free(c->rate);
  pf_config_free(c->cfg);
  if (c->curl_ref)
    pf_curl_global_unref();
  free(c);
}

pf_status pf_client_create(const pf_config *cfg, int implicit, pf_client **out) {
  *out = NULL;
  pf_client *c = calloc(1, sizeof *c);
  if (!c)
    return PF_E_NOMEM;
  atomic_init(&c->refs, 1);
  c->implicit = implicit;
  pthread_mutex_init(&c->mu, NULL);
  pf_cond_init_monotonic(&c->freed_cv);
  pf_cond_init_monotonic(&c->reaper_cv);
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_init(&c->share_mu[i], NULL);
  c->cfg = pf_config_dup(cfg);
  if (!c->cfg) {
    client_destroy(c);
    return PF_E_NOMEM;
  }
  /* an implicit client serves one session, whose own bucket is the limit */
  if (!implicit && c->cfg->rate_limit) {
    c->rate = pf_rate_new(c->cfg->rate_limit, pf_now_ns());
    if (!c->rate) {
      client_destroy(c);
      return PF_E_NOMEM;
    }
  }
  if (pf_curl_global_ref() != 0) {
    client_destroy(c);
    return PF_E_INTERNAL;
  }
  c->curl_ref = 1;
  c->share = curl_share_init();
  if (!c->share) {
    client_destroy(c);
    return PF_E_NOMEM;
  }
  curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
  curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
  curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
  curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  *out = c;
  return PF_OK;
}

const pf_config *pf_client_config(const pf_client *c) {
  return c->cfg;
}

pf_rate *pf_client_rate(const pf_client *c) {
  return c->rate;
}

void pf_client_ref(pf_client *c) {
  atomic_fetch_add(&c->refs, 1);
}

void pf_client_unref(pf_client *c) {
  if (c && atomic_fetch_sub(&c->refs, 1) == 1)
    client_destroy(c);
}
