/*
 * own_threads.c - a host that brings its own thread pool instead of run().
 *
 * Demonstrates the host-driven model of the ABI:
 *   open -> plan_parts -> N pthreads of ours, each taking the next part and
 *   calling fetch_part -> close(PF_CLOSE_COMMIT).
 * and the two ways fetch_part can deliver data:
 *   - fn == NULL: the engine stores the bytes itself (write_sink inside
 *     fetch_part). Used here for even-numbered parts.
 *   - fn != NULL: the bytes come to our callback, in the calling thread, in
 *     ascending contiguous offsets within the part; we may inspect, count,
 *     transform or keep them, and here forward them with write_sink so the
 *     engine still accounts them for completion and the digest. Used for
 *     odd-numbered parts.
 * A host that keeps the bytes itself (a memory cache, its own store) would
 * skip write_sink; close(PF_CLOSE_COMMIT) then reports that bytes are missing,
 * so such a host closes without PF_CLOSE_COMMIT.
 *
 * Error handling: the first failing thread records its status and calls
 * cancel(), so the other threads' fetch_part calls return PF_E_CANCELLED
 * promptly instead of finishing their parts.
 *
 *   usage: own_threads PLUGIN URL OUT [THREADS]
 *   exit:  0 done, 1 the download failed, 2 usage or the plugin did not load
 *
 * Threads: main + THREADS workers. fetch_part is [thread-safe] on distinct
 * parts and write_sink is [thread-safe]; `next` (an atomic) hands each part
 * to exactly one worker; `mu` guards the first error.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"
#include "parfetch.h"

struct pool {
  const pf_entry *pf;
  pf_session *s;
  const pf_part *parts;
  size_t count;
  atomic_size_t next; /* the next part index to hand out */
  pthread_mutex_t mu; /* guards first_error */
  pf_status first_error;
};

/* One per worker thread: the context of our data callback. */
struct worker {
  struct pool *pool;
  pthread_t thread;
  pf_status sink_status; /* why our callback stopped a part, if it did */
  uint64_t via_callback; /* bytes that passed through forward() */
};

/* pf_data_fn: called by fetch_part in this worker's thread. */
static int forward(void *ctx, uint64_t offset, const void *buf, size_t len) {
  struct worker *w = ctx;
  pf_status st = w->pool->pf->write_sink(w->pool->s, offset, buf, len);
  if (st != PF_OK) {
    w->sink_status = st;
    return 1; /* abort the part: fetch_part returns PF_E_CANCELLED */
  }
  w->via_callback += len;
  return 0;
}

static void fail(struct pool *p, pf_status st) {
  pthread_mutex_lock(&p->mu);
  int first = p->first_error == PF_OK;
  if (first)
    p->first_error = st;
  pthread_mutex_unlock(&p->mu);
  if (first)
    p->pf->cancel(p->s); /* stop the others promptly */
}

static void *worker_main(void *arg) {
  struct worker *w = arg;
  struct pool *p = w->pool;
  for (;;) {
    size_t i = atomic_fetch_add(&p->next, 1);
    if (i >= p->count)
      break;
    const pf_part *part = &p->parts[i];
    pf_status st;
    if (i % 2 == 0)
      st = p->pf->fetch_part(p->s, part, NULL, NULL); /* the engine stores */
    else
      st = p->pf->fetch_part(p->s, part, forward, w); /* we forward */
    if (st == PF_E_CANCELLED && w->sink_status != PF_OK)
      st = w->sink_status; /* our callback stopped it: report why */
    if (st != PF_OK) {
      fail(p, st);
      break;
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: %s PLUGIN URL OUT [THREADS]\n", argv[0]);
    return 2;
  }
  long nthreads = 4;
  if (argc == 5) {
    char *end;
    nthreads = strtol(argv[4], &end, 10);
    if (end == argv[4] || *end)
      nthreads = 0;
  }
  if (nthreads < 1 || nthreads > 256) {
    fprintf(stderr, "own_threads: THREADS must be 1..256\n");
    return 2;
  }

  pfh_plugin plugin;
  char err[1024];
  if (pfh_load(argv[1], &plugin, err, sizeof err) != 0) {
    fprintf(stderr, "own_threads: %s\n", err);
    return 2;
  }
  const pf_entry *pf = plugin.entry;

  pf_config *cfg = pf->config_new();
  if (!cfg) {
    pfh_unload(&plugin);
    return 1;
  }
  pf_open_args args;
  memset(&args, 0, sizeof args);
  args.struct_size = sizeof args;
  args.output_path = argv[3];

  pf_session *s = NULL;
  pf_status st = pf->open(cfg, argv[2], &args, &s);
  pf->config_free(cfg);
  if (st != PF_OK) {
    fprintf(stderr, "own_threads: %s: %s\n", pf->strerror(st), s ? pf->errmsg(s) : "");
    if (s)
      pf->close(s, 0);
    pfh_unload(&plugin);
    return 1;
  }

  /* The plan: ask for the count, then for the parts. */
  size_t count = 0;
  pf_part *parts = NULL;
  st = pf->plan_parts(s, NULL, 0, &count);
  if (st == PF_OK) {
    parts = calloc(count ? count : 1, sizeof *parts);
    st = parts ? pf->plan_parts(s, parts, count, &count) : PF_E_NOMEM;
  }

  struct pool pool = {.pf = pf, .s = s, .parts = parts, .count = count, .first_error = st};
  pthread_mutex_init(&pool.mu, NULL);
  atomic_init(&pool.next, 0);
  struct worker *workers = calloc((size_t)nthreads, sizeof *workers);
  long started = 0;
  if (st == PF_OK && !workers)
    pool.first_error = PF_E_NOMEM;
  for (long i = 0; pool.first_error == PF_OK && i < nthreads; i++) {
    workers[i].pool = &pool;
    if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
      fail(&pool, PF_E_NOMEM);
      break;
    }
    started++;
  }
  uint64_t via_callback = 0;
  for (long i = 0; i < started; i++) {
    pthread_join(workers[i].thread, NULL);
    via_callback += workers[i].via_callback;
  }

  int rc = 0;
  st = pool.first_error;
  if (st != PF_OK) {
    fprintf(stderr, "own_threads: %s: %s\n", pf->strerror(st), pf->errmsg(s));
    pf->close(s, 0);
    rc = 1;
  } else {
    pf_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    pf->get_stats(s, &stats);
    fprintf(stderr,
            "own_threads: %zu parts on %ld threads; %llu bytes stored, %llu of them through our "
            "callback\n",
            count, started, (unsigned long long)stats.bytes_written,
            (unsigned long long)via_callback);
    st = pf->close(s, PF_CLOSE_COMMIT);
    if (st != PF_OK) {
      fprintf(stderr, "own_threads: %s: %s\n", pf->strerror(st), argv[3]);
      rc = 1;
    }
  }
  free(workers);
  free(parts);
  pthread_mutex_destroy(&pool.mu);
  pfh_unload(&plugin);
  return rc;
}
