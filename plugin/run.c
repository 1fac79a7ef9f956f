/*
 * run.c - the built-in dispatcher.
 *
 * A small object whose probe kept the whole reply (fetch.c) is stored
 * first, from run()'s thread; the streams fetch what is still missing,
 * nothing when all of it came.
 * Threads: none of its own. N streams (N = min(streams, parts, and the
 * client's budgets: max_connections_per_host, max_connections)) run on the
 * client's network threads (loop.c), stream k on lane k % nlanes (lane i:
 * the session's home loop + i, lane 0 with the probe): each is a job
 * (fetch.c) at a time, one part
 * with its retries, and takes the next unplanned part when its job ends,
 * until none is left. Its data callback copies the reply into a pooled
 * chunk and pushes full chunks onto the queue of full chunks. run()'s
 * caller's thread is the writer: it pops chunks, stores them (pwrite +
 * digest) and returns them to the pool.
 * Memory is bounded: the pool holds queue_depth + N chunks of chunk_size
 * (and enough more for one read of libcurl's) and nothing else buffers the
 * body. A stream whose bytes find no room in the pool pauses its reply
 * (fetch.c's room check) until the writer gives chunks back: that is the
 * backpressure that keeps a fast network from outrunning a slow disk, and
 * it holds up no other session on the loop.
 * Work stealing: a stream that runs out of planned parts takes over the tail
 * of the part expected to finish last. Expectations come from the streams'
 * pace (steal(), peers_pace()):
 *   - a request's rate clock starts at its first body byte (pf_span
 *     first_ns), not when it went out: the time to first byte (TTFB, as
 *     libcurl measured it for every request, the probe's included) is a
 *     round trip or two, not the stream's speed;
 *   - a request still inside a normal TTFB (2 x the longest measured, plus
 *     FIRST_BYTE_SLACK_S) is never a victim; a request that was itself stolen
 *     not before a stall's time either, so a range cannot bounce between
 *     streams on a long round trip;
 *   - a stream with no byte for much longer than its peers' pace (STALL_CHUNKS
 *     chunks at their rate, at least STALL_MIN_NS and 2 x TTFB; twice that
 *     for one that never had a first byte) is stalled: a thief takes its whole
 *     remaining range, and its transfer ends at once (fetch.c's tick() sees
 *     its end lowered to what it claimed, without waiting for a byte);
 *     stall_timeout stays the absolute backstop of a lone stream;
 *   - otherwise the thief takes [split, end) where the two are expected to end
 *     together: the victim fetches the part it keeps at its own rate while
 *     the thief pays a TTFB (two with no open connection: handshake) and then
 *     fetches the rest at the peers' pace; and only if the thief is expected
 *     to be done at least STEAL_MIN_GAIN_S before the victim would have been.
 *     So a steal never makes the total slower than not stealing, by the
 *     estimates. A stream far slower than its peers near the end keeps a
 *     sliver (hedging the tail). Nobody takes from a stream that ends within
 *     STEAL_MIN_LEFT_S (COLD_MIN_LEFT_S for a thief without an open
 *     connection), nor less than MIN_STEAL (MIN_STEAL_SLOW from a stream with
 *     more than SLOW_SECS left; any amount from a stalled one).
 * The victim's transfer sees its new end in its data callback (pf_span) and
 * ends its reply there. The number of connections never exceeds the stream
 * count.
 * In order (a PF_SINK_IN_ORDER sink, or one without read() under a
 * checksum: -o -), every stream works too. The plan is parts of
 * stream_window / (2 x streams) (reorder.c), handed out in ascending order,
 * each only when it ends within stream_window bytes of the head, the next
 * byte the sink needs (admitted(); a stream that must wait is idle, and the
 * writer kicks the lanes when the head moves). The writer holds the chunks
 * that arrive ahead of the head in the window (pf_reorder) and stores them
 * as the gap before them fills, in ascending contiguous order. Never a
 * deadlock: the stream whose part holds the head takes chunks from the pool
 * above, which nothing else takes from, and its chunks go to the sink as
 * they come; the streams ahead of it take from a second pool (rc->ahead) of
 * the window's size in chunks, plus two per stream, so they finish the part
 * they took (its bytes are within the window) and become free to steal. A
 * steal in order takes only from the stream the head waits on (the lowest
 * unclaimed byte), by the rules above: a slow or stalled head is taken
 * over, a slow stream further ahead only holds up the window. A slow sink
 * blocks the writer: the pools run dry, every reply pauses, and memory stays
 * at the two pools.
 * Ranges not trusted (pf_trust): when the same kind of bad reply to ranged
 * requests (a wrong Content-Range, or a 200 that ignores Range) comes from
 * PF_DISTRUST_AFTER requests, every ranged request ends, the first round
 * ends, and a second round of one stream fetches the whole object with one
 * plain GET (checked as a whole reply: 200, length, validator), delivering
 * only the bytes no part stored (enqueue_missing); a bad reply there is
 * final (exit 3). Seconds, not 15 retries with backoff per part.
 * Mirrors (ABI 1.4, source.c): with more than one source (and ranges), the
 * streams are dealt over them when they take work (pick_source: the least
 * loaded live source within its host's max_connections_per_host, in all and
 * on the stream's lane; the part that continues the probe's reply is the
 * primary's). A mirror whose request fails, or that had no byte for a
 * stall's time and was taken over whole, is dropped: the range its stream
 * had left goes back (rc->back, taken before the parts not yet planned), and
 * its streams' ranges are stalled ones to the thieves. A source 4 x slower
 * than the best gets no new part (a request that went quiet for a stall's
 * time counts the silence in its pace), and its streams leave theirs for a
 * faster source with room (leave_slow, on each lane's tick); a stream that no
 * source may have waits, idle, while work is left. The primary's failure
 * (network, HTTP, bad reply; its retries spent) drops it too while a
 * mirror is live; an object that changed there, or the last live source
 * failing, fails the session.
 * Failure: the first error (pf_fail) sets s->stop; the writer's pop and
 * every transfer (the loop's tick) see it within 100 ms, so nobody waits on
 * a queue that nobody drains and nobody produces for a writer that died.
 * A round ends when its last stream has ended: the loop closes the queue
 * of full chunks, the writer drains it, and run() waits for the loop to
 * say the round is over (round_done) before it frees anything.
 *
 * Threads: a stream, its jobs and its lane's tick run on its lane's loop
 * thread; steal() on any lane's, reading the others' spans under their
 * locks; a lane only ever wakes its own idle streams (another lane's, by a
 * kick); the last lane to see every stream ended ends the round. The
 * writer runs on run()'s thread. Lock order: rc->mu (part dispenser) before a
 * stream's span.mu; the queues' mutexes are leaves; s->mu is taken inside
 * pf_sink_store only (and by run_whole() between the rounds, when no stream
 * runs).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "reorder.h"

#define MIN_STEAL (1024u * 1024)     /* smallest range worth a new request */
#define MIN_STEAL_SLOW (4u * 1024)   /* ... from a stream with > SLOW_SECS left */
#define SLOW_SECS 0.5
#define STEAL_MIN_LEFT_S 0.1         /* leave alone a stream that ends sooner */
#define COLD_MIN_LEFT_S 1.0          /* ... or, for a thief with no open connection, sooner than this */
#define RATE_WARMUP_NS 300000000ull  /* a stream's rate is known after 300 ms */
#define STEAL_RETRY_MS 50            /* an idle stream looks again (sooner when a part ends) */
#define CHUNK_HOLD_NS 250000000ull   /* a partly filled chunk is flushed after 250 ms */
#define STALL_MIN_NS 1000000000ull   /* no byte for less is never a stall */
#define STALL_CHUNKS 8.0             /* ... nor for less than 8 chunks' time at the peers' pace */
#define FIRST_BYTE_SLACK_S 0.05      /* a request is left alone for 2 x TTFB + this */
#define STALLED_LEFT_S 1e9           /* a stalled stream's time left */
#define PACE_MIN_NS 1000000ull       /* a request's pace counts at least 1 ms of body */
#define STEAL_MIN_GAIN_S 0.05        /* a steal must bring the end this much closer */
#define LEAVE_MIN_LEFT_S 1.0         /* a stream on a slow mirror keeps a part it ends sooner */

