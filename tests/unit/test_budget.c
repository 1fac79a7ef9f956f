/*
 * test_budget.c - the client's connection budget (client.c): how many
 * connections a probe may open ahead, host keys, and the client's counts
 * without a network: the sockets libcurl reports open and closed per host,
 * the slots reserved ahead, and when a host or the total is full. (The
 * budget of the connections themselves is libcurl's multi handle's: the
 * integration tests count them at the server.)
 */
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "internal.h"
#include "suites.h"

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

static void test_client_per_host(void) {
  pf_client *c = client_with("3", "32");
  const char *a = "http://a.test:80", *b = "http://b.test:80";
  /* the probe's own connection, fresh: a cold host, two more ahead */
  pf_client_sock_opened(c, a, 100);
  CU_ASSERT_EQUAL(pf_client_full(c, a), 0);
  CU_ASSERT_EQUAL(pf_client_reserve(c, a, 7), 2);
  CU_ASSERT_EQUAL(pf_client_full(c, a), 1); /* 1 open + 2 reserved */
  CU_ASSERT_EQUAL(pf_client_full(c, b), 0); /* another host is not held up */
  /* libcurl takes one of them: reserved -> open */
  pf_client_unreserve(c, a, 1);
  pf_client_sock_opened(c, a, 101);
  CU_ASSERT_EQUAL(pf_client_full(c, a), 1);
  pf_client_unreserve(c, a, 1); /* the other closed unused */
  CU_ASSERT_EQUAL(pf_client_full(c, a), 0);
  /* a warm host (another connection open there): nothing ahead */
  CU_ASSERT_EQUAL(pf_client_reserve(c, a, 7), 0);
  pf_client_sock_closed(c, 101);
  pf_client_sock_closed(c, 999); /* not one of ours: ignored */
  CU_ASSERT_EQUAL(pf_client_reserve(c, a, 7), 2);
  pf_client_unreserve(c, a, 2);
  pf_client_sock_closed(c, 100);
  CU_ASSERT_EQUAL(pf_client_full(c, a), 0);
  pf_client_unref(c);
}

static void test_client_total(void) {
  pf_client *c = client_with("8", "3");
  pf_client_sock_opened(c, "http://a.test:80", 10);
  pf_client_sock_opened(c, "http://a.test:80", 11);
  /* one left in all: b may open one ahead besides its own */
  pf_client_sock_opened(c, "http://b.test:80", 12);
  CU_ASSERT_EQUAL(pf_client_full(c, "http://c.test:80"), 2); /* the total */
  CU_ASSERT_EQUAL(pf_client_reserve(c, "http://b.test:80", 7), 0);
  pf_client_sock_closed(c, 10);
  CU_ASSERT_EQUAL(pf_client_reserve(c, "http://b.test:80", 7), 1);
  CU_ASSERT_EQUAL(pf_client_full(c, "http://b.test:80"), 2);
  pf_client_unreserve(c, "http://b.test:80", 1);
  pf_client_sock_closed(c, 11);
  pf_client_sock_closed(c, 12);
  CU_ASSERT_EQUAL(pf_client_full(c, "http://c.test:80"), 0);
  pf_client_unref(c);
}

int pf_suite_budget(void) {
  CU_pSuite s = CU_add_suite("budget", NULL, NULL);
  if (!s || !CU_add_test(s, "connections opened ahead", test_ahead) ||
      !CU_add_test(s, "host keys", test_host_key) ||
      !CU_add_test(s, "per host: open, reserved, warm", test_client_per_host) ||
      !CU_add_test(s, "in all", test_client_total))
    return CU_get_error();
  return CUE_SUCCESS;
}
