/*
 * run.c - the built-in dispatcher.
 *
 * Threads:
 *   - N workers (N = min(streams, parts, and the client's budgets:
 *     max_connections_per_host, max_connections)). Each owns one transfer (and so one
 *     connection) and takes the next unplanned part until none is left. Its
 *     data callback copies the reply into a pooled chunk and pushes full
 *     chunks onto the bounded queue.
 *   - One writer. It pops chunks, stores them (pwrite + digest) and returns
 *     them to the pool.
 * Memory is bounded: the pool holds queue_depth + N chunks of chunk_size and
 * nothing else buffers the body. A worker that finds the pool empty or the
 * queue full blocks: that is the backpressure that keeps a fast network from
 * outrunning a slow disk.
 * Work stealing: a worker that runs out of planned parts takes over the tail
 * of the part that will take longest to finish (remaining bytes over that
 * stream's own rate). The victim keeps what it can fetch by the time the
 * whole pool would finish the remaining bytes at the pool's current rate
 * (equal streams: an equal share; a stream far slower than its peers: a
 * sliver), the thief takes the rest if it is at least MIN_STEAL (or
 * MIN_STEAL_SLOW when the victim has more than SLOW_SECS left). Nobody takes
 * from a stream that ends within STEAL_MIN_LEFT_S, and a thief whose last
 * reply was cut short (so its HTTP/1.1 connection is gone and it would pay a
 * handshake and a slow start) only from one with COLD_MIN_LEFT_S left. The victim's
 * transfer sees its new end in its data callback (pf_span) and ends its
 * reply there. The number of connections never exceeds the worker count.
 * Failure: the first error (pf_fail) sets s->stop; every blocked push/pop
 * and every transfer sees it within 100 ms, so nobody waits on a queue that
 * nobody drains and nobody produces for a writer that died.
 *
 * Lock order: rc->mu (part dispenser) before a worker's span.mu; the
 * queues' mutexes are leaves; s->mu is taken inside pf_sink_store only.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MIN_STEAL (1024u * 1024)     /* smallest range worth a new request */
#define MIN_STEAL_SLOW (4u * 1024)   /* ... from a stream with > SLOW_SECS left */
#define SLOW_SECS 0.5
#define STEAL_MIN_LEFT_S 0.1         /* leave alone a stream that ends sooner */
#define COLD_MIN_LEFT_S 1.0          /* ... or, for a thief with no open connection, sooner than this */
#define RATE_WARMUP_NS 300000000ull  /* a stream's rate is known after 300 ms */
#define STEAL_RETRY_MS 50            /* an idle worker looks again (sooner when a part ends) */
#define CHUNK_HOLD_NS 250000000ull   /* a partly filled chunk is flushed after 250 ms */

typedef struct chunk {
  uint64_t off;
  size_t len;
  unsigned char *buf;
  uint64_t t0_ns; /* when its first byte came */
} chunk;

struct worker;

typedef struct run_ctx {
  pf_session *s;
  pf_part *parts;
  size_t nparts, next; /* next: under mu */
  pthread_mutex_t mu;
  pthread_cond_t idle_cv; /* with mu: a part ended (idle workers look again) */
  struct worker *ws;
  size_t nworkers;
  uint64_t t0_ns, fetched0; /* for the pool's rate */
  pf_queue full;  /* filled chunks, to the writer */
  pf_queue empty; /* the pool */
  size_t chunk_size;
} run_ctx;

typedef struct worker {
  run_ctx *rc;
  pthread_t th;
  int started;
  chunk *cur;   /* being filled */
  pf_span span; /* the part in flight */
} worker;

static void flush(worker *w) {
  if (!w->cur)
    return;
  if (w->cur->len == 0 || pf_queue_push(&w->rc->full, w->cur) != 0)
    pf_queue_push(&w->rc->empty, w->cur); /* never blocks: the pool has room for all */
  w->cur = NULL;
}