typedef struct chunk {
  uint64_t off;
  size_t len;
  unsigned char *buf;
  uint64_t t0_ns; /* when its first byte came */
  pf_queue *home; /* the pool it goes back to: rc->empty, or rc->ahead */
} chunk;

struct stream;
struct run_ctx;

/* The streams of a round on one of the client's network threads: stream k
 * runs on lane k % nlanes, lane i on loop home + i. Its task looks again
 * for its idle streams, and ends its part of the round. */
typedef struct lane {
  pf_task task; /* first */
  struct run_ctx *rc;
  pf_loop *loop;
  uint64_t idle_look_ns;
  atomic_int kick;      /* another lane's part ended: look again now */
  atomic_int want_room; /* a stream here paused for the pool: the writer posts room_again */
} lane;

#define MAX_LANES PF_MAX_LOOPS

typedef struct run_ctx {
  pf_session *s;
  lane lanes[MAX_LANES];
  size_t nlanes;
  atomic_size_t lanes_left; /* lanes whose task still runs this round */
  pf_part *parts;
  size_t nparts, next; /* next: under mu */
  pthread_mutex_t mu;
  struct stream *streams;
  size_t nstreams;
  atomic_size_t ended;
  uint64_t t0_ns, fetched0; /* for the pool's rate */
  pf_queue full;  /* filled chunks, to the writer; room for the whole pool */
  size_t depth;   /* queue_depth */
  size_t pool;    /* chunks in all */
  int full_gone;  /* destroyed, and not made again (out of memory) */
  pf_queue empty; /* the pool */
  size_t chunk_size;
  struct view *views; /* steal()'s copy of the spans, under mu */
  double *rates;      /* ... and its scratch for the median */
  pf_trust trust;     /* the server's ranged replies (fetch.c counts) */
  pf_range *gaps;     /* the whole-object round: the bytes to deliver */
  size_t ngaps;
  atomic_uint room_posts; /* room_again posted and not run to its end yet */
  /* (ABI 1.4) mirrors: streams are dealt over the object's sources
   * (source.c); a failed mirror's range goes back here, taken before the
   * parts not yet fetched (under mu) */
  int mirrors;
  pf_source_view *sview; /* pick_source()'s scratch, under mu */
  pf_range *back;
  size_t nback, cap_back;
  pthread_mutex_t done_mu; /* with done_cv: round_done */
  pthread_cond_t done_cv;
  int round_done;
  /* in order (s->in_order, several streams): the window (reorder.c) */
  pf_queue ahead;            /* the window's chunks, for streams ahead of the head */
  size_t nahead;             /* how many (0: not in order, or one stream) */
  uint64_t window;           /* stream_window: how far ahead of the head a part may end */
  pf_reorder ro;             /* the writer's: chunks held until the gap before them is filled */
  atomic_uint_fast64_t head; /* ro.head, for the streams: the next byte the sink needs */
  atomic_int window_wait;    /* a stream waits for the head to move (the writer kicks) */
} run_ctx;

#define MAX_STASH (PF_READ_MAX / (16 * 1024) + 2) /* room()'s most, at the smallest chunk_size */

typedef struct stream {
  run_ctx *rc;
  lane *lane;
  pf_job job; /* job.x: the stream's transfer (the probe's, once a job took it) */
  chunk *stash[MAX_STASH]; /* taken from the pool by room() for enqueue() */
  size_t nstash;
  pf_queue *from; /* the pool room() took them from (rc->empty, or rc->ahead) */
  int idle;     /* nothing worth taking yet: looks again */
  int ended;
  chunk *cur;   /* being filled */
  pf_span span; /* the part in flight */
  double pace;  /* bytes/s of its last request, from its first byte (under rc->mu) */
  size_t src;   /* the source of its parts (source.c): PF_NO_SOURCE for none (under rc->mu) */
} stream;

static void flush(stream *w) {
  if (!w->cur)
    return;
  if (w->cur->len == 0 || pf_queue_push(&w->rc->full, w->cur) != 0)
    pf_queue_push(w->cur->home, w->cur); /* never blocks: the pool has room for all */
  w->cur = NULL;
}

static void unstash(stream *w) {
  while (w->nstash > 0) {
    chunk *c = w->stash[--w->nstash];
    pf_queue_push(c->home, c);
  }
}

/* The pool a stream takes chunks from. In order, only the stream whose part
 * holds the head (the next byte the sink needs) takes from rc->empty, sized
 * as for a download to a file; the streams ahead of it share the window's
 * chunks (rc->ahead), and pause when those are all held: so the head always
 * finds room, and the bytes waiting for it never take more than the window.
 * (span.start is written on w's loop thread only, where room() runs.) */
static pf_queue *pool_for(const stream *w) {
  run_ctx *rc = w->rc;
  if (!rc->nahead || w->span.start <= atomic_load(&rc->head))
    return &rc->empty;
  return &rc->ahead;
}

/* Can the pool take len more bytes of w's now? (fetch.c asks before it
 * hands them to enqueue, which then never waits.) The chunks they need are
 * taken from the pool now, into w's stash: streams on other network threads
 * take from the pool too. A stream that must wait gives them back and hands
 * its partly filled chunk to the writer, so that every chunk comes back to
 * the pool in the end. */
static int room(void *ctx, size_t len) {
  stream *w = ctx;
  size_t cs = w->rc->chunk_size;
  /* enough whatever w->cur holds; the whole-object round cuts a reply at
   * its gaps, and a piece after a gap starts a chunk of its own: two more
   * cover one reply spanning a stored range (the pool has a chunk per
   * stream to spare) */
  size_t need = (len + cs - 1) / cs + (w->rc->gaps ? 2 : 0);
  if (need > MAX_STASH) /* (libcurl hands at most PF_READ_MAX: never) */
    need = MAX_STASH;
  for (int pass = 0; pass < 2; pass++) {
    void *item;
    /* (again each pass: the head may have come to w's part meanwhile) */
    w->from = pool_for(w);
    while (w->nstash < need && pf_queue_trypop(w->from, &item) == 0)
      w->stash[w->nstash++] = item;
    if (w->nstash >= need)
      return 1;
    unstash(w);
    flush(w);
    /* then look again: the writer posts room_again only for chunks it
     * gives back after this */
    atomic_store(&w->lane->want_room, 1);
  }
  return 0;
}

/* The streams' data callback: copy into pooled chunks (room() said there
 * are enough). */
