/*
 * test_budget.c - the client's connection budget (client.c): the pure
 * decision of what a transfer does next, how many connections a probe may
 * open ahead, host keys, and the client itself without a network: slots per
 * host and in all, reuse of an idle connection, a transfer that waits for a
 * slot until one is given back or its session stops, and an idle connection
 * to another host closed to make room.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/CUnit.h>

#include "internal.h"
#include "suites.h"

static void test_next_step(void) {
  /* an idle connection to the host: always reused */
  CU_ASSERT_EQUAL(pf_budget_next(8, 32, 8, 32, 1, 0), PF_BUDGET_TAKE_IDLE);
  /* room in both budgets: a new one */
  CU_ASSERT_EQUAL(pf_budget_next(0, 0, 8, 32, 0, 0), PF_BUDGET_NEW);
  CU_ASSERT_EQUAL(pf_budget_next(7, 31, 8, 32, 0, 1), PF_BUDGET_NEW);
  /* the host is full: wait, even with idle connections elsewhere */
  CU_ASSERT_EQUAL(pf_budget_next(8, 8, 8, 32, 0, 1), PF_BUDGET_WAIT);
  /* the total is full: close an idle one to another host, else wait */
  CU_ASSERT_EQUAL(pf_budget_next(1, 32, 8, 32, 0, 1), PF_BUDGET_EVICT);
  CU_ASSERT_EQUAL(pf_budget_next(1, 32, 8, 32, 0, 0), PF_BUDGET_WAIT);
}

static void test_ahead(void) {
  CU_ASSERT_EQUAL(pf_budget_ahead(1, 1, 8, 32, 0, 7), 7);
  CU_ASSERT_EQUAL(pf_budget_ahead(1, 1, 8, 32, 1, 7), 0); /* the host is warm */
  CU_ASSERT_EQUAL(pf_budget_ahead(5, 5, 8, 32, 0, 7), 3); /* what the host has left */
  CU_ASSERT_EQUAL(pf_budget_ahead(1, 30, 8, 32, 0, 7), 2); /* what the total has left */
  CU_ASSERT_EQUAL(pf_budget_ahead(8, 8, 8, 32, 0, 7), 0);
  CU_ASSERT_EQUAL(pf_budget_ahead(1, 1, 4, 32, 0, 0), 0);
}

static void test_host_key(void) {
  char *k = pf_host_key("http://Example.ORG/a?b");
  CU_ASSERT_STRING_EQUAL(k, "http://example.org:80");
  free(k);
  k = pf_host_key("https://127.0.0.1:8443/x");
  CU_ASSERT_STRING_EQUAL(k, "https://127.0.0.1:8443");
  free(k);
  CU_ASSERT_PTR_NULL(pf_host_key("not a url"));
}

/* A session as far as the client looks at one: its stop flag and the slots
 * reserved for connections opened ahead. */
static pf_session *fake_session(pf_client *c) {
  pf_session *s = calloc(1, sizeof *s);
  CU_ASSERT_FATAL(s != NULL);
  pthread_mutex_init(&s->pre_mu, NULL);
  s->client = c;
  return s;
}

static void fake_free(pf_session *s) {
  pthread_mutex_destroy(&s->pre_mu);
  free(s);
}

static pf_client *client_with(const char *per_host, const char *total) {
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  CU_ASSERT_EQUAL(pf_config_set(cfg, "max_connections_per_host", per_host), PF_OK);
  CU_ASSERT_EQUAL(pf_config_set(cfg, "max_connections", total), PF_OK);
  pf_client *c = NULL;
  CU_ASSERT_EQUAL(pf_client_create(cfg, 1, &c), PF_OK);
  pf_config_free(cfg);
  CU_ASSERT_FATAL(c != NULL);
  return c;
}

struct getter {
  pf_client *c;
  pf_session *s;
  const char *key;
  struct pf_conn *got;
  int reused;
  atomic_int done;
};

