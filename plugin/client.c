/*
 * client.c - one engine for many sessions (ABI 1.2): the network loops
 * (loop.c) with their connection caches, the DNS and TLS session caches,
 * and the connection budget.
 *
 * Every transfer of every session on a client is driven by one of the
 * client's network threads (network_threads loops, loop.c; one per CPU and
 * at most 4 by default), each with a libcurl multi handle whose connection
 * cache is shared by the sessions' transfers on it: a connection a reply
 * left open carries the next request to its host, of any session. A
 * session has a home loop (its probe and stream 0: the loop home to the
 * fewest open sessions, so that downloads one after another share loop 0
 * and its connections) and deals its other streams over the loops after
 * it. The budget is libcurl's: each
 * loop's multi holds its share of max_connections_per_host per host
 * ("scheme://host:port") and of max_connections in all
 * (CURLMOPT_MAX_HOST_CONNECTIONS, CURLMOPT_MAX_TOTAL_CONNECTIONS); a
 * transfer over it waits in libcurl's queue until a connection is free.
 * Each loop has a CURLSH of its own for DNS and TLS sessions (loop.c): one
 * shared by the loops raced in OpenSSL (a cached TLS session read by one
 * thread's handshake while another's freed it: TSan, t_loop.sh over h2).
 *
 * What libcurl does not count are the connections a probe opens ahead
 * (fetch.c) before libcurl takes them. This file counts the sockets libcurl
 * holds per host (its open and close socket callbacks report them) and the
 * slots reserved for those opened ahead, so that a probe opens ahead only
 * to a host the client has no connection to, and only what the budget
 * leaves.
 *
 * A probe paused until its session runs holds a connection. A host may open
 * more sessions than the budget has connections before it runs any: a
 * transfer that has waited PF_PARKED_WAIT_MS for a full budget ends the
 * oldest paused probe (fetch.c), whose part 0 then asks again.
 *
 * Lifetime: a reference count. The host's client_new() holds one and
 * client_free() drops it; every session holds one until it is closed. The
 * last one frees the client, which joins its loop threads first. A session
 * opened with open() gets a client of its own ("implicit"), held by the
 * session alone.
 *
 * Threads: the socket counts are taken and given under mu by the loop
 * threads and by probes (reserve, from open()'s thread); mu is a leaf.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "internal.h"

/* A socket libcurl holds, and the host it goes to. */
struct sock {
  int fd;
  char *key;
};

/* Per host: the sockets open and the slots reserved for opening ahead. */
struct host_slots {
  char *key;
  unsigned open, reserved;
  struct host_slots *next;
};

struct pf_client {
  atomic_uint refs;
  pf_config *cfg;
  int implicit;
  int curl_ref;
  pf_loop *loops[PF_MAX_LOOPS]; /* the network threads */
  unsigned nloops;
  atomic_uint homed[PF_MAX_LOOPS]; /* the open sessions whose home each loop is */

  pthread_mutex_t mu; /* guards what follows */
  struct host_slots *hosts;
  unsigned total; /* open and reserved, all hosts */
  struct sock *socks;
  size_t nsocks, socks_cap;

  pf_rate *rate; /* its own rate_limit, for all its sessions; NULL: none */
};

/* ---- the budget, pure --------------------------------------------------- */

