/* test_queue.c - the bounded queue: FIFO order, backpressure (a producer
 * blocks while it is full), and shutdown: close() and the stop flag release
 * producers blocked on a queue nobody drains. */
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "internal.h"
#include "suites.h"

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_fifo_and_drain_after_close(void) {
  pf_queue q;
  CU_ASSERT_EQUAL_FATAL(pf_queue_init(&q, 4, NULL), 0);
  for (intptr_t i = 1; i <= 4; i++)
    CU_ASSERT_EQUAL(pf_queue_push(&q, (void *)i), 0);
  CU_ASSERT_EQUAL(pf_queue_len(&q), 4);
  void *item;
  CU_ASSERT_EQUAL(pf_queue_pop(&q, &item), 0);
  CU_ASSERT_EQUAL((intptr_t)item, 1);
  pf_queue_close(&q);
  CU_ASSERT_EQUAL(pf_queue_push(&q, (void *)9), -1); /* closed: refused */
  for (intptr_t i = 2; i <= 4; i++) {
    CU_ASSERT_EQUAL(pf_queue_pop(&q, &item), 0); /* what is left drains */
    CU_ASSERT_EQUAL((intptr_t)item, i);
  }
  CU_ASSERT_EQUAL(pf_queue_pop(&q, &item), -1);
  pf_queue_destroy(&q);
}

typedef struct producer {
  pf_queue *q;
  int pushed;   /* how many pushes succeeded */
  int result;   /* the last push's result */
  atomic_int done;
} producer;

static void *produce(void *arg) {
  producer *p = arg;
  for (intptr_t i = 0; i < 100; i++) {
    p->result = pf_queue_push(p->q, (void *)(i + 1));
    if (p->result != 0)
      break;
    p->pushed++;
  }
  atomic_store(&p->done, 1);
  return NULL;
}

static void wait_until_done(producer *p, uint64_t limit_ms) {
  uint64_t t0 = now_ms();
  while (!atomic_load(&p->done) && now_ms() - t0 < limit_ms)
    usleep(5000);
}

static void test_backpressure(void) {
  pf_queue q;
  CU_ASSERT_EQUAL_FATAL(pf_queue_init(&q, 3, NULL), 0);
  producer p = {&q, 0, 0, 0};
  pthread_t th;
  CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, produce, &p), 0);
  usleep(200 * 1000);
  /* the producer is blocked with exactly cap items queued */
  CU_ASSERT_FALSE(atomic_load(&p.done));
  CU_ASSERT_EQUAL(pf_queue_len(&q), 3);
  /* consuming lets it go on, in order */
  void *item;
  for (intptr_t i = 1; i <= 100; i++) {
    CU_ASSERT_EQUAL(pf_queue_pop(&q, &item), 0);
    CU_ASSERT_EQUAL((intptr_t)item, i);
  }
  pthread_join(th, NULL);
  CU_ASSERT_EQUAL(p.pushed, 100);
  pf_queue_destroy(&q);
}

static void test_close_releases_blocked_producers(void) {
  pf_queue q;
  CU_ASSERT_EQUAL_FATAL(pf_queue_init(&q, 2, NULL), 0);
  producer p[3] = {{&q, 0, 0, 0}, {&q, 0, 0, 0}, {&q, 0, 0, 0}};
  pthread_t th[3];
  for (int i = 0; i < 3; i++)
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, produce, &p[i]), 0);
  usleep(100 * 1000);
  uint64_t t0 = now_ms();
  pf_queue_close(&q); /* the consumer died: nobody will drain */
  for (int i = 0; i < 3; i++) {
    wait_until_done(&p[i], 2000);
    CU_ASSERT_TRUE(atomic_load(&p[i].done));
    pthread_join(th[i], NULL);
    CU_ASSERT_EQUAL(p[i].result, -1);
  }
  CU_ASSERT(now_ms() - t0 < 1000);
  CU_ASSERT_EQUAL(p[0].pushed + p[1].pushed + p[2].pushed, 2);
  pf_queue_destroy(&q);
}

static void test_stop_flag_releases_without_signal(void) {
  /* cancel() may only set a flag (it is signal-safe): blocked threads must
   * notice it without a condition-variable signal */
  atomic_int stop = 0;
  pf_queue q;
  CU_ASSERT_EQUAL_FATAL(pf_queue_init(&q, 1, &stop), 0);
  producer p = {&q, 0, 0, 0};
  pthread_t th;
  CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, produce, &p), 0);
  usleep(100 * 1000);
  CU_ASSERT_FALSE(atomic_load(&p.done));
  uint64_t t0 = now_ms();
  atomic_store(&stop, 1);
  wait_until_done(&p, 2000);
  CU_ASSERT_TRUE(atomic_load(&p.done));
  CU_ASSERT(now_ms() - t0 < 1000);
  pthread_join(th, NULL);
  CU_ASSERT_EQUAL(p.result, -1);
  void *item;
  CU_ASSERT_EQUAL(pf_queue_pop(&q, &item), -1); /* stopped: no more items */
  pf_queue_destroy(&q);
}

/* The pool of chunks is a stack: the one given back last is taken first. */
static void test_lifo(void) {
  pf_queue q;
  CU_ASSERT_FATAL(pf_queue_init(&q, 3, NULL) == 0);
  q.lifo = 1;
  int a = 1, b = 2, c = 3;
  void *got;
  CU_ASSERT_EQUAL(pf_queue_push(&q, &a), 0);
  CU_ASSERT_EQUAL(pf_queue_push(&q, &b), 0);
  CU_ASSERT_EQUAL(pf_queue_trypop(&q, &got), 0);
  CU_ASSERT_PTR_EQUAL(got, &b);
  CU_ASSERT_EQUAL(pf_queue_push(&q, &c), 0);
  CU_ASSERT_EQUAL(pf_queue_push(&q, &b), 0); /* wraps around the ring */
  CU_ASSERT_EQUAL(pf_queue_pop(&q, &got), 0);
  CU_ASSERT_PTR_EQUAL(got, &b);
  CU_ASSERT_EQUAL(pf_queue_pop(&q, &got), 0);
  CU_ASSERT_PTR_EQUAL(got, &c);
  CU_ASSERT_EQUAL(pf_queue_pop(&q, &got), 0);
  CU_ASSERT_PTR_EQUAL(got, &a);
  CU_ASSERT_EQUAL(pf_queue_trypop(&q, &got), -1); /* empty: at once */
  pf_queue_destroy(&q);
}

int pf_suite_queue(void) {
  CU_pSuite s = CU_add_suite("queue", NULL, NULL);
  if (!s || !CU_add_test(s, "FIFO, drain after close", test_fifo_and_drain_after_close) ||
      !CU_add_test(s, "LIFO: the newest first", test_lifo) ||
      !CU_add_test(s, "backpressure", test_backpressure) ||
      !CU_add_test(s, "close releases blocked producers", test_close_releases_blocked_producers) ||
      !CU_add_test(s, "stop flag releases without a signal", test_stop_flag_releases_without_signal))
    return CU_get_error();
  return CUE_SUCCESS;
}
