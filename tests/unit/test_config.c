/*
 * test_config.c - the configuration suite: every default, every key from YAML
 * and from pf_config_set, size and duration units (edges and overflow), every
 * error path with its key and line:column, merge order, list appending,
 * dup/free, real files (temp files, a missing path, the shipped
 * config/parfetch.yaml). Runs from the repository root.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "config.h"
#include "suites.h"

/* Every key pf_config_get knows, in table order. */
static const char *const all_keys[] = {
    "plugin",          "streams",        "min_part_size", "chunk_size", "queue_depth",
    "connect_timeout", "stall_timeout",  "retries",       "retry_wait", "retry_max_wait",
    "max_redirects",   "http_version",   "on_change",     "preconnect",
    "max_connections_per_host", "max_connections", "idle_timeout", "rate_limit", "user_agent",
    "proxy",           "headers",        "secret_headers", "tls.verify", "tls.cacert",
    "tls.capath",
};
#define NALL_KEYS (sizeof all_keys / sizeof all_keys[0])

/* Fails the test and shows both strings when needle is not in hay. */
#define ASSERT_CONTAINS(hay, needle)                                                               \
  do {                                                                                             \
    const char *hay_ = (hay);                                                                      \
    int found_ = hay_ != NULL && strstr(hay_, (needle)) != NULL;                                   \
    if (!found_)                                                                                   \
      fprintf(stderr, "\n    expected \"%s\" in \"%s\"\n", (needle), hay_ ? hay_ : "(null)");      \
    CU_ASSERT(found_);                                                                             \
  } while (0)

#define ASSERT_STARTS_WITH(hay, prefix)                                                            \
  do {                                                                                             \
    const char *hay_ = (hay);                                                                      \
    int found_ = hay_ != NULL && strncmp(hay_, (prefix), strlen(prefix)) == 0;                     \
    if (!found_)                                                                                   \
      fprintf(stderr, "\n    expected \"%s\" to start with \"%s\"\n", hay_ ? hay_ : "(null)",      \
              (prefix));                                                                           \
    CU_ASSERT(found_);                                                                             \
  } while (0)

static pf_status load(pf_config *cfg, const char *yaml) {
  return pf_config_load_string(cfg, yaml, strlen(yaml), "t.yaml");
}

/* Every key's value as text, "key=value\n" each, to compare whole configs. */
static char *snapshot(pf_config *cfg) {
  size_t cap = 8192, used = 0;
  char *out = malloc(cap);
  CU_ASSERT_FATAL(out != NULL);
  out[0] = '\0';
  for (size_t i = 0; i < NALL_KEYS; i++) {
    const char *v = pf_config_get(cfg, all_keys[i]);
    int n = snprintf(out + used, cap - used, "%s=%s\n", all_keys[i], v ? v : "(unset)");
    CU_ASSERT_FATAL(n > 0 && (size_t)n < cap - used);
    used += (size_t)n;
  }
  return out;
}

static void assert_defaults(pf_config *cfg) {
  CU_ASSERT_EQUAL(cfg->max_streams, 8);
  CU_ASSERT_EQUAL(cfg->min_part_size, 8u * 1024 * 1024);
  CU_ASSERT_EQUAL(cfg->chunk_size, 256u * 1024);
  CU_ASSERT_EQUAL(cfg->queue_depth, 0);
  CU_ASSERT_EQUAL(cfg->connect_timeout_ms, 10000);
  CU_ASSERT_EQUAL(cfg->stall_timeout_ms, 20000);
  CU_ASSERT_EQUAL(cfg->retries, 15);
  CU_ASSERT_EQUAL(cfg->retry_wait_ms, 500);
  CU_ASSERT_EQUAL(cfg->retry_max_wait_ms, 30000);
  CU_ASSERT_EQUAL(cfg->max_redirects, 10);
  CU_ASSERT_EQUAL(cfg->http_version, PF_HTTP_AUTO);
  CU_ASSERT_EQUAL(cfg->on_change, PF_ON_CHANGE_FAIL);
  CU_ASSERT_STRING_EQUAL(cfg->user_agent, "parfetch/" PF_VERSION);
  CU_ASSERT_PTR_NULL(cfg->proxy);
  CU_ASSERT_PTR_NULL(cfg->headers);
  CU_ASSERT_EQUAL(cfg->nheaders, 0);
  CU_ASSERT_PTR_NULL(cfg->secret_headers);
  CU_ASSERT_EQUAL(cfg->nsecret_headers, 0);
  CU_ASSERT_EQUAL(cfg->tls_verify, 1);
  CU_ASSERT_PTR_NULL(cfg->tls_cacert);
  CU_ASSERT_PTR_NULL(cfg->tls_capath);
  CU_ASSERT_PTR_NULL(cfg->plugin);
}

/* ---- defaults and getters ----------------------------------------------- */

static void test_defaults(void) {
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  assert_defaults(cfg);
  CU_ASSERT_STRING_EQUAL(pf_config_error(cfg), "");
  pf_config_free(cfg);
}

static void test_get_defaults_as_text(void) {
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "streams"), "8");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "min_part_size"), "8388608");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "chunk_size"), "262144");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "queue_depth"), "0");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "connect_timeout"), "10000ms");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "stall_timeout"), "20000ms");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "retries"), "15");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "retry_wait"), "500ms");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "retry_max_wait"), "30000ms");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "max_redirects"), "10");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "http_version"), "auto");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "on_change"), "fail");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "preconnect"), "true");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "max_connections_per_host"), "8");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "max_connections"), "32");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "idle_timeout"), "30000ms");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "rate_limit"), "0");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "user_agent"), "parfetch/" PF_VERSION);
  CU_ASSERT_PTR_NULL(pf_config_get(cfg, "proxy"));
  CU_ASSERT_PTR_NULL(pf_config_get(cfg, "plugin"));
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "headers"), "");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "secret_headers"), "");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "tls.verify"), "true");
  CU_ASSERT_PTR_NULL(pf_config_get(cfg, "tls.cacert"));
  CU_ASSERT_PTR_NULL(pf_config_get(cfg, "tls.capath"));
  CU_ASSERT_STRING_EQUAL(pf_config_error(cfg), "");
  pf_config_free(cfg);
}

static void test_get_unknown_key(void) {
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  CU_ASSERT_PTR_NULL(pf_config_get(cfg, "strams"));
  CU_ASSERT_STRING_EQUAL(pf_config_error(cfg),
                         "pf_config_get: strams: unknown key; did you mean \"streams\"?");
  CU_ASSERT_PTR_NULL(pf_config_get(cfg, "tls"));
  ASSERT_CONTAINS(pf_config_error(cfg), "tls: is a group of keys");
  CU_ASSERT_PTR_NULL(pf_config_get(cfg, NULL));
  CU_ASSERT_PTR_NULL(pf_config_get(NULL, "streams"));
  pf_config_free(cfg);
}

/* ---- every key, from YAML and from pf_config_set ------------------------ */