/* The workers' data callback: copy into pooled chunks. */
static int enqueue(void *ctx, uint64_t off, const void *buf, size_t len) {
  worker *w = ctx;
  const unsigned char *p = buf;
  while (len > 0) {
    if (w->cur && w->cur->off + w->cur->len != off)
      flush(w);
    if (!w->cur) {
      void *item;
      if (pf_queue_pop(&w->rc->empty, &item) != 0)
        return -1; /* stopping */
      w->cur = item;
      w->cur->off = off;
      w->cur->len = 0;
      w->cur->t0_ns = pf_now_ns();
    }
    size_t n = w->rc->chunk_size - w->cur->len;
    if (n > len)
      n = len;
    memcpy(w->cur->buf + w->cur->len, p, n);
    w->cur->len += n;
    p += n;
    off += n;
    len -= n;
    /* full, or held long enough: a slow stream's bytes should reach the
     * disk (and the resume journal) without waiting to fill a chunk */
    if (w->cur->len == w->rc->chunk_size || pf_now_ns() - w->cur->t0_ns > CHUNK_HOLD_NS)
      flush(w);
    if (atomic_load(&w->rc->s->stop))
      return -1;
  }
  return 0;
}

/* Take over the tail of the slowest-finishing part. Called with rc->mu
 * held. Returns 1 and fills *part if there was something worth taking;
 * *busy says whether other parts are still in flight (worth waiting for). */
static int steal(run_ctx *rc, worker *self, int warm, pf_part *part, size_t *victim,
                 double *victim_left, int *busy) {
  uint64_t now = pf_now_ns();
  double elapsed = (double)(now - rc->t0_ns) / 1e9;
  double pool_rate =
      elapsed > 0 ? (double)(atomic_load(&rc->s->bytes_fetched) - rc->fetched0) / elapsed : 0;
  worker *best = NULL;
  double best_left = 0, best_rate = 0;
  uint64_t all_remaining = 0;
  *busy = 0;
  for (size_t i = 0; i < rc->nworkers; i++) {
    worker *w = &rc->ws[i];
    if (w == self)
      continue;
    pthread_mutex_lock(&w->span.mu);
    if (w->span.active && w->span.end > w->span.claimed) {
      *busy = 1;
      uint64_t remaining = w->span.end - w->span.claimed;
      uint64_t ran = now - w->span.t0_ns, done = w->span.claimed - w->span.start;
      /* a stream's own rate, once it has run long enough to say: a stream
       * that delivered almost nothing in that time is known to be slow */
      double rate = ran > RATE_WARMUP_NS ? ((double)done + 1) / ((double)ran / 1e9) : 0;
      double per_stream = pool_rate > 0 ? pool_rate / (double)rc->nworkers : 0;
      double left = rate > 0 ? remaining / rate
                    : per_stream > 0 ? remaining / per_stream
                                     : (double)remaining; /* no rates yet: the largest */
      all_remaining += remaining;
      if (!best || left > best_left) {
        best = w;
        best_left = left;
        best_rate = rate;
      }
    }
    pthread_mutex_unlock(&w->span.mu);
  }
  /* a new request costs a round trip or two: not worth it for a stream about
   * to finish anyway */
  if (!best || best_left < STEAL_MIN_LEFT_S)
    return 0;
  /* a thief without an open connection pays a handshake and a slow start:
   * only worth it for a stream that is far from done */
  if (!warm && best_left < COLD_MIN_LEFT_S)
    return 0;
  int got = 0;
  pthread_mutex_lock(&best->span.mu);
  uint64_t remaining = best->span.active ? best->span.end - best->span.claimed : 0;
  if (remaining > 0) {
    /* the victim keeps what it can fetch while the pool finishes the rest;
     * with no rate yet, half */
    uint64_t keep = remaining / 2;
    if (best_rate > 0 && pool_rate > 0) {
      double k = best_rate * (double)all_remaining / pool_rate;
      keep = k < (double)remaining ? (uint64_t)k : remaining;
    }
    uint64_t take = remaining - keep;
    uint64_t least = best_left > SLOW_SECS ? MIN_STEAL_SLOW : MIN_STEAL;
    if (take >= least) {
      part->offset = best->span.end - take;
      part->length = take;
      part->index = (uint32_t)atomic_fetch_add(&rc->s->parts_total, 1);
      best->span.end = part->offset;
      got = 1;
    }
  }
  pthread_mutex_unlock(&best->span.mu);
  if (got) {
    atomic_fetch_add(&rc->s->steals, 1);
    *victim = (size_t)(best - rc->ws);
    *victim_left = best_left;
  }
  return got;
}