unsigned pf_budget_ahead(unsigned host_n, unsigned total, unsigned per_host, unsigned max_total,
                         int warm, unsigned want) {
  if (warm || host_n >= per_host || total >= max_total)
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

/* ---- counts, under mu --------------------------------------------------- */

static struct host_slots *host_get(pf_client *c, const char *key, int make) {
  for (struct host_slots *h = c->hosts; h; h = h->next)
    if (strcmp(h->key, key) == 0)
      return h;
  if (!make)
    return NULL;
  struct host_slots *h = calloc(1, sizeof *h);
  if (!h || !(h->key = strdup(key))) {
    free(h);
    return NULL;
  }
  h->next = c->hosts;
  c->hosts = h;
  return h;
}

static void host_gc(pf_client *c) {
  for (struct host_slots **pp = &c->hosts; *pp;) {
    struct host_slots *h = *pp;
    if (h->open == 0 && h->reserved == 0) {
      *pp = h->next;
      free(h->key);
      free(h);
    } else {
      pp = &h->next;
    }
  }
}

void pf_client_sock_opened(pf_client *c, const char *key, int fd) {
  pthread_mutex_lock(&c->mu);
  struct host_slots *h = host_get(c, key, 1);
  if (h && c->nsocks == c->socks_cap) {
    size_t cap = c->socks_cap ? 2 * c->socks_cap : 16;
    struct sock *v = realloc(c->socks, cap * sizeof *v);
    if (v) {
      c->socks = v;
      c->socks_cap = cap;
    }
  }
  char *k = h && c->nsocks < c->socks_cap ? strdup(key) : NULL;
  if (k) { /* else not counted: out of memory loses a count, never a socket */
    c->socks[c->nsocks++] = (struct sock){fd, k};
    h->open++;
    c->total++;
  }
  host_gc(c);
  pthread_mutex_unlock(&c->mu);
}

void pf_client_sock_closed(pf_client *c, int fd) {
  pthread_mutex_lock(&c->mu);
  for (size_t i = 0; i < c->nsocks; i++) {
    if (c->socks[i].fd != fd)
      continue;
    struct host_slots *h = host_get(c, c->socks[i].key, 0);
    if (h && h->open > 0) {
      h->open--;
      c->total--;
    }
    free(c->socks[i].key);
    c->socks[i] = c->socks[--c->nsocks];
    break;
  }
  host_gc(c);
  pthread_mutex_unlock(&c->mu);
}

int pf_client_full(pf_client *c, const char *key) {
  pthread_mutex_lock(&c->mu);
  struct host_slots *h = host_get(c, key, 0);
  unsigned n = h ? h->open + h->reserved : 0;
  int full = n >= c->cfg->max_connections_per_host ? 1 : c->total >= c->cfg->max_connections ? 2 : 0;
  pthread_mutex_unlock(&c->mu);
  return full;
}

unsigned pf_client_reserve(pf_client *c, const char *key, unsigned want) {
  pthread_mutex_lock(&c->mu);
  struct host_slots *h = host_get(c, key, 0);
  unsigned open = h ? h->open : 0, reserved = h ? h->reserved : 0;
  /* the probe's own connection is open already: counted as warm only when
   * another one is */
  unsigned n = pf_budget_ahead(open + reserved, c->total, c->cfg->max_connections_per_host,
                               c->cfg->max_connections, open > 1, want);
  if (n > 0 && (h = host_get(c, key, 1)) != NULL) {
    h->reserved += n;
    c->total += n;
  } else {
    n = 0;
  }
  pthread_mutex_unlock(&c->mu);
  return n;
}

void pf_client_unreserve(pf_client *c, const char *key, unsigned n) {
  if (n == 0)
    return;
  pthread_mutex_lock(&c->mu);
  struct host_slots *h = host_get(c, key, 0);
  if (h) {
    if (n > h->reserved)
      n = h->reserved;
    h->reserved -= n;
    c->total -= n;
  }
  host_gc(c);
  pthread_mutex_unlock(&c->mu);
}

/* ---- life cycle --------------------------------------------------------- */

static void client_destroy(pf_client *c) {
  for (unsigned i = 0; i < c->nloops; i++)
    pf_loop_free(c->loops[i]); /* every session is closed: its connections close */
  for (size_t i = 0; i < c->nsocks; i++)
    free(c->socks[i].key);
  free(c->socks);
  while (c->hosts) {
    struct host_slots *next = c->hosts->next;
    free(c->hosts->key);
    free(c->hosts);
    c->hosts = next;
  }
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
  /* network_threads (0: one per CPU), never more than the budget can give
   * a connection each */
  unsigned n = c->cfg->network_threads;
  if (n == 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    n = cpus < 1 ? 1 : cpus > PF_DEFAULT_LOOPS ? PF_DEFAULT_LOOPS : (unsigned)cpus;
  }
  if (n > PF_MAX_LOOPS)
    n = PF_MAX_LOOPS;
  if (n > c->cfg->max_connections_per_host)
    n = c->cfg->max_connections_per_host;
  if (n > c->cfg->max_connections)
    n = c->cfg->max_connections;
  for (unsigned i = 0; i < n; i++) {
    pf_status st = pf_loop_new(c->cfg, i, n, &c->loops[i]);
    if (st != PF_OK) {
      client_destroy(c);
      return st;
    }
    c->nloops = i + 1;
  }
  *out = c;
  return PF_OK;
}

const pf_config *pf_client_config(const pf_client *c) {
  return c->cfg;
}

pf_loop *pf_client_loop(const pf_client *c, unsigned i) {
  return c->loops[i % c->nloops];
}

unsigned pf_client_nloops(const pf_client *c) {
  return c->nloops;
}

unsigned pf_client_home(pf_client *c) {
  /* the loop home to the fewest open sessions, the first of those: one
   * download after another all have loop 0, whose cache holds the
   * connection the last one left open (and one loop thread is busy, not
   * two in turn); downloads at once are dealt over the loops. (Two
   * sessions opened at the same moment may pick the same loop: a choice
   * of load, never of correctness.) */
  unsigned best = 0, least = UINT_MAX;
  for (unsigned i = 0; i < c->nloops; i++) {
    unsigned n = atomic_load(&c->homed[i]);
    if (n < least)
      best = i, least = n;
  }
  atomic_fetch_add(&c->homed[best], 1);
  return best;
}

void pf_client_unhome(pf_client *c, unsigned home) {
  atomic_fetch_sub(&c->homed[home % c->nloops], 1);
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