static const char every_key_yaml[] = "# every key, none at its default\n"
                                     "plugin: /opt/parfetch/parfetch.so\n"
                                     "streams: 16\n"
                                     "min_part_size: 4MiB\n"
                                     "chunk_size: 512K\n"
                                     "queue_depth: 64\n"
                                     "connect_timeout: 3s\n"
                                     "stall_timeout: 1m\n"
                                     "retries: 5\n"
                                     "retry_wait: 250ms\n"
                                     "retry_max_wait: 1h\n"
                                     "max_redirects: 3\n"
                                     "http_version: 1.1\n"
                                     "on_change: restart\n"
                                     "preconnect: no\n"
                                     "max_connections_per_host: 2\n"
                                     "max_connections: 6\n"
                                     "idle_timeout: 5s\n"
                                     "rate_limit: 2M\n"
                                     "user_agent: \"my-agent/1.0 (test)\"\n"
                                     "proxy: http://proxy.example:3128\n"
                                     "headers:\n"
                                     "  - \"Authorization: Bearer abc\"\n"
                                     "  - X-Trace: on\n"
                                     "secret_headers:\n"
                                     "  - Authorization\n"
                                     "  - X-Api-Key\n"
                                     "tls:\n"
                                     "  verify: off\n"
                                     "  cacert: /etc/ssl/extra.pem\n"
                                     "  capath: /etc/ssl/certs\n";

static void assert_every_key_set(pf_config *cfg) {
  CU_ASSERT_STRING_EQUAL(cfg->plugin, "/opt/parfetch/parfetch.so");
  CU_ASSERT_EQUAL(cfg->max_streams, 16);
  CU_ASSERT_EQUAL(cfg->min_part_size, 4u * 1024 * 1024);
  CU_ASSERT_EQUAL(cfg->chunk_size, 512u * 1024);
  CU_ASSERT_EQUAL(cfg->queue_depth, 64);
  CU_ASSERT_EQUAL(cfg->connect_timeout_ms, 3000);
  CU_ASSERT_EQUAL(cfg->stall_timeout_ms, 60000);
  CU_ASSERT_EQUAL(cfg->retries, 5);
  CU_ASSERT_EQUAL(cfg->retry_wait_ms, 250);
  CU_ASSERT_EQUAL(cfg->retry_max_wait_ms, 3600000);
  CU_ASSERT_EQUAL(cfg->max_redirects, 3);
  CU_ASSERT_EQUAL(cfg->http_version, PF_HTTP_1_1);
  CU_ASSERT_EQUAL(cfg->on_change, PF_ON_CHANGE_RESTART);
  CU_ASSERT_EQUAL(cfg->preconnect, 0);
  CU_ASSERT_EQUAL(cfg->max_connections_per_host, 2);
  CU_ASSERT_EQUAL(cfg->max_connections, 6);
  CU_ASSERT_EQUAL(cfg->idle_timeout_ms, 5000);
  CU_ASSERT_EQUAL(cfg->rate_limit, 2u * 1024 * 1024);
  CU_ASSERT_STRING_EQUAL(cfg->user_agent, "my-agent/1.0 (test)");
  CU_ASSERT_STRING_EQUAL(cfg->proxy, "http://proxy.example:3128");
  CU_ASSERT_FATAL(cfg->nheaders == 2);
  CU_ASSERT_STRING_EQUAL(cfg->headers[0], "Authorization: Bearer abc");
  CU_ASSERT_STRING_EQUAL(cfg->headers[1], "X-Trace: on");
  CU_ASSERT_FATAL(cfg->nsecret_headers == 2);
  CU_ASSERT_STRING_EQUAL(cfg->secret_headers[0], "Authorization");
  CU_ASSERT_STRING_EQUAL(cfg->secret_headers[1], "X-Api-Key");
  CU_ASSERT_EQUAL(cfg->tls_verify, 0);
  CU_ASSERT_STRING_EQUAL(cfg->tls_cacert, "/etc/ssl/extra.pem");
  CU_ASSERT_STRING_EQUAL(cfg->tls_capath, "/etc/ssl/certs");
}

static void test_every_key_from_yaml(void) {
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  CU_ASSERT_EQUAL(load(cfg, every_key_yaml), PF_OK);
  CU_ASSERT_STRING_EQUAL(pf_config_error(cfg), "");
  assert_every_key_set(cfg);
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "min_part_size"), "4194304");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "stall_timeout"), "60000ms");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "http_version"), "1.1");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "on_change"), "restart");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "preconnect"), "false");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "tls.verify"), "false");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "headers"), "Authorization: Bearer abc\nX-Trace: on");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "secret_headers"), "Authorization\nX-Api-Key");
  pf_config_free(cfg);
}

static void test_every_key_from_set(void) {
  static const char *const pairs[][2] = {
      {"plugin", "/opt/parfetch/parfetch.so"},
      {"streams", "16"},
      {"min_part_size", "4MiB"},
      {"chunk_size", "512K"},
      {"queue_depth", "64"},
      {"connect_timeout", "3s"},
      {"stall_timeout", "1m"},
      {"retries", "5"},
      {"retry_wait", "250ms"},
      {"retry_max_wait", "1h"},
      {"max_redirects", "3"},
      {"http_version", "1.1"},
      {"on_change", "restart"},
      {"preconnect", "off"},
      {"max_connections_per_host", "2"},
      {"max_connections", "6"},
      {"idle_timeout", "5s"},
      {"rate_limit", "2MiB"},
      {"user_agent", "my-agent/1.0 (test)"},
      {"proxy", "http://proxy.example:3128"},
      {"headers", "Authorization: Bearer abc"},
      {"headers", "X-Trace: on"},
      {"secret_headers", "Authorization"},
      {"secret_headers", "X-Api-Key"},
      {"tls.verify", "off"},
      {"tls.cacert", "/etc/ssl/extra.pem"},
      {"tls.capath", "/etc/ssl/certs"},
  };
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    pf_status st = pf_config_set(cfg, pairs[i][0], pairs[i][1]);
    if (st != PF_OK)
      fprintf(stderr, "\n    %s=%s: %s\n", pairs[i][0], pairs[i][1], pf_config_error(cfg));
    CU_ASSERT_EQUAL(st, PF_OK);
  }
  assert_every_key_set(cfg);
  CU_ASSERT_STRING_EQUAL(pf_config_error(cfg), "");

  /* The same config from YAML reads back identically. */
  pf_config *from_yaml = pf_config_new();
  CU_ASSERT_FATAL(from_yaml != NULL);
  CU_ASSERT_EQUAL(load(from_yaml, every_key_yaml), PF_OK);
  char *a = snapshot(cfg), *b = snapshot(from_yaml);
  CU_ASSERT_STRING_EQUAL(a, b);
  free(a);
  free(b);
  pf_config_free(from_yaml);
  pf_config_free(cfg);
}

static void test_http_version_forms(void) {
  static const struct {
    const char *yaml;
    enum pf_http_version want;
  } cases[] = {
      {"http_version: 1.1\n", PF_HTTP_1_1},   {"http_version: \"1.1\"\n", PF_HTTP_1_1},
      {"http_version: '1.1'\n", PF_HTTP_1_1}, {"http_version: 2\n", PF_HTTP_2},
      {"http_version: \"2\"\n", PF_HTTP_2},   {"http_version: 2.0\n", PF_HTTP_2},
      {"http_version: auto\n", PF_HTTP_AUTO}, {"http_version: AUTO\n", PF_HTTP_AUTO},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pf_config *cfg = pf_config_new();
    CU_ASSERT_FATAL(cfg != NULL);
    cfg->http_version = cases[i].want == PF_HTTP_AUTO ? PF_HTTP_2 : PF_HTTP_AUTO;
    CU_ASSERT_EQUAL(load(cfg, cases[i].yaml), PF_OK);
    CU_ASSERT_EQUAL(cfg->http_version, cases[i].want);
    pf_config_free(cfg);
  }
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  CU_ASSERT_EQUAL(pf_config_set(cfg, "http_version", "2"), PF_OK);
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "http_version"), "2");
  CU_ASSERT_EQUAL(pf_config_set(cfg, "http_version", "1.0"), PF_E_CONFIG);
  CU_ASSERT_EQUAL(pf_config_set(cfg, "http_version", "3"), PF_E_CONFIG);
  CU_ASSERT_EQUAL(pf_config_set(cfg, "http_version", "1.1 "), PF_E_CONFIG);
  CU_ASSERT_EQUAL(cfg->http_version, PF_HTTP_2);
  pf_config_free(cfg);
}