static void *worker_main(void *arg) {
  worker *w = arg;
  run_ctx *rc = w->rc;
  pf_session *s = rc->s;
  struct pf_xfer *x = pf_xfer_new(s);
  if (!x) {
    pf_fail(s, PF_E_NOMEM, "cannot create a transfer");
    return NULL;
  }
  int stealing = s->ranges && !s->in_order;
  for (;;) {
    pf_part part;
    int have = 0, stolen = 0, busy = 0;
    size_t victim = 0;
    double victim_left = 0;
    pthread_mutex_lock(&rc->mu);
    if (!atomic_load(&s->stop)) {
      if (rc->next < rc->nparts) {
        part = rc->parts[rc->next++];
        have = 1;
      } else if (stealing) {
        have = stolen = steal(rc, w, pf_xfer_warm(x), &part, &victim, &victim_left, &busy);
      }
    }
    if (have) {
      pthread_mutex_lock(&w->span.mu);
      w->span.start = w->span.claimed = part.offset;
      w->span.end = part.length == PF_SIZE_UNKNOWN ? PF_SIZE_UNKNOWN : part.offset + part.length;
      w->span.t0_ns = pf_now_ns();
      w->span.active = 1;
      pthread_mutex_unlock(&w->span.mu);
    }
    if (!have && busy && !atomic_load(&s->stop)) {
      /* nothing worth taking yet; a stream may turn out slow: look again
       * soon, or at once when a part ends (the last one: time to go) */
      pf_cond_wait_ms(&rc->idle_cv, &rc->mu, STEAL_RETRY_MS);
      pthread_mutex_unlock(&rc->mu);
      pf_xfer_yield(x); /* idle: its connection to a stream that waits for one */
      continue;
    }
    pthread_mutex_unlock(&rc->mu);
    if (!have)
      break;
    if (stolen) /* logged outside rc->mu: a slow log must not stall the others */
      pf_log(s, "stream %zu takes bytes %llu-%llu from stream %zu (%.1f s left there)",
             (size_t)(w - rc->ws), (unsigned long long)part.offset,
             (unsigned long long)(part.offset + part.length - 1), victim, victim_left);
    pf_status st = pf_fetch(s, &x, &part, enqueue, w, &w->span);
    pthread_mutex_lock(&w->span.mu);
    w->span.active = 0;
    pthread_mutex_unlock(&w->span.mu);
    pthread_mutex_lock(&rc->mu);
    pthread_cond_broadcast(&rc->idle_cv);
    pthread_mutex_unlock(&rc->mu);
    flush(w); /* what arrived before a failure is good data too */
    if (st != PF_OK)
      break;
  }
  flush(w);
  pf_xfer_free(x);
  return NULL;
}

static void *writer_main(void *arg) {
  run_ctx *rc = arg;
  void *item;
  /* while the workers connect: a full disk stops everyone before a byte */
  if (pf_sink_reserve(rc->s) != PF_OK)
    return NULL;
  while (pf_queue_pop(&rc->full, &item) == 0) {
    chunk *c = item;
    pf_status st = pf_sink_store(rc->s, c->off, c->buf, c->len);
    pf_queue_push(&rc->empty, c);
    if (st != PF_OK)
      break; /* pf_fail has stopped everyone */
  }
  return NULL;
}

