/*
 * queue.c - the bounded queue between the workers (producers) and the writer
 * thread (consumer). A mutex and two condition variables guard a ring of
 * pointers; waiters loop on their predicate. Backpressure: push blocks while
 * the ring is full. Shutdown: close() fails every later push at once, wakes
 * every waiter, and lets pop drain what is left. Waits are sliced (100 ms)
 * so that a stop flag set from a signal handler (cancel) is seen promptly.
 *
 * Lock order: q->mu is a leaf lock; nothing else is taken while holding it.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"

void pf_cond_init_monotonic(pthread_cond_t *cv) {
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(cv, &ca);
  pthread_condattr_destroy(&ca);
}

void pf_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, long ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_cond_timedwait(cv, mu, &ts);
}

int pf_spin_wait(pthread_mutex_t *mu, int (*ready)(void *arg), void *arg) {
  uint64_t until = 0;
  while (!ready(arg)) {
    uint64_t now = pf_now_ns();
    if (!until)
      until = now + PF_SPIN_NS;
    else if (now >= until)
      return 0;
    pthread_mutex_unlock(mu);
    sched_yield(); /* the CPU to anyone who wants it (the other side, if here) */
    pthread_mutex_lock(mu);
  }
  return 1;
}

#define SPIN_SKIP 8

static int queue_ready(void *arg) {
  pf_queue *q = arg;
  return q->len > 0 || q->closed || (q->stop && atomic_load(q->stop));
}

int pf_queue_init(pf_queue *q, size_t cap, atomic_int *stop) {
  q->items = calloc(cap ? cap : 1, sizeof *q->items);
  if (!q->items)
    return -1;
  q->cap = cap ? cap : 1;
  q->head = q->len = 0;
  q->closed = 0;
  q->lifo = 0;
  q->spin_skip = 0;
  q->stop = stop;
  pthread_mutex_init(&q->mu, NULL);
  pf_cond_init_monotonic(&q->not_full);
  pf_cond_init_monotonic(&q->not_empty);
  return 0;
}

void pf_queue_destroy(pf_queue *q) {
  pthread_cond_destroy(&q->not_full);
  pthread_cond_destroy(&q->not_empty);
  pthread_mutex_destroy(&q->mu);
  free(q->items);
  q->items = NULL;
}

static int stopped(const pf_queue *q) {
  return q->stop && atomic_load(q->stop);
}

int pf_queue_push(pf_queue *q, void *item) {
  pthread_mutex_lock(&q->mu);
  while (q->len == q->cap && !q->closed && !stopped(q))
    pf_cond_wait_ms(&q->not_full, &q->mu, 100);
  if (q->closed || stopped(q)) {
    pthread_mutex_unlock(&q->mu);
    return -1;
  }
  q->items[(q->head + q->len) % q->cap] = item;
  q->len++;
  pthread_cond_signal(&q->not_empty);
  pthread_mutex_unlock(&q->mu);
  return 0;
}

static int take(pf_queue *q, void **item, int wait) {
  pthread_mutex_lock(&q->mu);
  /* a spin that did not see the item come is not tried again for the next
   * SPIN_SKIP waits: items that come slowly (a paced download) cost no CPU
   * in spins, items that come at once are taken without a sleep */
  if (wait && !queue_ready(q)) {
    if (q->spin_skip > 0)
      q->spin_skip--;
    else if (!pf_spin_wait(&q->mu, queue_ready, q))
      q->spin_skip = SPIN_SKIP;
  }
  while (wait && q->len == 0 && !q->closed && !stopped(q))
    pf_cond_wait_ms(&q->not_empty, &q->mu, 100);
  if (q->len == 0 || stopped(q)) {
    pthread_mutex_unlock(&q->mu);
    return -1;
  }
  if (q->lifo) {
    *item = q->items[(q->head + q->len - 1) % q->cap];
  } else {
    *item = q->items[q->head];
    q->head = (q->head + 1) % q->cap;
  }
  q->len--;
  pthread_cond_signal(&q->not_full);
  pthread_mutex_unlock(&q->mu);
  return 0;
}

int pf_queue_pop(pf_queue *q, void **item) {
  return take(q, item, 1);
}

int pf_queue_trypop(pf_queue *q, void **item) {
  return take(q, item, 0);
}

void pf_queue_close(pf_queue *q) {
  pthread_mutex_lock(&q->mu);
  q->closed = 1;
  pthread_cond_broadcast(&q->not_full);
  pthread_cond_broadcast(&q->not_empty);
  pthread_mutex_unlock(&q->mu);
}

size_t pf_queue_len(pf_queue *q) {
  pthread_mutex_lock(&q->mu);
  size_t n = q->len;
  pthread_mutex_unlock(&q->mu);
  return n;
}