static void *get_later(void *arg) {
  struct getter *g = arg;
  g->got = pf_conn_get(g->c, g->key, g->s, &g->reused);
  atomic_store(&g->done, 1);
  return NULL;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void test_client_per_host(void) {
  pf_client *c = client_with("2", "32");
  pf_session *s = fake_session(c);
  const char *a = "http://a.test:80";
  int reused = -1;
  struct pf_conn *k1 = pf_conn_get(c, a, s, &reused);
  CU_ASSERT(k1 != NULL && reused == 0);
  struct pf_conn *k2 = pf_conn_get(c, a, s, &reused);
  CU_ASSERT(k2 != NULL && reused == 0);
  /* a third to the same host waits for one of them */
  struct getter g = {c, s, a, NULL, -1, 0};
  pthread_t th;
  CU_ASSERT_FATAL(pthread_create(&th, NULL, get_later, &g) == 0);
  sleep_ms(300);
  CU_ASSERT_EQUAL(atomic_load(&g.done), 0);
  pf_conn_put(c, k1, 1); /* kept idle: the waiter reuses it */
  pthread_join(th, NULL);
  CU_ASSERT(g.got == k1);
  CU_ASSERT_EQUAL(g.reused, 1);
  /* another host is not held up by a's budget */
  struct pf_conn *kb = pf_conn_get(c, "http://b.test:80", s, &reused);
  CU_ASSERT(kb != NULL && reused == 0);
  pf_conn_put(c, kb, 0);
  /* a waiter stops with its session */
  struct getter w = {c, s, a, NULL, -1, 0};
  CU_ASSERT_FATAL(pthread_create(&th, NULL, get_later, &w) == 0);
  sleep_ms(200);
  atomic_store(&s->stop, 1);
  pthread_join(th, NULL);
  CU_ASSERT_PTR_NULL(w.got);
  atomic_store(&s->stop, 0);
  pf_conn_put(c, g.got, 0);
  pf_conn_put(c, k2, 1);
  fake_free(s);
  pf_client_unref(c);
}

static void test_client_total(void) {
  pf_client *c = client_with("8", "2");
  pf_session *s = fake_session(c);
  int reused;
  struct pf_conn *k1 = pf_conn_get(c, "http://a.test:80", s, &reused);
  struct pf_conn *k2 = pf_conn_get(c, "http://a.test:80", s, &reused);
  CU_ASSERT_FATAL(k1 && k2);
  pf_conn_put(c, k1, 1);
  pf_conn_put(c, k2, 1);
  /* the total is full of idle connections to a: one is closed for b */
  struct pf_conn *kb = pf_conn_get(c, "http://b.test:80", s, &reused);
  CU_ASSERT(kb != NULL && reused == 0);
  /* no room for a new one to a now, but the idle one left is reused */
  struct pf_conn *ka = pf_conn_get(c, "http://a.test:80", s, &reused);
  CU_ASSERT(ka != NULL && reused == 1);
  /* none is left to reuse or close: a reservation ahead gets nothing */
  CU_ASSERT_EQUAL(pf_client_reserve(c, "http://c.test:80", 7), 0);
  pf_conn_put(c, ka, 0);
  CU_ASSERT_EQUAL(pf_client_reserve(c, "http://c.test:80", 7), 1);
  pf_client_unreserve(c, "http://c.test:80", 1);
  pf_conn_put(c, kb, 1);
  /* an idle connection to b: nothing is opened ahead there */
  CU_ASSERT_EQUAL(pf_client_reserve(c, "http://b.test:80", 7), 0);
  fake_free(s);
  pf_client_unref(c); /* closes the idle one */
}

int pf_suite_budget(void) {
  CU_pSuite s = CU_add_suite("budget", NULL, NULL);
  if (!s || !CU_add_test(s, "what a transfer does next", test_next_step) ||
      !CU_add_test(s, "connections opened ahead", test_ahead) ||
      !CU_add_test(s, "host keys", test_host_key) ||
      !CU_add_test(s, "per host: wait, reuse, stop", test_client_per_host) ||
      !CU_add_test(s, "in all: close an idle one elsewhere", test_client_total))
    return CU_get_error();
  return CUE_SUCCESS;
}