pf_status pf_run(pf_session *s) {
  const pf_config *c = s->cfg;
  run_ctx rc;
  memset(&rc, 0, sizeof rc);
  rc.s = s;
  rc.chunk_size = c->chunk_size;
  pf_status st = pf_sink_plan(s, &rc.parts, &rc.nparts);
  if (st != PF_OK)
    return st;
  atomic_store(&s->parts_total, (unsigned)rc.nparts);
  if (rc.nparts == 0 || rc.parts[0].offset != 0)
    pf_drop_probe(s); /* byte 0 is stored already: nobody will take it */
  if (rc.nparts == 0) {
    pf_preconnect_drop(s);
    free(rc.parts);
    return PF_OK;
  }
  size_t nworkers = rc.nparts < c->max_streams ? rc.nparts : c->max_streams;
  /* no more streams than the client lets connect to one host (client.c) */
  if (nworkers > c->max_connections_per_host)
    nworkers = c->max_connections_per_host;
  if (nworkers > c->max_connections)
    nworkers = c->max_connections;
  /* the connections opened ahead that these workers will not use */
  pthread_mutex_lock(&s->probe_mu);
  int have_probe = s->probe != NULL;
  pthread_mutex_unlock(&s->probe_mu);
  pf_preconnect_trim(s, nworkers - (have_probe ? 1 : 0));
  size_t depth = c->queue_depth ? c->queue_depth : 2 * nworkers;
  size_t pool = depth + nworkers;

  chunk *chunks = calloc(pool, sizeof *chunks);
  unsigned char *mem = malloc(pool * rc.chunk_size);
  worker *ws = calloc(nworkers, sizeof *ws);
  if (!chunks || !mem || !ws || pthread_mutex_init(&rc.mu, NULL) != 0) {
    st = pf_fail(s, PF_E_NOMEM, "cannot allocate %zu chunks of %zu bytes", pool, rc.chunk_size);
    goto out_mem;
  }
  pf_cond_init_monotonic(&rc.idle_cv);
  if (pf_queue_init(&rc.full, depth, &s->stop) != 0) {
    st = pf_fail(s, PF_E_NOMEM, "out of memory");
    goto out_mu;
  }
  if (pf_queue_init(&rc.empty, pool, &s->stop) != 0) {
    st = pf_fail(s, PF_E_NOMEM, "out of memory");
    goto out_full;
  }
  for (size_t i = 0; i < pool; i++) {
    chunks[i].buf = mem + i * rc.chunk_size;
    pf_queue_push(&rc.empty, &chunks[i]);
  }

  pthread_t writer;
  if (pthread_create(&writer, NULL, writer_main, &rc) != 0) {
    st = pf_fail(s, PF_E_INTERNAL, "cannot start the writer thread");
    goto out_empty;
  }
  size_t started = 0;
  rc.ws = ws;
  rc.nworkers = nworkers;
  rc.t0_ns = pf_now_ns();
  rc.fetched0 = atomic_load(&s->bytes_fetched);
  for (size_t i = 0; i < nworkers; i++)
    pthread_mutex_init(&ws[i].span.mu, NULL);
  for (size_t i = 0; i < nworkers; i++) {
    ws[i].rc = &rc;
    ws[i].started = pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) == 0;
    started += (size_t)ws[i].started;
  }
  if (started == 0)
    pf_fail(s, PF_E_INTERNAL, "cannot start any worker thread");
  for (size_t i = 0; i < nworkers; i++)
    if (ws[i].started)
      pthread_join(ws[i].th, NULL);
  pf_queue_close(&rc.full); /* the writer drains what is left, then ends */
  pthread_join(writer, NULL);
  for (size_t i = 0; i < nworkers; i++)
    pthread_mutex_destroy(&ws[i].span.mu);

  pthread_mutex_lock(&s->mu);
  st = s->err;
  pthread_mutex_unlock(&s->mu);
  if (st == PF_OK && atomic_load(&s->cancelled))
    st = pf_fail(s, PF_E_CANCELLED, "cancelled");
out_empty:
  pf_queue_destroy(&rc.empty);
out_full:
  pf_queue_destroy(&rc.full);
out_mu:
  pthread_cond_destroy(&rc.idle_cv);
  pthread_mutex_destroy(&rc.mu);
out_mem:
  pf_preconnect_drop(s); /* on the error paths too */
  free(ws);
  free(mem);
  free(chunks);
  free(rc.parts);
  return st;
}