static void test_booleans(void) {
  static const char *const truthy[] = {"true", "True", "TRUE", "yes", "Yes",
                                       "YES",  "on",   "On",   "ON"};
  static const char *const falsy[] = {"false", "False", "FALSE", "no", "No",
                                      "NO",    "off",   "Off",   "OFF"};
  static const char *const bad[] = {"1", "0", "y", "n", "enable", "truee", "", " true"};
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  for (size_t i = 0; i < sizeof truthy / sizeof truthy[0]; i++) {
    char yaml[64];
    cfg->tls_verify = 0;
    CU_ASSERT_EQUAL(pf_config_set(cfg, "tls.verify", truthy[i]), PF_OK);
    CU_ASSERT_EQUAL(cfg->tls_verify, 1);
    cfg->tls_verify = 0;
    snprintf(yaml, sizeof yaml, "tls:\n  verify: %s\n", truthy[i]);
    CU_ASSERT_EQUAL(load(cfg, yaml), PF_OK);
    CU_ASSERT_EQUAL(cfg->tls_verify, 1);
  }
  for (size_t i = 0; i < sizeof falsy / sizeof falsy[0]; i++) {
    char yaml[64];
    cfg->tls_verify = 1;
    CU_ASSERT_EQUAL(pf_config_set(cfg, "tls.verify", falsy[i]), PF_OK);
    CU_ASSERT_EQUAL(cfg->tls_verify, 0);
    cfg->tls_verify = 1;
    snprintf(yaml, sizeof yaml, "tls: {verify: %s}\n", falsy[i]);
    CU_ASSERT_EQUAL(load(cfg, yaml), PF_OK);
    CU_ASSERT_EQUAL(cfg->tls_verify, 0);
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cfg->tls_verify = 1;
    CU_ASSERT_EQUAL(pf_config_set(cfg, "tls.verify", bad[i]), PF_E_CONFIG);
    ASSERT_STARTS_WITH(pf_config_error(cfg),
                       "command line: tls.verify: expected a boolean (true/false, yes/no, on/off)");
    CU_ASSERT_EQUAL(cfg->tls_verify, 1);
  }
  pf_config_free(cfg);
}

static void test_on_change_forms(void) {
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  CU_ASSERT_EQUAL(load(cfg, "on_change: Restart\n"), PF_OK);
  CU_ASSERT_EQUAL(cfg->on_change, PF_ON_CHANGE_RESTART);
  CU_ASSERT_EQUAL(pf_config_set(cfg, "on_change", "fail"), PF_OK);
  CU_ASSERT_EQUAL(cfg->on_change, PF_ON_CHANGE_FAIL);
  CU_ASSERT_EQUAL(pf_config_set(cfg, "on_change", "retry"), PF_E_CONFIG);
  CU_ASSERT_STRING_EQUAL(pf_config_error(cfg),
                         "command line: on_change: expected fail or restart, got \"retry\"");
  CU_ASSERT_EQUAL(cfg->on_change, PF_ON_CHANGE_FAIL);
  pf_config_free(cfg);
}

/* ---- units --------------------------------------------------------------- */

static void test_parse_size_good(void) {
  static const struct {
    const char *text;
    uint64_t want;
  } cases[] = {
      {"0", 0},
      {"1", 1},
      {"512", 512},
      {"00012", 12},
      {"1B", 1},
      {"7b", 7},
      {"512K", 512 * 1024},
      {"512k", 512 * 1024},
      {"1KiB", 1024},
      {"1kib", 1024},
      {"1KIB", 1024},
      {"1KB", 1000},
      {"1kb", 1000},
      {"8M", 8u << 20},
      {"8MiB", 8u << 20},
      {"8mib", 8u << 20},
      {"8MB", 8000000},
      {"1G", 1u << 30},
      {"1GiB", 1u << 30},
      {"1GB", 1000000000},
      {"1T", (uint64_t)1 << 40},
      {"1TiB", (uint64_t)1 << 40},
      {"1TB", 1000000000000},
      {"8 MiB", 8u << 20},
      {"18446744073709551615", UINT64_MAX},
      {"18446744073709551615B", UINT64_MAX},
      {"16777215T", (uint64_t)16777215 << 40},
      {"17179869183G", (uint64_t)17179869183 << 30},
      {"18446744073709551KB", 18446744073709551000u},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint64_t v = 12345;
    int r = pf_parse_size(cases[i].text, &v);
    if (r != 0 || v != cases[i].want)
      fprintf(stderr, "\n    size \"%s\": r=%d v=%llu\n", cases[i].text, r, (unsigned long long)v);
    CU_ASSERT_EQUAL(r, 0);
    CU_ASSERT_EQUAL(v, cases[i].want);
  }
}

static void test_parse_size_bad(void) {
  static const char *const bad[] = {
      "",
      "-1",
      "+1",
      "1.5G",
      "12XB",
      "K",
      "KiB",
      "1 ",
      " 1",
      "1KiBs",
      "1 K B",
      "0x10",
      "1e3",
      "1Ki",
      "1PB",
      "1 2",
      "18446744073709551616",    /* UINT64_MAX + 1 */
      "99999999999999999999999", /* far beyond */
      "16777216T",               /* 2^24 TiB = 2^64 */
      "17179869184G",            /* 2^34 GiB = 2^64 */
      "18446744073709552KB",     /* just above after x1000 */
      "18446744073709551616B",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint64_t v = 777;
    int r = pf_parse_size(bad[i], &v);
    if (r != -1)
      fprintf(stderr, "\n    size \"%s\" accepted as %llu\n", bad[i], (unsigned long long)v);
    CU_ASSERT_EQUAL(r, -1);
    CU_ASSERT_EQUAL(v, 777); /* untouched on failure */
  }
  uint64_t v;
  CU_ASSERT_EQUAL(pf_parse_size(NULL, &v), -1);
  CU_ASSERT_EQUAL(pf_parse_size("1", NULL), -1);
}

static void test_parse_duration_good(void) {
  static const struct {
    const char *text;
    long want;
  } cases[] = {
      {"0", 0},
      {"0ms", 0},
      {"500ms", 500},
      {"20s", 20000},
      {"20", 20000},
      {"2m", 120000},
      {"1h", 3600000},
      {"20S", 20000},
      {"500MS", 500},
      {"2M", 120000},
      {"1H", 3600000},
      {"20 s", 20000},
      {"9223372036854775807ms", LONG_MAX},
      {"9223372036854775s", 9223372036854775000},
      {"9223372036854775", 9223372036854775000},
      {"2562047788015h", 9223372036854000000},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    long v = -5;
    int r = pf_parse_duration_ms(cases[i].text, &v);
    if (r != 0 || v != cases[i].want)
      fprintf(stderr, "\n    duration \"%s\": r=%d v=%ld\n", cases[i].text, r, v);
    CU_ASSERT_EQUAL(r, 0);
    CU_ASSERT_EQUAL(v, cases[i].want);
  }
}

