/*
 * config.h - the plugin's configuration: the pf_config struct every other
 * subsystem reads, YAML loading (libyaml), key=value setting for command-line
 * flags, and the unit parsers for sizes and durations.
 *
 * Threads: a pf_config is owned by one thread at a time. open() copies it
 * (pf_config_dup), so a session's copy is read-only and shared freely by its
 * workers.
 */
#ifndef PF_CONFIG_H
#define PF_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "parfetch.h"

/* rate_limit's cap: 1 TiB/s, so that a token count (bytes/s x seconds) never
 * overflows a uint64_t. */
#define PF_RATE_LIMIT_MAX ((uint64_t)1 << 40)

/* HTTP version preference. */
enum pf_http_version { PF_HTTP_AUTO = 0, PF_HTTP_1_1 = 1, PF_HTTP_2 = 2 };

/* What to do when the object changes mid-download (issue 3 uses it). */
enum pf_on_change { PF_ON_CHANGE_FAIL = 0, PF_ON_CHANGE_RESTART = 1 };

struct pf_config {
  /* engine */
  unsigned max_streams;    /* "streams": 1..128, default 8 */
  uint64_t min_part_size;  /* "min_part_size": >= 64 KiB, default 8 MiB */
  size_t chunk_size;       /* "chunk_size": 16 KiB..16 MiB, default 256 KiB */
  unsigned queue_depth;    /* "queue_depth": 0 = 2 x streams; else 1..4096 */
  uint64_t stream_window;  /* "stream_window": in-order reorder window, 1 MiB..1 GiB, default 32 MiB */
  /* network */
  long connect_timeout_ms; /* "connect_timeout": default 10 s */
  long stall_timeout_ms;   /* "stall_timeout": no byte for this long drops the connection; default 20 s */
  unsigned retries;        /* "retries": attempts per part, 1..1000, default 15 */
  long retry_wait_ms;      /* "retry_wait": first backoff, default 500 ms */
  long retry_max_wait_ms;  /* "retry_max_wait": backoff cap, default 30 s */
  unsigned max_redirects;  /* "max_redirects": 0..50, default 10 */
  int redirect_downgrade;  /* "redirect_downgrade": follow https -> http; default 1 */
  enum pf_http_version http_version; /* "http_version": auto | "1.1" | "2" */
  enum pf_on_change on_change;       /* "on_change": fail | restart */
  int multiplex;           /* "multiplex": HTTP/2 streams share a connection; default 0 */
  unsigned network_threads; /* "network_threads": a client's network threads; 0 (default): one per CPU, at most 4 */
  int preconnect;          /* "preconnect": open the other streams' connections during the probe; default 1 */
  unsigned max_connections_per_host; /* "max_connections_per_host": 1..1024, default 8 */
  unsigned max_connections;          /* "max_connections": in all, 1..4096, default 32 */
  long idle_timeout_ms;    /* "idle_timeout": an idle connection is closed after this; 0..24h, default 30 s */
  uint64_t rate_limit;     /* "rate_limit": body bytes per second across all streams (size units); 0 = unlimited, default 0 */
  char *user_agent;        /* "user_agent": default "parfetch/" PF_VERSION */
  char *proxy;             /* "proxy": NULL = libcurl's environment defaults */
  char **headers;          /* "headers": list of "Name: value" */
  size_t nheaders;
  char **secret_headers;   /* "secret_headers": extra header names never sent across hosts */
  size_t nsecret_headers;
  /* tls */
  int tls_verify;          /* "tls.verify": default 1 */
  char *tls_cacert;        /* "tls.cacert": extra CA bundle file */
  char *tls_capath;        /* "tls.capath": extra CA directory */
  int tls_cacert_only;     /* "tls.cacert_only": tls.cacert is the only CA trusted; default 0 */
  int tls_verify_host;     /* "tls.verify_host": the name must match the certificate; default 1 */
  char *tls_cert;          /* "tls.cert": client certificate (PEM) */
  char *tls_key;           /* "tls.key": its private key (PEM) */
  char *tls_crlfile;       /* "tls.crlfile": certificate revocation list (PEM) */
  /* host */
  char *plugin;            /* "plugin": path of the plugin .so (read by hosts) */

  char err[1024];          /* last error; "" if none */
  char getbuf[64];         /* scratch for pf_config_get's numeric answers */
  char *getstr;            /* pf_config_get's joined lists; owned, freed with the config */
};

pf_config *pf_config_new(void);
pf_config *pf_config_dup(const pf_config *cfg);
void pf_config_free(pf_config *cfg);

/* Merge a YAML file, or a YAML text (origin names it in messages; NULL means
 * "<string>"). Later loads override scalars; lists (headers, secret_headers)
 * append. A load is all-or-nothing: on any error cfg is left exactly as it
 * was and cfg->err reads "ORIGIN:LINE:COLUMN: KEY: expected ..., got ...".
 * PF_E_CONFIG for every problem of the file or text, PF_E_NOMEM, or
 * PF_E_INVALID for NULL arguments. A successful load clears cfg->err. */
pf_status pf_config_load_file(pf_config *cfg, const char *path);
pf_status pf_config_load_string(pf_config *cfg, const char *yaml, size_t len, const char *origin);

/* One key from a string (command-line flags). Nested keys are dotted
 * ("tls.verify"); list keys ("headers", "secret_headers") append one item;
 * "" unsets a string key. On error nothing changes and cfg->err reads
 * "command line: KEY: ...". pf_config_get returns the value as text (sizes in
 * bytes, durations as "20000ms", booleans "true"/"false", lists joined with
 * "\n"), valid until the next call on cfg; NULL for an unset string or an
 * unknown key (which also sets cfg->err). */
pf_status pf_config_set(pf_config *cfg, const char *key, const char *value);
const char *pf_config_get(pf_config *cfg, const char *key);
const char *pf_config_error(const pf_config *cfg);

/* Units. Return 0 on success, -1 on a malformed or overflowing value.
 * Sizes: a non-negative integer with an optional suffix, case-insensitive:
 * B; K, KiB (1024); KB (1000); M, MiB; MB; G, GiB; GB; T, TiB; TB.
 * Durations: an integer with ms, s, m or h (a bare number is seconds). */
int pf_parse_size(const char *text, uint64_t *out);
int pf_parse_duration_ms(const char *text, long *out);

#endif /* PF_CONFIG_H */