static int enqueue(void *ctx, uint64_t off, const void *buf, size_t len) {
  stream *w = ctx;
  const unsigned char *p = buf;
  while (len > 0) {
    if (w->cur && w->cur->off + w->cur->len != off)
      flush(w);
    if (!w->cur) {
      void *item = w->nstash ? w->stash[--w->nstash] : NULL;
      if (!item && pf_queue_trypop(w->from ? w->from : &w->rc->empty, &item) != 0) {
        /* room() said there is one: only a stop empties it under us */
        if (!atomic_load(&w->rc->s->stop))
          pf_fail(w->rc->s, PF_E_INTERNAL, "the pool of buffers ran dry");
        return -1;
      }
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
     * disk (and the resume journal) without waiting to fill a chunk; not
     * ahead of the head in order, where they would only wait in the window,
     * each in a chunk of its own */
    if (w->cur->len == w->rc->chunk_size ||
        (w->from != &w->rc->ahead && pf_now_ns() - w->cur->t0_ns > CHUNK_HOLD_NS))
      flush(w);
    if (atomic_load(&w->rc->s->stop))
      return -1;
  }
  return 0;
}

/* What a thief knows of one stream, copied under its span's lock. */
typedef struct view {
  uint64_t claimed, end, t0_ns, first_ns, prev_ns, prev_at, rx_ns, ttfb_ns;
  int active, stolen;
  int gone; /* its source, a mirror, was dropped: all it has left is the thieves' */
} view;

typedef struct pace {
  double ttfb, rate, gap; /* s, bytes/s, s: no byte for longer is a stall */
} pace;

/* A stream's rate over its last window or two (0: not known yet). */
static double window_rate(const view *v, uint64_t now) {
  if (!v->first_ns || now - v->prev_ns < RATE_WARMUP_NS)
    return 0;
  return ((double)(v->claimed - v->prev_at) + 1) / ((double)(now - v->prev_ns) / 1e9);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The streams' pace: the time to a first byte (the longest any stream
 * measured: a new request pays it) and the median rate of the streams (a
 * running one's recent rate, else what its last request did; a trickling
 * stream does not drag it down), else the pool's rate per stream. */
static pace peers_pace(const run_ctx *rc, const view *v, uint64_t now) {
  pace p = {0, 0, 0};
  double *r = rc->rates;
  size_t n = 0;
  for (size_t i = 0; i < rc->nstreams; i++) {
    if ((double)v[i].ttfb_ns / 1e9 > p.ttfb)
      p.ttfb = (double)v[i].ttfb_ns / 1e9;
    double x = v[i].active && now - v[i].rx_ns < STALL_MIN_NS ? window_rate(&v[i], now) : 0;
    if (x <= 0)
      x = rc->streams[i].pace;
    if (x > 0)
      r[n++] = x;
  }
  if (p.ttfb == 0)
    p.ttfb = (double)RATE_WARMUP_NS / 1e9; /* nothing measured yet */
  if (n) {
    qsort(r, n, sizeof *r, cmp_double);
    p.rate = n % 2 ? r[n / 2] : (r[n / 2 - 1] + r[n / 2]) / 2;
  } else {
    double elapsed = (double)(now - rc->t0_ns) / 1e9;
    uint64_t got = atomic_load(&rc->s->bytes_fetched) - rc->fetched0;
    p.rate = elapsed > 0 ? (double)got / elapsed / (double)rc->nstreams : 0;
  }
  /* a stall: no byte for STALL_CHUNKS times what a peer takes for a chunk,
   * and never less than STALL_MIN_NS or two first-byte times */
  p.gap = (double)STALL_MIN_NS / 1e9;
  if (2 * p.ttfb > p.gap)
    p.gap = 2 * p.ttfb;
  if (p.rate > 0 && STALL_CHUNKS * (double)rc->chunk_size / p.rate > p.gap)
    p.gap = STALL_CHUNKS * (double)rc->chunk_size / p.rate;
  return p;
}

/* When would the stream of v finish its remaining bytes, and at what rate
 * (0: stalled)? *quiet: how long it has had no byte. Returns 0 if nobody may
 * take from it now: it is still inside a normal time to first byte (a stolen
 * request: inside a stall's time), as a new request would be. */
static int expect_finish(const view *v, const pace *p, uint64_t now, double *left, double *rate,
                         double *quiet) {
  double remaining = (double)(v->end - v->claimed);
  *rate = p->rate;
  if (v->gone) {
    *quiet = (double)(now - v->rx_ns) / 1e9;
    *rate = 0;
  } else if (!v->first_ns) {
    double since = (double)(now - v->t0_ns) / 1e9;
    *quiet = since;
    double stall = 2 * p->gap > 4 * p->ttfb ? 2 * p->gap : 4 * p->ttfb;
    if (since < 2 * p->ttfb + FIRST_BYTE_SLACK_S || (v->stolen && since < stall))
      return 0;
    if (since >= stall)
      *rate = 0; /* headers, maybe, but no body: stalled */
  } else {
    *quiet = (double)(now - v->rx_ns) / 1e9;
    double own = window_rate(v, now);
    if (*quiet > p->gap)
      *rate = 0; /* delivered, then nothing for much longer than its peers' pace */
    else if (own > 0)
      *rate = own;
  }
  *left = *rate > 0 ? remaining / *rate : STALLED_LEFT_S;
  return 1;
}

/* Take over the tail of the part expected to finish last, if the thief (who
 * pays a time to first byte, twice with no open connection) is expected to
 * finish what it takes sooner than that stream would: stealing never makes
 * the total slower than not stealing. The split point balances the two: the
 * victim keeps what it fetches in the time the thief needs for the rest; a
 * stalled victim keeps nothing and its transfer ends at once (drive()).
 * Called with rc->mu held. Returns 1 and fills *part if there was something
 * worth taking; *busy says whether other parts are still in flight. */
static int steal(run_ctx *rc, stream *self, int warm, pf_part *part, size_t *victim,
                 double *victim_left, double *victim_quiet, int *busy) {
  view *v = rc->views;
  for (size_t i = 0; i < rc->nstreams; i++) {
    pf_span *sp = &rc->streams[i].span;
    pthread_mutex_lock(&sp->mu);
    v[i] = (view){sp->claimed, sp->end, sp->t0_ns, sp->first_ns, sp->prev_ns,
                  sp->prev_at, sp->rx_ns, sp->ttfb_ns, sp->active, sp->stolen, 0};
    pthread_mutex_unlock(&sp->mu);
    size_t src = rc->streams[i].src;
    v[i].gone = rc->mirrors && src != PF_NO_SOURCE && atomic_load(&rc->s->src[src].dropped);
  }
  uint64_t now = pf_now_ns(); /* after the copies: no time in them is later */
  pace p = peers_pace(rc, v, now);
  size_t best = 0;
  int found = 0;
  double best_left = 0, best_rate = 0, best_quiet = 0;
  *busy = 0;
  /* in order, the victim is the stream the sink waits on: the one with the
   * lowest unclaimed byte; a slow one ahead of it only holds up the window */
  size_t head = rc->nstreams;
  for (size_t i = 0; rc->nahead && i < rc->nstreams; i++)
    if (&rc->streams[i] != self && v[i].active && v[i].end != PF_SIZE_UNKNOWN &&
        v[i].end > v[i].claimed && (head == rc->nstreams || v[i].claimed < v[head].claimed))
      head = i;
  for (size_t i = 0; i < rc->nstreams; i++) {
    if (&rc->streams[i] == self || !v[i].active || v[i].end == PF_SIZE_UNKNOWN ||
        v[i].end <= v[i].claimed)
      continue;
    *busy = 1;
    if (rc->nahead && i != head)
      continue;
    double left, rate, quiet;
    if (!expect_finish(&v[i], &p, now, &left, &rate, &quiet))
      continue;
    if (!found || left > best_left) {
      found = 1;
      best = i;
      best_left = left, best_rate = rate, best_quiet = quiet;
    }
  }
  if (!found || p.rate <= 0)
    return 0;
  /* under rate_limit the streams share one rate: a thief adds none, so only
   * a stalled stream (no byte, and not waiting on the bucket: fetch.c) is
   * worth taking from */
  if (best_rate > 0 && pf_rate_limited(rc->s))
    return 0;
  /* a new request costs a round trip or two: not worth it for a stream about
   * to finish anyway; a thief without an open connection also pays a
   * handshake and a slow start */
  if (best_left < (warm ? STEAL_MIN_LEFT_S : COLD_MIN_LEFT_S))
    return 0;
  double cost = warm ? p.ttfb : 2 * p.ttfb;
  double rt = self->pace > 0 ? self->pace : p.rate; /* the thief's pace */
  stream *w = &rc->streams[best];
  int got = 0;
  pthread_mutex_lock(&w->span.mu);
  uint64_t remaining = w->span.active && w->span.end > w->span.claimed
                           ? w->span.end - w->span.claimed
                           : 0;
  if (remaining > 0) {
    /* keep k where the two end together: k / rv = cost + (R - k) / rt */
    double R = (double)remaining, keep = 0;
    if (best_rate > 0) {
      keep = (cost + R / rt) / (1 / best_rate + 1 / rt);
      keep = keep < 0 ? 0 : keep > R ? R : keep;
    }
    uint64_t take = remaining - (uint64_t)keep;
    double thief_done = cost + (double)take / rt;
    uint64_t least = best_rate == 0 ? 1 : best_left > SLOW_SECS ? MIN_STEAL_SLOW : MIN_STEAL;
    if (take >= least && thief_done + STEAL_MIN_GAIN_S < best_left) {
      part->offset = w->span.end - take;
      part->length = take;
      part->index = (uint32_t)atomic_fetch_add(&rc->s->parts_total, 1);
      w->span.end = part->offset;
      got = 1;
    }
  }
  pthread_mutex_unlock(&w->span.mu);
  if (got) {
    atomic_fetch_add(&rc->s->steals, 1);
    *victim = best;
    *victim_left = best_rate > 0 ? best_left : -1;
    *victim_quiet = best_quiet;
  }
  return got;
}

/* ---- mirrors (ABI 1.4): the object's sources, source.c --------------------- */

/* The source w takes its next part from, into w->src (rc->mu held): see
 * pf_source_pick. The part that continues the probe's reply is the primary
 * URL's. Returns 0 if no source may have another stream now (their hosts'
 * budgets are full, or the only ones left are far slower than the best):
 * w then waits (idle, its connection closed) while work is left, and looks
 * again (stream_next). *why: why it moved. */
static int pick_source(run_ctx *rc, stream *w, const char **why) {
  pf_session *s = rc->s;
  size_t was = w->src;
  *why = NULL;
  if (!rc->mirrors) {
    w->src = 0;
    return 1;
  }
  if (rc->nback == 0 && rc->next < rc->nparts && rc->parts[rc->next].offset == s->probe_start &&
      !atomic_load(&s->src[0].dropped)) {
    w->src = 0; /* the probe's reply, and its connection */
    return 1;
  }
  unsigned nloops = pf_client_nloops(s->client);
  unsigned li = (s->home + (unsigned)(w->lane - rc->lanes)) % nloops;
  unsigned share = pf_loop_budget(s->cfg->max_connections_per_host, li, nloops);
  pf_source_view *v = rc->sview;
  pthread_mutex_lock(&s->src_mu);
  for (size_t i = 0; i < s->nsrc; i++)
    v[i] = (pf_source_view){!atomic_load(&s->src[i].dropped), s->src[i].rate, 0, 0,
                            s->src[i].host_id, i > 0 && !s->src[i].proven};
  pthread_mutex_unlock(&s->src_mu);
  for (size_t k = 0; k < rc->nstreams; k++) {
    const stream *o = &rc->streams[k];
    if (o == w || o->src == PF_NO_SOURCE)
      continue;
    v[o->src].streams++;
    if (o->lane == w->lane)
      v[o->src].lane_streams++;
  }
  w->src = pf_source_pick(v, s->nsrc, was, s->cfg->max_connections_per_host, share);
  if (was != PF_NO_SOURCE && w->src != was)
    *why = !v[was].live ? "dropped" : pf_source_slow(v, s->nsrc, was) ? "slow" : "its host is full";
  return w->src != PF_NO_SOURCE;
}

/* [from, to) goes back to the streams, taken before the parts not planned
 * yet (rc->mu held). Returns 0 on out of memory. */
static int range_back(run_ctx *rc, uint64_t from, uint64_t to) {
  if (from >= to)
    return 1;
  if (rc->nback == rc->cap_back) {
    size_t cap = rc->cap_back ? 2 * rc->cap_back : 8;
    pf_range *b = realloc(rc->back, cap * sizeof *b);
    if (!b)
      return 0;
    rc->back = b;
    rc->cap_back = cap;
  }
  rc->back[rc->nback++] = (pf_range){from, to};
  pf_log(rc->s, "bytes %llu-%llu go back to the other sources", (unsigned long long)from,
         (unsigned long long)(to - 1));
  return 1;
}

/* w's job on a source failed: the source is dropped (said once, with why)
 * and the range w had left goes back to the streams (rc->back). The last
 * live source is not: its failure is the session's (a stall, stalled:
 * nothing). */
static void mirror_failed(run_ctx *rc, stream *w, uint64_t from, uint64_t to, int stalled) {
  pf_session *s = rc->s;
  size_t src = w->job.src;
  int d = pf_source_drop(s, src);
  if (d > 0)
    pf_log(s, "%s %s dropped: %s", src ? "mirror" : "main URL", pf_source_url(s, src), w->job.why);
  if (d < 0 && !stalled) {
    if (w->job.retry && w->job.tries >= s->cfg->retries) /* as job_finish says it */
      pf_fail(s, w->job.st, "%s (gave up after %u attempts)", w->job.why, w->job.tries);
    else
      pf_fail(s, w->job.st, "%s", w->job.why);
    return;
  }
  pthread_mutex_lock(&rc->mu);
  int ok = range_back(rc, from, to);
  pthread_mutex_unlock(&rc->mu);
  if (!ok)
    pf_fail(s, PF_E_NOMEM, "out of memory");
}

/* (mirrors) Lane l's streams on a source much slower than the best
 * (pf_source_slow) leave their part when a faster source has room for
 * them: the rest of it goes back (rc->back) and their transfer ends at once
 * (fetch.c's tick sees the end lowered to what it claimed); the stream then
 * takes it, or other work, from the faster source. A part that ends within
 * LEAVE_MIN_LEFT_S at its own rate is left alone. Each stream's recent rate
 * is its source's too. The loop thread. */
static void leave_slow(run_ctx *rc, lane *l, uint64_t now) {
  pf_session *s = rc->s;
  for (size_t i = 0; i < rc->nstreams; i++) {
    stream *w = &rc->streams[i];
    if (w->lane != l || w->ended || w->idle)
      continue;
    pthread_mutex_lock(&rc->mu);
    pthread_mutex_lock(&w->span.mu);
    view v = {.claimed = w->span.claimed, .end = w->span.end, .first_ns = w->span.first_ns,
              .prev_ns = w->span.prev_ns, .prev_at = w->span.prev_at};
    int active = w->span.active && w->span.end != PF_SIZE_UNKNOWN;
    pthread_mutex_unlock(&w->span.mu);
    double rate = active ? window_rate(&v, now) : 0;
    size_t was = w->src;
    if (rate <= 0 || was == PF_NO_SOURCE) {
      pthread_mutex_unlock(&rc->mu);
      continue;
    }
    pthread_mutex_lock(&s->src_mu);
    s->src[was].rate = pf_source_pace(s->src[was].rate, rate);
    pthread_mutex_unlock(&s->src_mu);
    const char *why = NULL;
    int better = pick_source(rc, w, &why) && w->src != was && why && strcmp(why, "slow") == 0;
    size_t to = w->src;
    w->src = was; /* it moves when it takes its next part (stream_next) */
    uint64_t from = 0, end = 0;
    if (better && v.end > v.claimed + MIN_STEAL &&
        (double)(v.end - v.claimed) / rate > LEAVE_MIN_LEFT_S) {
      pthread_mutex_lock(&w->span.mu);
      from = w->span.claimed, end = w->span.end;
      if (w->span.active && end > from && range_back(rc, from, end))
        w->span.end = from;
      else
        end = from;
      pthread_mutex_unlock(&w->span.mu);
    }
    pthread_mutex_unlock(&rc->mu);
    if (end > from)
      pf_log(s, "stream %zu leaves %s (slow: %.1f MB/s) for %s: bytes %llu-%llu go back", i,
             pf_source_url(s, was), rate / 1e6, pf_source_url(s, to), (unsigned long long)from,
             (unsigned long long)(end - 1));
  }
}

/* The data callback of the whole-object GET after ranges lost our trust:
 * only the bytes no part delivered (rc->gaps) go on. */
static int enqueue_missing(void *ctx, uint64_t off, const void *buf, size_t len) {
  stream *w = ctx;
  const run_ctx *rc = w->rc;
  uint64_t end = off + len;
  for (size_t i = 0; i < rc->ngaps && rc->gaps[i].start < end; i++) {
    uint64_t a = rc->gaps[i].start > off ? rc->gaps[i].start : off;
    uint64_t b = rc->gaps[i].end < end ? rc->gaps[i].end : end;
    if (a < b && enqueue(w, a, (const unsigned char *)buf + (a - off), (size_t)(b - a)) != 0)
      return -1;
  }
  return 0;
}

static void stream_next(stream *w);
static void kick_lanes(run_ctx *rc, const lane *self);

/* May the next planned part p start now? In order, only when it ends within
 * the window ahead of the head; else window_wait asks the writer to kick
 * the lanes when the head moves (set before the second look: either that
 * look sees the head moved, or the writer sees the flag). Under rc->mu. */
static int admitted(run_ctx *rc, const pf_part *p) {
  if (!rc->nahead || pf_reorder_admits(atomic_load(&rc->head), rc->window, p->offset, p->length))
    return 1;
  atomic_store(&rc->window_wait, 1);
  return pf_reorder_admits(atomic_load(&rc->head), rc->window, p->offset, p->length);
}

/* Every lane has ended its part: the network threads are done with the
 * round (the writer drains the queue; run() may free everything). */
static void round_end(run_ctx *rc) {
  pf_queue_close(&rc->full);
  pthread_mutex_lock(&rc->done_mu);
  rc->round_done = 1; /* last: run() frees rc once it sees it */
  pthread_cond_signal(&rc->done_cv);
  pthread_mutex_unlock(&rc->done_mu);
}

/* Every lane looks again now (a part ended; or the last stream did). */
static void kick_lanes(run_ctx *rc, const lane *self) {
  for (size_t i = 0; i < rc->nlanes; i++) {
    if (&rc->lanes[i] == self)
      continue;
    atomic_store(&rc->lanes[i].kick, 1);
    pf_loop_wake(rc->lanes[i].loop);
  }
}

static void stream_end(stream *w) {
  run_ctx *rc = w->rc;
  pthread_mutex_lock(&rc->mu);
  w->src = PF_NO_SOURCE; /* its source may have another stream */
  pthread_mutex_unlock(&rc->mu);
  flush(w);
  unstash(w);
  pf_xfer_free(w->job.x);
  w->job.x = NULL;
  w->ended = 1;
  w->idle = 0;
  atomic_fetch_add(&rc->ended, 1);
}

/* The idle streams of lane l look again: a part ended, or STEAL_RETRY_MS
 * passed. (Only l's: the others are another thread's.) */
static void wake_idle(run_ctx *rc, lane *l) {
  for (size_t i = 0; i < rc->nstreams; i++)
    if (rc->streams[i].lane == l && rc->streams[i].idle)
      stream_next(&rc->streams[i]);
}

/* A stream's job has ended. */
static void stream_job_done(pf_job *j) {
  stream *w = j->arg;
  run_ctx *rc = w->rc;
  pthread_mutex_lock(&w->span.mu);
  w->span.active = 0;
  /* its last request's bytes over the time from its first to its last
   * byte (at least PACE_MIN_NS: on loopback a part may come in two
   * callbacks within a millisecond, and it must still count as fast) */
  uint64_t got = w->span.claimed - w->span.start, took = w->span.rx_ns - w->span.first_ns;
  int measured = w->span.first_ns && got > 0;
  uint64_t left_end = w->span.end; /* what a failed mirror leaves: [job.pos, left_end) */
  /* a thief took all of a request that had no byte after a stall's time */
  uint64_t end_ns = pf_now_ns();
  double starved = !w->span.first_ns && got == 0 ? (double)(end_ns - w->span.t0_ns) / 1e9 : 0;
  /* for its source's rate, a request that went quiet for a stall's time and
   * was taken over counts the silence too (else a mirror that sent a burst
   * and then nothing would count as the fastest); not for the stream's own
   * pace, which the peers' median (the stall gap) and a thief's split use */
  uint64_t took_src = end_ns - w->span.rx_ns > STALL_MIN_NS ? end_ns - w->span.first_ns : took;
  if (took < PACE_MIN_NS)
    took = PACE_MIN_NS;
  if (took_src < PACE_MIN_NS)
    took_src = PACE_MIN_NS;
  pthread_mutex_unlock(&w->span.mu);
  pthread_mutex_lock(&rc->mu);
  if (measured) /* the pace of its last request, under rc->mu for steal() */
    w->pace = (double)got / ((double)took / 1e9);
  pthread_mutex_unlock(&rc->mu);
  if (measured && rc->mirrors) { /* its source's rate (source.c) */
    pthread_mutex_lock(&rc->s->src_mu);
    pf_source *src = &rc->s->src[j->src];
    src->rate = pf_source_pace(src->rate, (double)got / ((double)took_src / 1e9));
    pthread_mutex_unlock(&rc->s->src_mu);
  }
  flush(w); /* what arrived before a failure is good data too */
  unstash(w); /* an idle stream holds no chunk another may need */
  if (j->result == PF_OK && j->src && starved > (double)STALL_MIN_NS / 1e9) {
    /* a mirror that answers nothing: dropped as one that fails */
    snprintf(j->why, sizeof j->why, "no byte for %.1f s (stalled)", starved);
    mirror_failed(rc, w, left_end, left_end, 1);
    stream_next(w);
  } else if (j->result != PF_OK && j->src_failed) {
    mirror_failed(rc, w, j->pos, left_end, 0); /* the session's only if it was the last */
    stream_next(w);
  } else if (j->result != PF_OK)
    stream_end(w);
  else
    stream_next(w);
  /* idle streams look again (the last part: time to go), here and on the
   * other lanes; the lanes' ticks end the round */
  wake_idle(rc, w->lane);
  kick_lanes(rc, w->lane);
  if (atomic_load(&rc->ended) == rc->nstreams)
    pf_loop_soon(w->lane->loop);
}

/* The stream takes the next part, or a steal; else it waits (idle) while
 * others may still turn out slow, or ends. The loop thread. */
static void stream_next(stream *w) {
  run_ctx *rc = w->rc;
  pf_session *s = rc->s;
  if (w->ended)
    return;
  w->idle = 0;
  int stealing = s->ranges && !rc->trust.whole;
  pf_part part;
  int have = 0, stolen = 0, busy = 0;
  size_t victim = 0;
  double victim_left = 0, victim_quiet = 0;
  const char *moved = NULL;
  size_t was = w->src;
  pthread_mutex_lock(&rc->mu);
  int go = !atomic_load(&s->stop) && (rc->trust.whole || !atomic_load(&rc->trust.distrust));
  if (go && !pick_source(rc, w, &moved)) {
    /* work left (a range back, parts not planned, a part in flight a
     * thief may take): w waits for a source with room, without a
     * connection, rather than end and leave it to the others alone */
    int left = rc->nback > 0 || rc->next < rc->nparts;
    for (size_t i = 0; !left && i < rc->nstreams; i++) {
      pf_span *sp = &rc->streams[i].span;
      pthread_mutex_lock(&sp->mu);
      left = &rc->streams[i] != w && sp->active;
      pthread_mutex_unlock(&sp->mu);
    }
    pthread_mutex_unlock(&rc->mu);
    if (left) {
      pf_xfer_free(w->job.x);
      w->job.x = NULL;
      w->idle = 1;
      return;
    }
    pf_log(s, "stream %zu ends: no source may have it (%s)", (size_t)(w - rc->streams),
           moved ? moved : "every host's budget is full");
    stream_end(w);
    return;
  }
  if (go) {
    if (rc->nback > 0) { /* a dropped mirror's range first */
      pf_range r = rc->back[--rc->nback];
      part = (pf_part){(uint32_t)atomic_fetch_add(&s->parts_total, 1), r.start, r.end - r.start};
      have = 1;
    } else if (rc->next < rc->nparts && admitted(rc, &rc->parts[rc->next])) {
      part = rc->parts[rc->next++];
      have = 1;
    } else if (stealing) {
      have = stolen = steal(rc, w, w->job.x && pf_xfer_warm(w->job.x), &part, &victim, &victim_left,
                            &victim_quiet, &busy);
      if (rc->next < rc->nparts)
        busy = 1; /* parts past the window: they wait for the head to move */
    }
  }
  if (have) {
    pthread_mutex_lock(&w->span.mu);
    w->span.start = w->span.claimed = part.offset;
    w->span.end = part.length == PF_SIZE_UNKNOWN ? PF_SIZE_UNKNOWN : part.offset + part.length;
    w->span.t0_ns = w->span.rx_ns = pf_now_ns();
    w->span.first_ns = 0;
    w->span.stolen = stolen;
    w->span.trust = &rc->trust;
    w->span.active = 1;
    pthread_mutex_unlock(&w->span.mu);
  }
  pthread_mutex_unlock(&rc->mu);
  if (!have && busy && go) {
    /* nothing worth taking yet; a stream may turn out slow: look again
     * soon, or at once when a part ends */
    w->idle = 1;
    return;
  }
  if (!have) {
    stream_end(w);
    return;
  }
  if (stolen && victim_left < 0)
    pf_log(s, "stream %zu takes bytes %llu-%llu from stream %zu (stalled: no byte for %.1f s)",
           (size_t)(w - rc->streams), (unsigned long long)part.offset,
           (unsigned long long)(part.offset + part.length - 1), victim, victim_quiet);
  else if (stolen)
    pf_log(s, "stream %zu takes bytes %llu-%llu from stream %zu (%.1f s left there)",
           (size_t)(w - rc->streams), (unsigned long long)part.offset,
           (unsigned long long)(part.offset + part.length - 1), victim, victim_left);
  if (rc->mirrors && (s->log != NULL)) {
    if (moved)
      pf_log(s, "stream %zu moves from %s (%s) to %s", (size_t)(w - rc->streams),
             pf_source_url(s, was), moved, pf_source_url(s, w->src));
    pf_log(s, "stream %zu: bytes %llu-%llu from %s", (size_t)(w - rc->streams),
           (unsigned long long)part.offset, (unsigned long long)(part.offset + part.length - 1),
           pf_source_url(s, w->src));
  }
  struct pf_xfer *x = w->job.x;
  w->job = (pf_job){.s = s, .x = x, .loop = w->lane->loop, .src = w->src, .failover = rc->mirrors,
                    .lane = (unsigned)(w->lane - rc->lanes), .part = part, .fn = rc->gaps ? enqueue_missing : enqueue,
                    .ctx = w, .room = room, .span = &w->span, .done = stream_job_done, .arg = w};
  pf_job_start(&w->job);
}

/* Every turn of a lane's loop while the round runs. */
static void lane_tick(pf_task *t, uint64_t now, uint64_t *wake_ns) {
  lane *l = (lane *)t;
  run_ctx *rc = l->rc;
  if (atomic_load(&rc->ended) == rc->nstreams) {
    pf_loop_unwatch(l->loop, t);
    if (atomic_fetch_sub(&rc->lanes_left, 1) == 1)
      round_end(rc); /* the last lane: nothing of rc is touched after this */
    return;
  }
  if (now >= l->idle_look_ns || atomic_exchange(&l->kick, 0)) {
    l->idle_look_ns = now + STEAL_RETRY_MS * 1000000ull;
    if (rc->mirrors)
      leave_slow(rc, l, now);
    wake_idle(rc, l);
  }
  if (l->idle_look_ns < *wake_ns)
    *wake_ns = l->idle_look_ns;
  if (atomic_load(&rc->ended) == rc->nstreams)
    pf_loop_soon(l->loop);
}

/* On lane l's loop: its streams take their first parts. Lane 0 (the home
 * loop, where the probe is) starts first and posts the others' starts, so
 * that its stream 0 takes part 0 and with it the probe's reply. */
static void lane_start(void *arg) {
  lane *l = arg;
  run_ctx *rc = l->rc;
  pf_session *s = rc->s;
  l->task.tick = lane_tick;
  l->idle_look_ns = pf_now_ns() + STEAL_RETRY_MS * 1000000ull;
  pf_loop_watch(l->loop, &l->task);
  size_t li = (size_t)(l - rc->lanes);
  for (size_t i = li; i < rc->nstreams; i += rc->nlanes)
    rc->streams[i].job.x = NULL; /* made by its first job, unless it takes the probe's */
  for (size_t i = li; i < rc->nstreams; i += rc->nlanes)
    stream_next(&rc->streams[i]);
  if (li == 0)
    for (size_t i = 1; i < rc->nlanes; i++)
      if (pf_loop_post(rc->lanes[i].loop, lane_start, &rc->lanes[i]) != 0) {
        /* out of memory: that lane's streams never start */
        pf_fail(s, PF_E_NOMEM, "out of memory");
        for (size_t k = i; k < rc->nstreams; k += rc->nlanes) {
          rc->streams[k].ended = 1;
          atomic_fetch_add(&rc->ended, 1);
        }
        atomic_fetch_sub(&rc->lanes_left, 1);
      }
  if (atomic_load(&rc->ended) == rc->nstreams)
    pf_loop_soon(l->loop);
}

/* On lane l's loop: the writer gave chunks back; its streams paused for
 * room go on. */
static void room_again(void *arg) {
  lane *l = arg;
  run_ctx *rc = l->rc;
  if (l->task.watched) /* else its part of the round is over */
    for (size_t i = 0; i < rc->nstreams; i++)
      if (rc->streams[i].lane == l && rc->streams[i].job.x)
        pf_xfer_room(rc->streams[i].job.x);
  atomic_fetch_sub_explicit(&rc->room_posts, 1, memory_order_release); /* rc is not touched after */
}

/* Chunks given back to the pool: a stream paused for them goes on. */
static void give_back(run_ctx *rc, chunk *c) {
  pf_queue_push(c->home, c);
  for (size_t i = 0; i < rc->nlanes; i++)
    if (atomic_load(&rc->lanes[i].want_room) && atomic_exchange(&rc->lanes[i].want_room, 0)) {
      atomic_fetch_add(&rc->room_posts, 1);
      if (pf_loop_post(rc->lanes[i].loop, room_again, &rc->lanes[i]) != 0)
        atomic_fetch_sub(&rc->room_posts, 1); /* (its tick retries) */
    }
}

/* In order: c goes into the window; what is now contiguous at the head goes
 * to the sink, in ascending order. The head moves on, and the streams that
 * wait for it are kicked. The writer thread. */
static pf_status store_in_order(run_ctx *rc, chunk *c) {
  pf_session *s = rc->s;
  if (pf_reorder_put(&rc->ro, c->off, c->len, c) != 0) {
    give_back(rc, c);
    return pf_fail(s, PF_E_INTERNAL, "in-order window: bytes %llu+%zu do not fit (next byte %llu)",
                   (unsigned long long)c->off, c->len, (unsigned long long)rc->ro.head);
  }
  uint64_t off;
  size_t len;
  void *item;
  while ((item = pf_reorder_take(&rc->ro, &off, &len)) != NULL) {
    chunk *h = item;
    pf_status st = pf_sink_store(s, off, h->buf, len);
    atomic_store(&rc->head, rc->ro.head);
    if (atomic_load(&rc->window_wait) && atomic_exchange(&rc->window_wait, 0))
      kick_lanes(rc, NULL);
    give_back(rc, h);
    if (st != PF_OK)
      return st;
  }
  return PF_OK;
}

static int round_over(void *arg) {
  return ((run_ctx *)arg)->round_done;
}

/* One round: nstreams streams on the client's network threads over
 * rc->parts until all have ended, while this thread stores what they
 * fetch; then the last lane closes the queue of full chunks, this thread
 * drains it and waits for the lanes to be done with the round. */
static void run_round(run_ctx *rc, size_t nstreams) {
  pf_session *s = rc->s;
  rc->nstreams = nstreams;
  atomic_store(&rc->ended, 0);
  rc->next = 0;
  rc->round_done = 0;
  rc->t0_ns = pf_now_ns();
  rc->fetched0 = atomic_load(&s->bytes_fetched);
  unsigned nloops = pf_client_nloops(s->client);
  rc->nlanes = nstreams < nloops ? nstreams : nloops;
  for (size_t i = 0; i < rc->nlanes; i++) {
    lane *l = &rc->lanes[i];
    memset(l, 0, sizeof *l);
    l->rc = rc;
    l->loop = pf_client_loop(s->client, s->home + (unsigned)i);
  }
  for (size_t i = 0; i < nstreams; i++) {
    rc->streams[i].rc = rc;
    rc->streams[i].lane = &rc->lanes[i % rc->nlanes];
    rc->streams[i].ended = rc->streams[i].idle = 0;
    rc->streams[i].src = PF_NO_SOURCE;
  }
  atomic_store(&rc->lanes_left, rc->nlanes);
  if (pf_loop_post(rc->lanes[0].loop, lane_start, &rc->lanes[0]) != 0) {
    pf_fail(s, PF_E_NOMEM, "out of memory");
    return;
  }
  /* while the streams connect: a full disk stops everyone before a byte */
  void *item;
  if (pf_sink_reserve(s) == PF_OK) {
    while (pf_queue_pop(&rc->full, &item) == 0) {
      chunk *c = item;
      pf_status st;
      if (s->in_order) {
        st = store_in_order(rc, c);
      } else {
        st = pf_sink_store(s, c->off, c->buf, c->len);
        give_back(rc, c);
      }
      if (st != PF_OK)
        break; /* pf_fail has stopped everyone */
    }
  }
  pthread_mutex_lock(&rc->done_mu);
  pf_spin_wait(&rc->done_mu, round_over, rc);
  while (!rc->round_done)
    pf_cond_wait_ms(&rc->done_cv, &rc->done_mu, 100);
  pthread_mutex_unlock(&rc->done_mu);
  /* a room_again posted last may still be queued: rc must outlive it (a
   * download whose pool never ran dry posted none, and waits for nothing) */
  if (atomic_load_explicit(&rc->room_posts, memory_order_acquire) != 0)
    for (size_t i = 0; i < rc->nlanes; i++)
      pf_loop_sync(rc->lanes[i].loop);
  /* what a stopped round left in the queue, or in the window, goes back to
   * the pool (a round after this fetches again what the window held) */
  while (pf_queue_trypop(&rc->full, &item) == 0)
    pf_queue_push(((chunk *)item)->home, item);
  while ((item = pf_reorder_drain(&rc->ro)) != NULL)
    pf_queue_push(((chunk *)item)->home, item);
}

/* Ranges lost our trust (pf_trust): every thread of the first round has
 * ended and what it delivered is stored. The bytes still missing come from
 * one GET of the whole object on one stream, checked as a whole reply
 * (status 200, length, validator); a bad one is final. */
static void run_whole(run_ctx *rc) {
  pf_session *s = rc->s;
  pthread_mutex_lock(&s->mu);
  size_t n = s->written.n + 1;
  rc->gaps = malloc(n * sizeof *rc->gaps);
  uint64_t at = 0, missing = 0;
  for (size_t i = 0; rc->gaps && i <= s->written.n; i++) {
    uint64_t upto = i < s->written.n ? s->written.v[i].start : s->size;
    if (upto > at) {
      rc->gaps[rc->ngaps++] = (pf_range){at, upto};
      missing += upto - at;
    }
    if (i < s->written.n)
      at = s->written.v[i].end;
  }
  pthread_mutex_unlock(&s->mu);
  pf_part *whole = realloc(rc->parts, sizeof *whole);
  if (whole)
    rc->parts = whole;
  if (!rc->gaps || !whole) {
    pf_fail(s, PF_E_NOMEM, "out of memory");
    return;
  }
  pf_queue_destroy(&rc->full); /* the first round closed it: a new one */
  if (pf_queue_init(&rc->full, rc->pool + rc->nahead, &s->stop) != 0) {
    rc->full_gone = 1;
    pf_fail(s, PF_E_NOMEM, "out of memory");
    return;
  }
  if (rc->ngaps == 0)
    return; /* the parts delivered everything after all */
  pf_log(s, "%llu bytes in %zu ranges still missing: one GET of the whole object for them",
         (unsigned long long)missing, rc->ngaps);
  *whole = (pf_part){0, 0, s->size};
  rc->nparts = 1;
  rc->mirrors = 0;     /* the whole object from the primary URL */
  rc->nback = 0;
  rc->trust.whole = 1; /* before the round is posted: the loop only reads it */
  run_round(rc, 1);
}

pf_status pf_run(pf_session *s) {
  const pf_config *c = s->cfg;
  run_ctx rc;
  memset(&rc, 0, sizeof rc);
  rc.s = s;
  rc.chunk_size = c->chunk_size;
  /* a small object's probe kept its reply: stored here, no stream needed */
  int whole;
  pf_status st = pf_probe_kept(s, &whole);
  if (st != PF_OK)
    return st;
  st = pf_sink_plan(s, &rc.parts, &rc.nparts);
  if (st != PF_OK)
    return st;
  atomic_store(&s->parts_total, (unsigned)rc.nparts + (unsigned)whole);
  if (rc.nparts == 0 || rc.parts[0].offset != s->probe_start)
    pf_drop_probe(s); /* its first byte is stored already: nobody will take it */
  if (rc.nparts == 0) {
    pf_preconnect_drop(s);
    free(rc.parts);
    return PF_OK;
  }
  size_t nstreams = rc.nparts < c->max_streams ? rc.nparts : c->max_streams;
  /* (1.4) mirrors: parts spread over the sources when ranges work; each
   * source's host has a budget of its own */
  size_t nhosts = 1;
  if (s->nsrc > 1 && (!s->ranges || s->size == PF_SIZE_UNKNOWN || rc.nparts < 2))
    pf_log(s, "mirrors unused: %s", !s->ranges                    ? "the server does not honour ranges"
                                    : s->size == PF_SIZE_UNKNOWN ? "the object's size is unknown"
                                                                 : "one part to fetch");
  else if (s->nsrc > 1 && rc.nparts > 1) {
    nhosts = pf_sources_ready(s);
    rc.sview = calloc(s->nsrc, sizeof *rc.sview);
    if (!nhosts || !rc.sview) {
      pf_preconnect_drop(s);
      free(rc.sview);
      free(rc.parts);
      return pf_fail(s, PF_E_NOMEM, "out of memory");
    }
    rc.mirrors = 1;
  }
  /* no more streams than the client lets connect to one host (client.c),
   * to each of the sources' hosts with mirrors */
  if (nstreams > c->max_connections_per_host * nhosts)
    nstreams = c->max_connections_per_host * nhosts;
  if (nstreams > c->max_connections)
    nstreams = c->max_connections;
  if (rc.mirrors)
    pf_log(s, "%zu sources on %zu hosts: %zu streams, at most %u to a host", s->nsrc, nhosts,
           nstreams, c->max_connections_per_host);
  /* the connections opened ahead that these streams will not use */
  pthread_mutex_lock(&s->probe_mu);
  int have_probe = s->probe != NULL;
  pthread_mutex_unlock(&s->probe_mu);
  /* (with mirrors, the primary's share of the streams) */
  size_t primary = rc.mirrors ? (nstreams + s->nsrc - 1) / s->nsrc : nstreams;
  pf_preconnect_trim(s, primary - (have_probe ? 1 : 0));
  size_t depth = c->queue_depth ? c->queue_depth : 2 * nstreams;
  /* and room for one read of libcurl's (CURLOPT_BUFFERSIZE, fetch.c) in
   * chunks: room() asks for that many before the first byte of it */
  size_t pool = depth + nstreams + (PF_READ_MAX + rc.chunk_size - 1) / rc.chunk_size;
  /* in order with several streams, the window's chunks on top of that:
   * the bytes of the parts admitted (at most the window: admitted()), in
   * whole chunks (the parts are whole chunks: pf_reorder_part_size), and two
   * more per stream for the pieces a steal cuts. So a stream ahead of the
   * head finishes the part it took without waiting for room, and is free to
   * take over the head's range when that stalls. */
  if (s->in_order && nstreams > 1) {
    rc.window = c->stream_window;
    rc.nahead = (c->stream_window + rc.chunk_size - 1) / rc.chunk_size + 2 * nstreams;
  }
  pthread_mutex_lock(&s->mu);
  uint64_t head = pf_rangeset_prefix(&s->written);
  pthread_mutex_unlock(&s->mu);
  atomic_store(&rc.head, head);
  size_t all = pool + rc.nahead;

  chunk *chunks = calloc(all, sizeof *chunks);
  unsigned char *mem = malloc(all * rc.chunk_size);
  stream *ws = calloc(nstreams, sizeof *ws);
  if (!chunks || !mem || !ws || pf_reorder_init(&rc.ro, head, all) != 0 ||
      pthread_mutex_init(&rc.mu, NULL) != 0) {
    st = pf_fail(s, PF_E_NOMEM, "cannot allocate %zu chunks of %zu bytes", all, rc.chunk_size);
    goto out_mem;
  }
  pthread_mutex_init(&rc.done_mu, NULL);
  pf_cond_init_monotonic(&rc.done_cv);
  if (pf_queue_init(&rc.full, all, &s->stop) != 0) {
    st = pf_fail(s, PF_E_NOMEM, "out of memory");
    goto out_mu;
  }
  if (pf_queue_init(&rc.empty, pool, &s->stop) != 0) {
    st = pf_fail(s, PF_E_NOMEM, "out of memory");
    goto out_full;
  }
  if (pf_queue_init(&rc.ahead, rc.nahead ? rc.nahead : 1, &s->stop) != 0) {
    st = pf_fail(s, PF_E_NOMEM, "out of memory");
    pf_queue_destroy(&rc.empty);
    goto out_full;
  }
  rc.ahead.lifo = 1;
  /* a stack: the chunks given back last are taken first, so that a
   * download whose writer keeps up touches only the few it cycles through
   * (peak RSS follows what is in flight, not the pool's size) */
  rc.empty.lifo = 1;
  for (size_t i = 0; i < all; i++) {
    chunks[i].buf = mem + i * rc.chunk_size;
    chunks[i].home = i < pool ? &rc.empty : &rc.ahead;
    pf_queue_push(chunks[i].home, &chunks[i]);
  }

  rc.streams = ws;
  rc.depth = depth;
  rc.pool = pool;
  rc.views = calloc(nstreams, sizeof *rc.views);
  rc.rates = calloc(nstreams, sizeof *rc.rates);
  if (!rc.views || !rc.rates) {
    st = pf_fail(s, PF_E_NOMEM, "out of memory");
    goto out_empty;
  }
  for (size_t i = 0; i < nstreams; i++)
    pthread_mutex_init(&ws[i].span.mu, NULL);
  if (rc.nahead)
    pf_log(s, "in order: %zu parts of up to %llu bytes on %zu streams, window %llu bytes", rc.nparts,
           (unsigned long long)rc.parts[0].length, nstreams, (unsigned long long)rc.window);
  run_round(&rc, nstreams);
  if (atomic_load(&rc.trust.distrust) && !atomic_load(&s->stop))
    run_whole(&rc);
  for (size_t i = 0; i < nstreams; i++)
    pthread_mutex_destroy(&ws[i].span.mu);

  pthread_mutex_lock(&s->mu);
  st = s->err;
  pthread_mutex_unlock(&s->mu);
  if (st == PF_OK && atomic_load(&s->cancelled))
    st = pf_fail(s, PF_E_CANCELLED, "cancelled");
out_empty:
  pf_queue_destroy(&rc.ahead);
  pf_queue_destroy(&rc.empty);
out_full:
  if (!rc.full_gone)
    pf_queue_destroy(&rc.full);
out_mu:
  pthread_cond_destroy(&rc.done_cv);
  pthread_mutex_destroy(&rc.done_mu);
  pthread_mutex_destroy(&rc.mu);
out_mem:
  pf_preconnect_drop(s); /* on the error paths too */
  pf_reorder_free(&rc.ro);
  free(rc.views);
  free(rc.rates);
  free(rc.sview);
  free(rc.back);
  free(rc.gaps);
  free(ws);
  free(mem);
  free(chunks);
  free(rc.parts);
  return st;
}