static void test_parse_duration_bad(void) {
  static const char *const bad[] = {
      "",
      "-1",
      "+1",
      "1.5s",
      "10 minutes",
      "5d",
      "ms",
      "s5",
      "1 ",
      " 1",
      "1sec",
      "0x10",
      "9223372036854775808ms", /* LONG_MAX + 1 */
      "9223372036854776s",     /* > LONG_MAX ms */
      "2562047788016h",        /* > LONG_MAX ms */
      "99999999999999999999",  /* > UINT64_MAX */
      "18446744073709551615s", /* overflows the multiplication */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    long v = -5;
    int r = pf_parse_duration_ms(bad[i], &v);
    if (r != -1)
      fprintf(stderr, "\n    duration \"%s\" accepted as %ld\n", bad[i], v);
    CU_ASSERT_EQUAL(r, -1);
    CU_ASSERT_EQUAL(v, -5);
  }
  long v;
  CU_ASSERT_EQUAL(pf_parse_duration_ms(NULL, &v), -1);
  CU_ASSERT_EQUAL(pf_parse_duration_ms("1s", NULL), -1);
}

/* The edges of every numeric key's range, through pf_config_set and get. */
static void test_key_ranges(void) {
  static const struct {
    const char *key;
    const char *lowest, *lowest_got;   /* accepted, and what get returns */
    const char *highest, *highest_got; /* accepted */
    const char *below, *above;         /* rejected; NULL if none exists */
  } cases[] = {
      {"streams", "1", "1", "128", "128", "0", "129"},
      {"min_part_size", "64K", "65536", "18446744073709551615", "18446744073709551615", "65535",
       "16777216T"},
      {"chunk_size", "16KiB", "16384", "16MiB", "16777216", "16383", "16777217"},
      {"queue_depth", "0", "0", "4096", "4096", NULL, "4097"},
      {"stream_window", "1MiB", "1048576", "1GiB", "1073741824", "1048575", "1073741825"},
      {"connect_timeout", "1ms", "1ms", "24h", "86400000ms", "0", "86400001ms"},
      {"stall_timeout", "1s", "1000ms", "1440m", "86400000ms", "999ms", "25h"},
      {"retries", "1", "1", "1000", "1000", "0", "1001"},
      {"retry_wait", "0", "0ms", "1h", "3600000ms", NULL, "61m"},
      {"retry_max_wait", "0ms", "0ms", "24h", "86400000ms", NULL, "1441m"},
      {"max_redirects", "0", "0", "50", "50", NULL, "51"},
      {"max_connections_per_host", "1", "1", "1024", "1024", "0", "1025"},
      {"max_connections", "1", "1", "4096", "4096", "0", "4097"},
      {"idle_timeout", "0", "0ms", "24h", "86400000ms", NULL, "1441m"},
      {"rate_limit", "0", "0", "1T", "1099511627776", NULL, "1099511627777"},
  };
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char prefix[96];
    snprintf(prefix, sizeof prefix, "command line: %s: expected ", cases[i].key);
    CU_ASSERT_EQUAL(pf_config_set(cfg, cases[i].key, cases[i].lowest), PF_OK);
    CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, cases[i].key), cases[i].lowest_got);
    if (cases[i].below) {
      CU_ASSERT_EQUAL(pf_config_set(cfg, cases[i].key, cases[i].below), PF_E_CONFIG);
      ASSERT_STARTS_WITH(pf_config_error(cfg), prefix);
      ASSERT_CONTAINS(pf_config_error(cfg), cases[i].below);
      CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, cases[i].key), cases[i].lowest_got);
    }
    CU_ASSERT_EQUAL(pf_config_set(cfg, cases[i].key, cases[i].highest), PF_OK);
    CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, cases[i].key), cases[i].highest_got);
    CU_ASSERT_EQUAL(pf_config_set(cfg, cases[i].key, cases[i].above), PF_E_CONFIG);
    ASSERT_STARTS_WITH(pf_config_error(cfg), prefix);
    ASSERT_CONTAINS(pf_config_error(cfg), cases[i].above);
    CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, cases[i].key), cases[i].highest_got);
  }
  pf_config_free(cfg);
}

static void test_units_in_yaml(void) {
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  CU_ASSERT_EQUAL(load(cfg, "min_part_size: 1G\nchunk_size: 1048576\nconnect_timeout: 2m\n"
                            "stall_timeout: 45\nretry_wait: 0\nretry_max_wait: \"90s\"\n"),
                  PF_OK);
  CU_ASSERT_EQUAL(cfg->min_part_size, (uint64_t)1 << 30);
  CU_ASSERT_EQUAL(cfg->chunk_size, 1048576);
  CU_ASSERT_EQUAL(cfg->connect_timeout_ms, 120000);
  CU_ASSERT_EQUAL(cfg->stall_timeout_ms, 45000);
  CU_ASSERT_EQUAL(cfg->retry_wait_ms, 0);
  CU_ASSERT_EQUAL(cfg->retry_max_wait_ms, 90000);
  pf_config_free(cfg);
}

/* ---- error paths ----------------------------------------------------------- */

struct error_case {
  const char *yaml;
  const char *prefix; /* the message starts with this: "t.yaml:LINE:COL: KEY: " */
  const char *detail; /* and contains this */
};

static const struct error_case error_cases[] = {
    /* wrong value */
    {"streams: many\n",
     "t.yaml:1:10: streams: ", "expected an integer from 1 to 128, got \"many\""},
    {"retries: 1001\n",
     "t.yaml:1:10: retries: ", "expected an integer from 1 to 1000, got \"1001\""},
    {"max_redirects: -1\n", "t.yaml:1:16: max_redirects: ", "got \"-1\""},
    {"queue_depth: 4.5\n", "t.yaml:1:14: queue_depth: ", "got \"4.5\""},
    {"streams:\n", "t.yaml:1:9: streams: ", "got an empty value"},
    {"streams: ~\n", "t.yaml:1:10: streams: ", "got \"~\""},
    {"min_part_size: 12XB\n", "t.yaml:1:16: min_part_size: ",
     "expected a size of at least 64KiB (bytes, or with a unit: 512K, 8MiB, 1G), got \"12XB\""},
    {"min_part_size: 16K\n", "t.yaml:1:16: min_part_size: ", "got \"16K\""},
    {"min_part_size: 99999999999999999999\n",
     "t.yaml:1:16: min_part_size: ", "got \"99999999999999999999\" (too large)"},
    {"chunk_size: 1.5M\n", "t.yaml:1:13: chunk_size: ", "expected a size from 16KiB to 16MiB"},
    {"chunk_size: 32MiB\n", "t.yaml:1:13: chunk_size: ", "got \"32MiB\""},
    {"streams: 4\nstream_window: 512K\n", "t.yaml:2:16: stream_window: ",
     "expected a size from 1MiB to 1GiB"},
    {"stall_timeout: 20 sec\n", "t.yaml:1:16: stall_timeout: ",
     "expected a duration from 1s to 24h (500ms, 20s, 2m, 1h; a bare number is seconds), got "
     "\"20 sec\""},
    {"connect_timeout: 0\n", "t.yaml:1:18: connect_timeout: ", "from 1ms to 24h"},
    {"connect_timeout: 9223372036854775808ms\n", "t.yaml:1:18: connect_timeout: ", "(too large)"},
    {"retry_wait: -500ms\n", "t.yaml:1:13: retry_wait: ", "from 0 to 1h"},
    {"http_version: 3\n", "t.yaml:1:15: http_version: ", "expected auto, 1.1 or 2, got \"3\""},
    {"on_change: retry\n", "t.yaml:1:12: on_change: ", "expected fail or restart, got \"retry\""},
    {"tls:\n  verify: 1\n", "t.yaml:2:11: tls.verify: ", "expected a boolean"},
    {"user_agent: \"bad\\nagent\"\n", "t.yaml:1:13: user_agent: ",
     "expected a string without control characters, got \"bad\\nagent\""},
    {"proxy: \"a\\0b\"\n", "t.yaml:1:8: proxy: ", "NUL character"},
    /* wrong type */
    {"streams:\n  a: 1\n",
     "t.yaml:2:3: streams: ", "expected an integer from 1 to 128, got a mapping"},
    {"chunk_size: [1, 2]\n", "t.yaml:1:13: chunk_size: ", "got a list"},
    {"user_agent:\n  - a\n", "t.yaml:2:3: user_agent: ", "got a list"},
    {"headers: \"X-A: b\"\n",
     "t.yaml:1:10: headers: ", "expected a list of \"Name: value\" strings, got \"X-A: b\""},
    {"secret_headers:\n  Authorization: yes\n",
     "t.yaml:2:3: secret_headers: ", "expected a list of header names, got a mapping"},
    {"secret_headers: Authorization\n",
     "t.yaml:1:17: secret_headers: ", "expected a list of header names, got \"Authorization\""},
    {"tls: yes\n",
     "t.yaml:1:6: tls: ", "expected a mapping of the keys verify, cacert and capath, got \"yes\""},
    {"tls:\n  - verify\n", "t.yaml:2:3: tls: ", "got a list"},
    {"tls:\n  cacert: {a: b}\n", "t.yaml:2:11: tls.cacert: ", "expected a string, got a mapping"},
    {"- streams\n", "t.yaml:1:1: ", "expected a mapping of keys at the top level"},
    {"just text\n", "t.yaml:1:1: ", "got \"just text\""},
    {"? [a]\n: b\n", "t.yaml:1:3: ", "expected a key name, got a list"},
    /* bad list items */
    {"headers:\n  - \"X-A: b\"\n  - \"Bad Name: x\"\n",
     "t.yaml:3:5: headers: ", "expected \"Name: value\""},
    {"headers:\n  - NoColon\n", "t.yaml:2:5: headers: ", "got \"NoColon\""},
    {"headers:\n  - \": no name\"\n", "t.yaml:2:5: headers: ", "got \": no name\""},
    {"headers:\n  - \"X-A: b\\r\\nX-Evil: 1\"\n",
     "t.yaml:2:5: headers: ", "got \"X-A: b\\r\\nX-Evil: 1\""},
    {"headers:\n  - \"X-A: b\\nc\"\n", "t.yaml:2:5: headers: ", "without CR, LF"},
    {"headers:\n  -\n", "t.yaml:2:4: headers: ", "got an empty value"},
    {"headers:\n  - [a, b]\n", "t.yaml:2:5: headers: ", "got a list"},
    {"headers:\n  - {A: b, C: d}\n", "t.yaml:2:5: headers: ", "got a mapping"},
    {"secret_headers:\n  - \"Authorization:\"\n",
     "t.yaml:2:5: secret_headers: ", "expected a header name"},
    {"secret_headers:\n  - [a]\n",
     "t.yaml:2:5: secret_headers: ", "expected a header name, got a list"},
    /* unknown keys */
    {"retries: 3\nstrems: 4\n", "t.yaml:2:1: strems: ", "unknown key; did you mean \"streams\"?"},
    {"Streams: 4\n", "t.yaml:1:1: Streams: ", "did you mean \"streams\"?"},
    {"chunksize: 1M\n", "t.yaml:1:1: chunksize: ", "did you mean \"chunk_size\"?"},
    {"retry_wiat: 1s\n", "t.yaml:1:1: retry_wiat: ", "did you mean \"retry_wait\"?"},
    {"tls:\n  verfy: no\n", "t.yaml:2:3: tls.verfy: ", "unknown key; did you mean \"tls.verify\"?"},
    {"tls:\n  streams: 4\n", "t.yaml:2:3: tls.streams: ", "unknown key"},
    {"tls.verify: false\n", "t.yaml:1:1: tls.verify: ", "unknown key; in YAML a nested key"},
    /* duplicates */
    {"streams: 4\nretries: 3\nstreams: 5\n",
     "t.yaml:3:1: streams: ", "duplicate key (first set at 1:1)"},
    {"tls:\n  verify: yes\n  verify: no\n",
     "t.yaml:3:3: tls.verify: ", "duplicate key (first set at 2:3)"},
    {"headers: []\n\"headers\": []\n", "t.yaml:2:1: headers: ", "duplicate key"},
    /* YAML syntax */
    {"streams: 4\n  retries: 3\n",
     "t.yaml:2:10: ", "invalid YAML: mapping values are not allowed in this context"},
    {"streams: 4\nretries: [1, 2\n", "t.yaml:3:1: ",
     "invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence at 2:10)"},
    {"tls:\n\tverify: no\n", "t.yaml:2:1: ", "invalid YAML: found character that cannot start"},
    {"streams: \"unterminated\n", "t.yaml:2:1: ", "while scanning a quoted scalar at 1:10"},
    {"streams: &a 4\nretries: *b\n", "t.yaml:2:10: ", "invalid YAML: found undefined alias"},
    {"streams: 4\nuser_agent: caf\xc3\xa9\xff\n",
     "t.yaml:2:17: ", "invalid YAML: invalid leading UTF-8 octet"},
    {"streams: 4\n---\nretries: 3\n", "t.yaml:3:1: ", "expected one YAML document"},
};

static void test_yaml_errors(void) {
  for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
    pf_config *cfg = pf_config_new();
    CU_ASSERT_FATAL(cfg != NULL);
    char *before = snapshot(cfg);
    pf_status st = load(cfg, error_cases[i].yaml);
    if (st != PF_E_CONFIG)
      fprintf(stderr, "\n    case %zu (%s): status %d\n", i, error_cases[i].yaml, (int)st);
    CU_ASSERT_EQUAL(st, PF_E_CONFIG);
    ASSERT_STARTS_WITH(pf_config_error(cfg), error_cases[i].prefix);
    ASSERT_CONTAINS(pf_config_error(cfg), error_cases[i].detail);
    char *after = snapshot(cfg);
    CU_ASSERT_STRING_EQUAL(before, after); /* nothing applied */
    free(before);
    free(after);
    pf_config_free(cfg);
  }
}

static void test_error_exact_text(void) {
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  CU_ASSERT_EQUAL(
      pf_config_load_string(cfg, "\n\nstreams: many\n", 15, "/etc/parfetch/config.yaml"),
      PF_E_CONFIG);
  CU_ASSERT_STRING_EQUAL(pf_config_error(cfg), "/etc/parfetch/config.yaml:3:10: streams: expected "
                                               "an integer from 1 to 128, got \"many\"");
  CU_ASSERT_EQUAL(load(cfg, "colour: blue\n"), PF_E_CONFIG);
  CU_ASSERT_STRING_EQUAL(pf_config_error(cfg), "t.yaml:1:1: colour: unknown key");
  /* No origin: "<string>". */
  CU_ASSERT_EQUAL(pf_config_load_string(cfg, "streams: 0", 10, NULL), PF_E_CONFIG);
  ASSERT_STARTS_WITH(pf_config_error(cfg), "<string>:1:10: streams: ");
  /* Long values are cut, control characters escaped. */
  CU_ASSERT_EQUAL(pf_config_set(cfg, "streams",
                                "12345678901234567890123456789012345678901234567890"
                                "1234567890"),
                  PF_E_CONFIG);
  ASSERT_CONTAINS(pf_config_error(cfg),
                  "got \"123456789012345678901234567890123456789012345678...\"");
  CU_ASSERT_EQUAL(pf_config_set(cfg, "retries", "3\x01"), PF_E_CONFIG);
  ASSERT_CONTAINS(pf_config_error(cfg), "got \"3\\x01\"");
  pf_config_free(cfg);
}

/* Keys far longer than any known one: cut in the message, never overrun. */
static void test_long_unknown_keys(void) {
  char key[301], yaml[400];
  memset(key, 'a', 300);
  key[300] = '\0';
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  snprintf(yaml, sizeof yaml, "%s: 1\n", key);
  CU_ASSERT_EQUAL(load(cfg, yaml), PF_E_CONFIG);
  CU_ASSERT_STRING_EQUAL(
      pf_config_error(cfg),
      "t.yaml:1:1: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...: unknown key");
  snprintf(yaml, sizeof yaml, "tls:\n  %s: 1\n", key);
  CU_ASSERT_EQUAL(load(cfg, yaml), PF_E_CONFIG);
  ASSERT_STARTS_WITH(pf_config_error(cfg), "t.yaml:2:3: tls.aaaaaaaa");
  ASSERT_CONTAINS(pf_config_error(cfg), "...: unknown key");
  snprintf(yaml, sizeof yaml, "%s.verify: 1\n", key);
  CU_ASSERT_EQUAL(load(cfg, yaml), PF_E_CONFIG);
  ASSERT_CONTAINS(pf_config_error(cfg), "...: unknown key");
  CU_ASSERT_EQUAL(pf_config_set(cfg, key, "1"), PF_E_CONFIG);
  ASSERT_STARTS_WITH(pf_config_error(cfg), "command line: aaaaaaaa");
  ASSERT_CONTAINS(pf_config_error(cfg), "...: unknown key");
  assert_defaults(cfg);
  pf_config_free(cfg);
}

/* A failing load changes nothing, not even the keys before the bad one. */
static void test_error_leaves_config_unchanged(void) {
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  CU_ASSERT_EQUAL(load(cfg, "streams: 3\nheaders: [\"X-A: 1\"]\nproxy: http://a\n"), PF_OK);
  CU_ASSERT_EQUAL(load(cfg, "retries: 7\nproxy: http://b\nheaders: [\"X-B: 2\"]\n"
                            "tls:\n  verify: no\nstreams: many\n"),
                  PF_E_CONFIG);
  ASSERT_STARTS_WITH(pf_config_error(cfg), "t.yaml:6:10: streams: ");
  CU_ASSERT_EQUAL(cfg->max_streams, 3);
  CU_ASSERT_EQUAL(cfg->retries, 15);
  CU_ASSERT_STRING_EQUAL(cfg->proxy, "http://a");
  CU_ASSERT_EQUAL(cfg->tls_verify, 1);
  CU_ASSERT_FATAL(cfg->nheaders == 1);
  CU_ASSERT_STRING_EQUAL(cfg->headers[0], "X-A: 1");
  /* A later success clears the message. */
  CU_ASSERT_EQUAL(load(cfg, "retries: 7\n"), PF_OK);
  CU_ASSERT_STRING_EQUAL(pf_config_error(cfg), "");
  CU_ASSERT_EQUAL(cfg->retries, 7);
  pf_config_free(cfg);
}

static void test_set_errors(void) {
  static const struct {
    const char *key, *value, *message;
  } cases[] = {
      {"streams", "0", "command line: streams: expected an integer from 1 to 128, got \"0\""},
      {"streams", "",
       "command line: streams: expected an integer from 1 to 128, got an empty value"},
      {"streams", " 8", "command line: streams: expected an integer from 1 to 128, got \" 8\""},
      {"strems", "4", "command line: strems: unknown key; did you mean \"streams\"?"},
      {"min-part-size", "1M",
       "command line: min-part-size: unknown key; did you mean "
       "\"min_part_size\"?"},
      {"tls.verfy", "no", "command line: tls.verfy: unknown key; did you mean \"tls.verify\"?"},
      {"verify", "no", "command line: verify: unknown key"},
      {"tls", "off",
       "command line: tls: is a group of keys; set tls.verify, tls.cacert or "
       "tls.capath"},
      {"chunk_size", "1T",
       "command line: chunk_size: expected a size from 16KiB to 16MiB "
       "(bytes, or with a unit: 512K, 8MiB, 1G), got \"1T\""},
      {"min_part_size", "99999999999999999999K",
       "command line: min_part_size: expected a size of "
       "at least 64KiB (bytes, or with a unit: 512K, "
       "8MiB, 1G), got \"99999999999999999999K\" (too "
       "large)"},
      {"tls.verify", "maybe",
       "command line: tls.verify: expected a boolean (true/false, yes/no, "
       "on/off), got \"maybe\""},
      {"user_agent", "a\r\nX-Evil: 1",
       "command line: user_agent: expected a string without "
       "control characters, got \"a\\r\\nX-Evil: 1\""},
      {"proxy", "http://a\nb",
       "command line: proxy: expected a string without control "
       "characters, got \"http://a\\nb\""},
      {"headers", "",
       "command line: headers: expected \"Name: value\" (a header name, a colon, "
       "then a value without CR, LF or other control characters), got an empty "
       "value"},
      {"headers", "X-A b",
       "command line: headers: expected \"Name: value\" (a header name, a "
       "colon, then a value without CR, LF or other control characters), got "
       "\"X-A b\""},
      {"headers", "X-A: 1\r\nX-B: 2",
       "command line: headers: expected \"Name: value\" (a header "
       "name, a colon, then a value without CR, LF or other "
       "control characters), got \"X-A: 1\\r\\nX-B: 2\""},
      {"secret_headers", "Bad Name",
       "command line: secret_headers: expected a header name "
       "(letters, digits and !#$%&'*+-.^_`|~), got \"Bad Name\""},
  };
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  char *before = snapshot(cfg);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    CU_ASSERT_EQUAL(pf_config_set(cfg, cases[i].key, cases[i].value), PF_E_CONFIG);
    CU_ASSERT_STRING_EQUAL(pf_config_error(cfg), cases[i].message);
    if (strcmp(pf_config_error(cfg), cases[i].message) != 0)
      fprintf(stderr, "\n    got  %s\n    want %s\n", pf_config_error(cfg), cases[i].message);
  }
  char *after = snapshot(cfg);
  CU_ASSERT_STRING_EQUAL(before, after);
  free(before);
  free(after);
  CU_ASSERT_EQUAL(pf_config_set(cfg, "streams", "4"), PF_OK);
  CU_ASSERT_STRING_EQUAL(pf_config_error(cfg), "");
  pf_config_free(cfg);
}

static void test_invalid_arguments(void) {
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  CU_ASSERT_EQUAL(pf_config_load_string(NULL, "a: 1", 4, "x"), PF_E_INVALID);
  CU_ASSERT_EQUAL(pf_config_load_string(cfg, NULL, 4, "x"), PF_E_INVALID);
  CU_ASSERT_EQUAL(pf_config_load_string(cfg, NULL, 0, "x"), PF_OK);
  CU_ASSERT_EQUAL(pf_config_load_file(NULL, "x"), PF_E_INVALID);
  CU_ASSERT_EQUAL(pf_config_load_file(cfg, NULL), PF_E_INVALID);
  CU_ASSERT_EQUAL(pf_config_set(NULL, "streams", "4"), PF_E_INVALID);
  CU_ASSERT_EQUAL(pf_config_set(cfg, NULL, "4"), PF_E_INVALID);
  CU_ASSERT_EQUAL(pf_config_set(cfg, "streams", NULL), PF_E_INVALID);
  CU_ASSERT_STRING_EQUAL(pf_config_error(NULL), "");
  CU_ASSERT_PTR_NULL(pf_config_dup(NULL));
  pf_config_free(NULL);
  assert_defaults(cfg);
  pf_config_free(cfg);
}

/* ---- values that change nothing, and unsetting ------------------------- */

static void test_empty_inputs(void) {
  static const char *const texts[] = {
      "",
      "# only a comment\n",
      "---\n",
      "~\n",
      "---\n...\n",
      "tls:\nheaders:\nsecret_headers:\n",
      "headers: []\nsecret_headers: []\ntls: {}\n",
  };
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    pf_config *cfg = pf_config_new();
    CU_ASSERT_FATAL(cfg != NULL);
    pf_status st = load(cfg, texts[i]);
    if (st != PF_OK)
      fprintf(stderr, "\n    \"%s\": %s\n", texts[i], pf_config_error(cfg));
    CU_ASSERT_EQUAL(st, PF_OK);
    assert_defaults(cfg);
    pf_config_free(cfg);
  }
}

static void test_unset_strings(void) {
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  CU_ASSERT_EQUAL(load(cfg, "proxy: http://p:3128\nplugin: /x.so\ntls: {cacert: /a, capath: /b}\n"),
                  PF_OK);
  CU_ASSERT_STRING_EQUAL(cfg->proxy, "http://p:3128");
  /* YAML null (empty, ~, null) unsets; a quoted "null" is the text null. */
  CU_ASSERT_EQUAL(load(cfg, "proxy:\nuser_agent: ~\nplugin: null\ntls:\n  cacert: \"null\"\n"
                            "  capath: ''\n"),
                  PF_OK);
  CU_ASSERT_PTR_NULL(cfg->proxy);
  CU_ASSERT_PTR_NULL(cfg->user_agent);
  CU_ASSERT_PTR_NULL(cfg->plugin);
  CU_ASSERT_STRING_EQUAL(cfg->tls_cacert, "null");
  CU_ASSERT_PTR_NULL(cfg->tls_capath);
  CU_ASSERT_PTR_NULL(pf_config_get(cfg, "user_agent"));
  /* "" from the command line unsets too. */
  CU_ASSERT_EQUAL(pf_config_set(cfg, "user_agent", "ua/2"), PF_OK);
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "user_agent"), "ua/2");
  CU_ASSERT_EQUAL(pf_config_set(cfg, "user_agent", ""), PF_OK);
  CU_ASSERT_PTR_NULL(cfg->user_agent);
  CU_ASSERT_EQUAL(pf_config_set(cfg, "tls.cacert", ""), PF_OK);
  CU_ASSERT_PTR_NULL(cfg->tls_cacert);
  pf_config_free(cfg);
}

static void test_aliases(void) {
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  CU_ASSERT_EQUAL(load(cfg, "connect_timeout: &t 5s\nstall_timeout: *t\n"), PF_OK);
  CU_ASSERT_EQUAL(cfg->connect_timeout_ms, 5000);
  CU_ASSERT_EQUAL(cfg->stall_timeout_ms, 5000);
  pf_config_free(cfg);
}

/* ---- merging and lists ------------------------------------------------------ */

static void test_merge_order(void) {
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  CU_ASSERT_EQUAL(load(cfg, "streams: 4\nproxy: http://a:3128\nheaders:\n  - \"X-A: 1\"\n"
                            "secret_headers: [Authorization]\ntls:\n  cacert: /a.pem\n"),
                  PF_OK);
  CU_ASSERT_EQUAL(load(cfg, "streams: 6\nheaders:\n  - \"X-B: 2\"\nsecret_headers: [Cookie]\n"
                            "tls:\n  verify: false\n"),
                  PF_OK);
  CU_ASSERT_EQUAL(cfg->max_streams, 6);                /* later scalar wins */
  CU_ASSERT_STRING_EQUAL(cfg->proxy, "http://a:3128"); /* untouched key stays */
  CU_ASSERT_STRING_EQUAL(cfg->tls_cacert, "/a.pem");   /* sibling in a group stays */
  CU_ASSERT_EQUAL(cfg->tls_verify, 0);
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "headers"), "X-A: 1\nX-B: 2");
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "secret_headers"), "Authorization\nCookie");
  /* Command-line flags come last and win. */
  CU_ASSERT_EQUAL(pf_config_set(cfg, "streams", "2"), PF_OK);
  CU_ASSERT_EQUAL(pf_config_set(cfg, "headers", "X-C: 3"), PF_OK);
  CU_ASSERT_EQUAL(pf_config_set(cfg, "tls.verify", "true"), PF_OK);
  CU_ASSERT_EQUAL(cfg->max_streams, 2);
  CU_ASSERT_EQUAL(cfg->tls_verify, 1);
  CU_ASSERT_STRING_EQUAL(pf_config_get(cfg, "headers"), "X-A: 1\nX-B: 2\nX-C: 3");
  CU_ASSERT_EQUAL(cfg->nheaders, 3);
  pf_config_free(cfg);
}

static void test_header_forms(void) {
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  CU_ASSERT_EQUAL(load(cfg, "headers:\n"
                            "  - \"Accept: text/html\"\n"
                            "  - X-Count: 010\n" /* unquoted: YAML's one-pair mapping */
                            "  - X-Remove:\n"    /* empty value: libcurl drops the header */
                            "  - 'X-Odd: a: b'\n"
                            "  - \"X-Tab:\\tv\"\n"
                            "  - \"!#$%&'*+-.^_`|~09az: ok\"\n"),
                  PF_OK);
  CU_ASSERT_FATAL(cfg->nheaders == 6);
  CU_ASSERT_STRING_EQUAL(cfg->headers[0], "Accept: text/html");
  CU_ASSERT_STRING_EQUAL(cfg->headers[1], "X-Count: 010");
  CU_ASSERT_STRING_EQUAL(cfg->headers[2], "X-Remove:");
  CU_ASSERT_STRING_EQUAL(cfg->headers[3], "X-Odd: a: b");
  CU_ASSERT_STRING_EQUAL(cfg->headers[4], "X-Tab:\tv");
  CU_ASSERT_STRING_EQUAL(cfg->headers[5], "!#$%&'*+-.^_`|~09az: ok");
  /* Flow style too. */
  CU_ASSERT_EQUAL(load(cfg, "headers: [\"X-F: 1\"]\nsecret_headers: [X-Token, cookie]\n"), PF_OK);
  CU_ASSERT_EQUAL(cfg->nheaders, 7);
  CU_ASSERT_STRING_EQUAL(cfg->headers[6], "X-F: 1");
  CU_ASSERT_FATAL(cfg->nsecret_headers == 2);
  CU_ASSERT_STRING_EQUAL(cfg->secret_headers[1], "cookie");
  pf_config_free(cfg);
}

static void test_long_list(void) {
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  for (int i = 0; i < 1000; i++) {
    char header[32];
    snprintf(header, sizeof header, "X-N%d: %d", i, i);
    CU_ASSERT_EQUAL_FATAL(pf_config_set(cfg, "headers", header), PF_OK);
  }
  CU_ASSERT_EQUAL(cfg->nheaders, 1000);
  CU_ASSERT_STRING_EQUAL(cfg->headers[999], "X-N999: 999");
  const char *joined = pf_config_get(cfg, "headers");
  CU_ASSERT_PTR_NOT_NULL_FATAL(joined);
  CU_ASSERT(strncmp(joined, "X-N0: 0\nX-N1: 1\n", 16) == 0);
  CU_ASSERT(strlen(joined) > 1000 * 8);
  pf_config_free(cfg);
}

/* ---- dup/free --------------------------------------------------------------- */

static void test_dup_is_deep(void) {
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);
  CU_ASSERT_EQUAL(load(cfg, every_key_yaml), PF_OK);
  CU_ASSERT_PTR_NOT_NULL(pf_config_get(cfg, "headers")); /* getstr allocated */
  pf_config *copy = pf_config_dup(cfg);
  CU_ASSERT_FATAL(copy != NULL);
  char *a = snapshot(cfg), *b = snapshot(copy);
  CU_ASSERT_STRING_EQUAL(a, b);
  free(a);
  free(b);
  CU_ASSERT_PTR_NOT_EQUAL(copy->user_agent, cfg->user_agent);
  CU_ASSERT_PTR_NOT_EQUAL(copy->headers, cfg->headers);
  CU_ASSERT_PTR_NOT_EQUAL(copy->headers[0], cfg->headers[0]);
  CU_ASSERT_PTR_NOT_EQUAL(copy->secret_headers[0], cfg->secret_headers[0]);
  CU_ASSERT_PTR_NOT_EQUAL(copy->tls_cacert, cfg->tls_cacert);
  /* Changing or freeing the original leaves the copy intact. */
  CU_ASSERT_EQUAL(pf_config_set(cfg, "headers", "X-Only-Original: 1"), PF_OK);
  CU_ASSERT_EQUAL(pf_config_set(cfg, "proxy", ""), PF_OK);
  pf_config_free(cfg);
  assert_every_key_set(copy);
  CU_ASSERT_EQUAL(copy->nheaders, 2);
  pf_config_free(copy);

  /* A default config duplicates to defaults. */
  pf_config *fresh = pf_config_new();
  CU_ASSERT_FATAL(fresh != NULL);
  pf_config *fresh_copy = pf_config_dup(fresh);
  CU_ASSERT_FATAL(fresh_copy != NULL);
  assert_defaults(fresh_copy);
  pf_config_free(fresh);
  pf_config_free(fresh_copy);
}

/* ---- real files ------------------------------------------------------------- */

/* Writes text to a new temp file; its path goes to path (>= 32 bytes). */
static void write_temp(char *path, const char *text) {
  snprintf(path, 32, "/tmp/pf-config-XXXXXX");
  int fd = mkstemp(path);
  CU_ASSERT_FATAL(fd >= 0);
  size_t len = strlen(text);
  CU_ASSERT_FATAL(write(fd, text, len) == (ssize_t)len);
  close(fd);
}

static void test_load_file(void) {
  char path[32];
  pf_config *cfg = pf_config_new();
  CU_ASSERT_FATAL(cfg != NULL);

  write_temp(path, "# a drop-in\nstreams: 6\nheaders:\n  - \"X-File: 1\"\n");
  CU_ASSERT_EQUAL(pf_config_load_file(cfg, path), PF_OK);
  CU_ASSERT_EQUAL(cfg->max_streams, 6);
  CU_ASSERT_FATAL(cfg->nheaders == 1);
  CU_ASSERT_STRING_EQUAL(cfg->headers[0], "X-File: 1");
  unlink(path);

  write_temp(path, "streams: 7\nchunk_size: huge\n");
  CU_ASSERT_EQUAL(pf_config_load_file(cfg, path), PF_E_CONFIG);
  char want[128];
  snprintf(want, sizeof want, "%s:2:13: chunk_size: expected a size from 16KiB to 16MiB", path);
  ASSERT_STARTS_WITH(pf_config_error(cfg), want);
  ASSERT_CONTAINS(pf_config_error(cfg), "got \"huge\"");
  CU_ASSERT_EQUAL(cfg->max_streams, 6);
  unlink(path);

  CU_ASSERT_EQUAL(pf_config_load_file(cfg, "/nonexistent-parfetch-dir/config.yaml"), PF_E_CONFIG);
  CU_ASSERT_STRING_EQUAL(pf_config_error(cfg), "/nonexistent-parfetch-dir/config.yaml: cannot "
                                               "read: No such file or directory");
  CU_ASSERT_EQUAL(pf_config_load_file(cfg, "/tmp"), PF_E_CONFIG);
  CU_ASSERT_STRING_EQUAL(pf_config_error(cfg), "/tmp: cannot read: Is a directory");
  CU_ASSERT_EQUAL(cfg->max_streams, 6);

  /* An empty file is fine and changes nothing. */
  write_temp(path, "");
  CU_ASSERT_EQUAL(pf_config_load_file(cfg, path), PF_OK);
  CU_ASSERT_EQUAL(cfg->max_streams, 6);
  CU_ASSERT_STRING_EQUAL(pf_config_error(cfg), "");
  unlink(path);
  pf_config_free(cfg);
}

static void test_shipped_default_config(void) {
  pf_config *fresh = pf_config_new(), *cfg = pf_config_new();
  CU_ASSERT_FATAL(fresh != NULL && cfg != NULL);
  pf_status st = pf_config_load_file(cfg, "config/parfetch.yaml");
  if (st != PF_OK)
    fprintf(stderr, "\n    %s\n", pf_config_error(cfg));
  CU_ASSERT_EQUAL(st, PF_OK);
  /* It documents the defaults, so loading it changes nothing. */
  char *a = snapshot(fresh), *b = snapshot(cfg);
  CU_ASSERT_STRING_EQUAL(a, b);
  free(a);
  free(b);
  assert_defaults(cfg);

  /* The drop-in example loads on top of it. */
  st = pf_config_load_file(cfg, "config/conf.d/50-example.yaml.example");
  if (st != PF_OK)
    fprintf(stderr, "\n    %s\n", pf_config_error(cfg));
  CU_ASSERT_EQUAL(st, PF_OK);
  CU_ASSERT_PTR_NOT_NULL(cfg->proxy);
  CU_ASSERT(cfg->nheaders >= 1);
  pf_config_free(fresh);
  pf_config_free(cfg);
}

int pf_suite_config(void) {
  static const struct {
    const char *name;
    void (*fn)(void);
  } tests[] = {
      {"defaults", test_defaults},
      {"get: defaults as text", test_get_defaults_as_text},
      {"get: unknown key", test_get_unknown_key},
      {"every key from YAML", test_every_key_from_yaml},
      {"every key from pf_config_set", test_every_key_from_set},
      {"http_version forms", test_http_version_forms},
      {"booleans", test_booleans},
      {"on_change forms", test_on_change_forms},
      {"sizes: good", test_parse_size_good},
      {"sizes: bad and overflow", test_parse_size_bad},
      {"durations: good", test_parse_duration_good},
      {"durations: bad and overflow", test_parse_duration_bad},
      {"range edges of every numeric key", test_key_ranges},
      {"units in YAML", test_units_in_yaml},
      {"YAML errors: key and line:column", test_yaml_errors},
      {"error message text", test_error_exact_text},
      {"long unknown keys", test_long_unknown_keys},
      {"failed load changes nothing", test_error_leaves_config_unchanged},
      {"pf_config_set errors", test_set_errors},
      {"invalid arguments", test_invalid_arguments},
      {"empty inputs", test_empty_inputs},
      {"unsetting strings", test_unset_strings},
      {"YAML aliases", test_aliases},
      {"merge order of loads and flags", test_merge_order},
      {"header list forms", test_header_forms},
      {"long list", test_long_list},
      {"dup is deep, free is complete", test_dup_is_deep},
      {"files: temp, missing, directory, empty", test_load_file},
      {"shipped config/parfetch.yaml and drop-in example", test_shipped_default_config},
  };
  CU_pSuite suite = CU_add_suite("config", NULL, NULL);
  if (!suite)
    return CU_get_error();
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    if (!CU_add_test(suite, tests[i].name, tests[i].fn))
      return CU_get_error();
  }
  return CUE_SUCCESS;
}
