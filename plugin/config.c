/*
 * config.c - owns struct pf_config: the defaults, YAML loading with the libyaml
 * document API, pf_config_set/get for command-line flags, the size and
 * duration parsers, and every configuration error message.
 *
 * Every key is described once, in the `keys` table: its dotted name, its kind
 * (which parser and which message) and its range. Loading, setting, getting
 * and the "did you mean" suggestions all work from that table.
 *
 * Error semantics: a load is all-or-nothing. The YAML is applied to a private
 * copy of the config, which is swapped in only when every key of the text is
 * valid; on any error the caller's config is unchanged (stronger than the ABI's
 * "unchanged for the failing key"). pf_config_set changes nothing on error.
 * Messages read "ORIGIN:LINE:COLUMN: KEY: expected ..., got ..." (1-based
 * positions from libyaml marks), or "command line: KEY: ..." for pf_config_set.
 *
 * Threads: no global mutable state; a pf_config belongs to one thread at a
 * time. Nothing here prints.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#define KIB ((uint64_t)1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define TIB (GIB * 1024)

#define SECOND_MS ((uint64_t)1000)
#define MINUTE_MS (60 * SECOND_MS)
#define HOUR_MS (60 * MINUTE_MS)
#define DAY_MS (24 * HOUR_MS)

/* A config file is a few KiB; anything bigger is a mistake. */
#define MAX_FILE_BYTES (1024 * 1024)
/* How many bytes of an offending value or key a message quotes. */
#define MAX_QUOTE 48
/* Room for a quoted value: every byte may become "\xNN", plus quotes and "...". */
#define QUOTE_CAP (MAX_QUOTE * 4 + 8)

static const char COMMAND_LINE[] = "command line";
static const char STRING_ORIGIN[] = "<string>";

/* ---- the key table ------------------------------------------------------ */

enum key_id {
  K_PLUGIN,
  K_STREAMS,
  K_MIN_PART_SIZE,
  K_CHUNK_SIZE,
  K_QUEUE_DEPTH,
  K_STREAM_WINDOW,
  K_CONNECT_TIMEOUT,
  K_STALL_TIMEOUT,
  K_RETRIES,
  K_RETRY_WAIT,
  K_RETRY_MAX_WAIT,
  K_MAX_REDIRECTS,
  K_HTTP_VERSION,
  K_ON_CHANGE,
  K_PRECONNECT,
  K_MULTIPLEX,
  K_NETWORK_THREADS,
  K_MAX_CONNECTIONS_PER_HOST,
  K_MAX_CONNECTIONS,
  K_IDLE_TIMEOUT,
  K_RATE_LIMIT,
  K_USER_AGENT,
  K_PROXY,
  K_HEADERS,
  K_SECRET_HEADERS,
  K_TLS,
  K_TLS_VERIFY,
  K_TLS_CACERT,
  K_TLS_CAPATH,
  K_TLS_VERIFY_HOST,
  K_TLS_CERT,
  K_TLS_KEY,
  K_TLS_CRLFILE,
  K_TLS_CACERT_ONLY,
  K_REDIRECT_DOWNGRADE
};

enum key_kind {
  KIND_UINT,         /* decimal integer in [min, max] */
  KIND_SIZE,         /* pf_parse_size, in [min, max] bytes */
  KIND_DURATION,     /* pf_parse_duration_ms, in [min, max] ms */
  KIND_BOOL,         /* true/false, yes/no, on/off */
  KIND_HTTP_VERSION, /* auto | 1.1 | 2 */
  KIND_ON_CHANGE,    /* fail | restart */
  KIND_PATH,         /* any string; empty or null unsets */
  KIND_TEXT,         /* a string without control characters; empty or null unsets */
  KIND_HEADER_LIST,  /* list of "Name: value" */
  KIND_NAME_LIST,    /* list of header names */
  KIND_GROUP         /* a mapping of nested keys ("tls") */
};

struct key_spec {
  enum key_id id;
  const char *name; /* dotted */
  enum key_kind kind;
  uint64_t min, max;
};

static const struct key_spec keys[] = {
    {K_PLUGIN, "plugin", KIND_PATH, 0, 0},
    {K_STREAMS, "streams", KIND_UINT, 1, 128},
    {K_MIN_PART_SIZE, "min_part_size", KIND_SIZE, 64 * KIB, UINT64_MAX},
    {K_CHUNK_SIZE, "chunk_size", KIND_SIZE, 16 * KIB, 16 * MIB},
    {K_QUEUE_DEPTH, "queue_depth", KIND_UINT, 0, 4096},
    {K_STREAM_WINDOW, "stream_window", KIND_SIZE, 1 * MIB, 1024 * MIB},
    {K_CONNECT_TIMEOUT, "connect_timeout", KIND_DURATION, 1, DAY_MS},
    {K_STALL_TIMEOUT, "stall_timeout", KIND_DURATION, SECOND_MS, DAY_MS},
    {K_RETRIES, "retries", KIND_UINT, 1, 1000},
    {K_RETRY_WAIT, "retry_wait", KIND_DURATION, 0, HOUR_MS},
    {K_RETRY_MAX_WAIT, "retry_max_wait", KIND_DURATION, 0, DAY_MS},
    {K_MAX_REDIRECTS, "max_redirects", KIND_UINT, 0, 50},
    {K_HTTP_VERSION, "http_version", KIND_HTTP_VERSION, 0, 0},
    {K_ON_CHANGE, "on_change", KIND_ON_CHANGE, 0, 0},
    {K_PRECONNECT, "preconnect", KIND_BOOL, 0, 1},
    {K_MULTIPLEX, "multiplex", KIND_BOOL, 0, 1},
    {K_NETWORK_THREADS, "network_threads", KIND_UINT, 0, 64},
    {K_MAX_CONNECTIONS_PER_HOST, "max_connections_per_host", KIND_UINT, 1, 1024},
    {K_MAX_CONNECTIONS, "max_connections", KIND_UINT, 1, 4096},
    {K_IDLE_TIMEOUT, "idle_timeout", KIND_DURATION, 0, DAY_MS},
    {K_RATE_LIMIT, "rate_limit", KIND_SIZE, 0, PF_RATE_LIMIT_MAX},
    {K_USER_AGENT, "user_agent", KIND_TEXT, 0, 0},
    {K_PROXY, "proxy", KIND_TEXT, 0, 0},
    {K_HEADERS, "headers", KIND_HEADER_LIST, 0, 0},
    {K_SECRET_HEADERS, "secret_headers", KIND_NAME_LIST, 0, 0},
    {K_TLS, "tls", KIND_GROUP, 0, 0},
    {K_TLS_VERIFY, "tls.verify", KIND_BOOL, 0, 1},
    {K_TLS_CACERT, "tls.cacert", KIND_PATH, 0, 0},
    {K_TLS_CAPATH, "tls.capath", KIND_PATH, 0, 0},
    {K_TLS_VERIFY_HOST, "tls.verify_host", KIND_BOOL, 0, 1},
    {K_TLS_CERT, "tls.cert", KIND_PATH, 0, 0},
    {K_TLS_KEY, "tls.key", KIND_PATH, 0, 0},
    {K_TLS_CRLFILE, "tls.crlfile", KIND_PATH, 0, 0},
    {K_TLS_CACERT_ONLY, "tls.cacert_only", KIND_BOOL, 0, 1},
    {K_REDIRECT_DOWNGRADE, "redirect_downgrade", KIND_BOOL, 0, 1},
};

#define NKEYS (sizeof keys / sizeof keys[0])

static const struct key_spec *find_key(const char *name, size_t len) {
  for (size_t i = 0; i < NKEYS; i++) {
    if (strlen(keys[i].name) == len && memcmp(keys[i].name, name, len) == 0)
      return &keys[i];
  }
  return NULL;
}

/* ---- storage: where each key lives in struct pf_config ------------------ */

static void set_number(pf_config *cfg, enum key_id id, uint64_t v) {
  switch (id) {
  case K_STREAMS:
    cfg->max_streams = (unsigned)v;
    break;
  case K_MIN_PART_SIZE:
    cfg->min_part_size = v;
    break;
  case K_CHUNK_SIZE:
    cfg->chunk_size = (size_t)v;
    break;
  case K_QUEUE_DEPTH:
    cfg->queue_depth = (unsigned)v;
    break;
  case K_STREAM_WINDOW:
    cfg->stream_window = v;
    break;
  case K_CONNECT_TIMEOUT:
    cfg->connect_timeout_ms = (long)v;
    break;
  case K_STALL_TIMEOUT:
    cfg->stall_timeout_ms = (long)v;
    break;
  case K_RETRIES:
    cfg->retries = (unsigned)v;
    break;
  case K_RETRY_WAIT:
    cfg->retry_wait_ms = (long)v;
    break;
  case K_RETRY_MAX_WAIT:
    cfg->retry_max_wait_ms = (long)v;
    break;
  case K_MAX_REDIRECTS:
    cfg->max_redirects = (unsigned)v;
    break;
  case K_HTTP_VERSION:
    cfg->http_version = (enum pf_http_version)v;
    break;
  case K_ON_CHANGE:
    cfg->on_change = (enum pf_on_change)v;
    break;
  case K_TLS_VERIFY:
    cfg->tls_verify = v ? 1 : 0;
    break;
  case K_TLS_VERIFY_HOST:
    cfg->tls_verify_host = v ? 1 : 0;
    break;
  case K_TLS_CACERT_ONLY:
    cfg->tls_cacert_only = v ? 1 : 0;
    break;
  case K_REDIRECT_DOWNGRADE:
    cfg->redirect_downgrade = v ? 1 : 0;
    break;
  case K_PRECONNECT:
    cfg->preconnect = v ? 1 : 0;
    break;
  case K_MULTIPLEX:
    cfg->multiplex = v ? 1 : 0;
    break;
  case K_NETWORK_THREADS:
    cfg->network_threads = (unsigned)v;
    break;
  case K_MAX_CONNECTIONS_PER_HOST:
    cfg->max_connections_per_host = (unsigned)v;
    break;
  case K_MAX_CONNECTIONS:
    cfg->max_connections = (unsigned)v;
    break;
  case K_IDLE_TIMEOUT:
    cfg->idle_timeout_ms = (long)v;
    break;
  case K_RATE_LIMIT:
    cfg->rate_limit = v;
    break;
  default:
    break; /* not a number */
  }
}

static uint64_t get_number(const pf_config *cfg, enum key_id id) {
  switch (id) {
  case K_STREAMS:
    return cfg->max_streams;
  case K_MIN_PART_SIZE:
    return cfg->min_part_size;
  case K_CHUNK_SIZE:
    return cfg->chunk_size;
  case K_QUEUE_DEPTH:
    return cfg->queue_depth;
  case K_STREAM_WINDOW:
    return cfg->stream_window;
  case K_CONNECT_TIMEOUT:
    return (uint64_t)cfg->connect_timeout_ms;
  case K_STALL_TIMEOUT:
    return (uint64_t)cfg->stall_timeout_ms;
  case K_RETRIES:
    return cfg->retries;
  case K_RETRY_WAIT:
    return (uint64_t)cfg->retry_wait_ms;
  case K_RETRY_MAX_WAIT:
    return (uint64_t)cfg->retry_max_wait_ms;
  case K_MAX_REDIRECTS:
    return cfg->max_redirects;
  case K_HTTP_VERSION:
    return (uint64_t)cfg->http_version;
  case K_ON_CHANGE:
    return (uint64_t)cfg->on_change;
  case K_TLS_VERIFY:
    return cfg->tls_verify ? 1 : 0;
  case K_TLS_VERIFY_HOST:
    return cfg->tls_verify_host ? 1 : 0;
  case K_TLS_CACERT_ONLY:
    return cfg->tls_cacert_only ? 1 : 0;
  case K_REDIRECT_DOWNGRADE:
    return cfg->redirect_downgrade ? 1 : 0;
  case K_PRECONNECT:
    return cfg->preconnect ? 1 : 0;
  case K_MULTIPLEX:
    return cfg->multiplex ? 1 : 0;
  case K_NETWORK_THREADS:
    return cfg->network_threads;
  case K_MAX_CONNECTIONS_PER_HOST:
    return cfg->max_connections_per_host;
  case K_MAX_CONNECTIONS:
    return cfg->max_connections;
  case K_IDLE_TIMEOUT:
    return (uint64_t)cfg->idle_timeout_ms;
  case K_RATE_LIMIT:
    return cfg->rate_limit;
  default:
    return 0; /* not a number */
  }
}

static char **string_slot(pf_config *cfg, enum key_id id) {
  switch (id) {
  case K_PLUGIN:
    return &cfg->plugin;
  case K_USER_AGENT:
    return &cfg->user_agent;
  case K_PROXY:
    return &cfg->proxy;
  case K_TLS_CACERT:
    return &cfg->tls_cacert;
  case K_TLS_CAPATH:
    return &cfg->tls_capath;
  case K_TLS_CERT:
    return &cfg->tls_cert;
  case K_TLS_KEY:
    return &cfg->tls_key;
  case K_TLS_CRLFILE:
    return &cfg->tls_crlfile;
  default:
    return NULL;
  }
}

static char ***list_slot(pf_config *cfg, enum key_id id, size_t **count) {
  switch (id) {
  case K_HEADERS:
    *count = &cfg->nheaders;
    return &cfg->headers;
  case K_SECRET_HEADERS:
    *count = &cfg->nsecret_headers;
    return &cfg->secret_headers;
  default:
    return NULL;
  }
}

static char *copy_text(const char *text, size_t len) {
  char *s = malloc(len + 1);
  if (s) {
    memcpy(s, text, len);
    s[len] = '\0';
  }
  return s;
}

static int list_append(char ***items, size_t *count, const char *text, size_t len) {
  char *s = copy_text(text, len);
  if (!s)
    return -1;
  char **grown = realloc(*items, (*count + 1) * sizeof **items);
  if (!grown) {
    free(s);
    return -1;
  }
  grown[*count] = s;
  *items = grown;
  (*count)++;
  return 0;
}

static void list_free(char **items, size_t count) {
  for (size_t i = 0; i < count; i++)
    free(items[i]);
  free(items);
}

static int list_copy(char ***dst, size_t *dst_count, char *const *src, size_t src_count) {
  *dst = NULL;
  *dst_count = 0;
  for (size_t i = 0; i < src_count; i++) {
    if (list_append(dst, dst_count, src[i], strlen(src[i])) != 0)
      return -1;
  }
  return 0;
}

/* ---- life cycle ---------------------------------------------------------- */

pf_config *pf_config_new(void) {
  pf_config *cfg = calloc(1, sizeof *cfg);
  if (!cfg)
    return NULL;
  cfg->max_streams = 8;
  cfg->min_part_size = 8 * MIB;
  cfg->chunk_size = (size_t)(256 * KIB);
  cfg->queue_depth = 0;
  cfg->stream_window = 32 * MIB;
  cfg->connect_timeout_ms = 10 * (long)SECOND_MS;
  cfg->stall_timeout_ms = 20 * (long)SECOND_MS;
  cfg->retries = 15;
  cfg->retry_wait_ms = 500;
  cfg->retry_max_wait_ms = 30 * (long)SECOND_MS;
  cfg->max_redirects = 10;
  cfg->http_version = PF_HTTP_AUTO;
  cfg->on_change = PF_ON_CHANGE_FAIL;
  cfg->tls_verify = 1;
  cfg->tls_verify_host = 1;
  cfg->redirect_downgrade = 1;
  cfg->preconnect = 1;
  cfg->max_connections_per_host = 8;
  cfg->max_connections = 32;
  cfg->idle_timeout_ms = 30 * (long)SECOND_MS;
  cfg->user_agent = copy_text("parfetch/" PF_VERSION, strlen("parfetch/" PF_VERSION));
  if (!cfg->user_agent) {
    free(cfg);
    return NULL;
  }
  return cfg;
}

void pf_config_free(pf_config *cfg) {
  if (!cfg)
    return;
  free(cfg->plugin);
  free(cfg->user_agent);
  free(cfg->proxy);
  free(cfg->tls_cacert);
  free(cfg->tls_capath);
  free(cfg->tls_cert);
  free(cfg->tls_key);
  free(cfg->tls_crlfile);
  list_free(cfg->headers, cfg->nheaders);
  list_free(cfg->secret_headers, cfg->nsecret_headers);
  free(cfg->getstr);
  free(cfg);
}

static int dup_string(char **dst, const char *src) {
  *dst = NULL;
  if (!src)
    return 0;
  *dst = copy_text(src, strlen(src));
  return *dst ? 0 : -1;
}

pf_config *pf_config_dup(const pf_config *cfg) {
  if (!cfg)
    return NULL;
  pf_config *copy = malloc(sizeof *copy);
  if (!copy)
    return NULL;
  *copy = *cfg;
  /* Detach every owned pointer first, so a failure below frees only copies. */
  copy->plugin = copy->user_agent = copy->proxy = NULL;
  copy->tls_cacert = copy->tls_capath = copy->getstr = NULL;
  copy->tls_cert = copy->tls_key = copy->tls_crlfile = NULL;
  copy->headers = copy->secret_headers = NULL;
  copy->nheaders = copy->nsecret_headers = 0;
  if (dup_string(&copy->plugin, cfg->plugin) != 0 ||
      dup_string(&copy->user_agent, cfg->user_agent) != 0 ||
      dup_string(&copy->proxy, cfg->proxy) != 0 ||
      dup_string(&copy->tls_cacert, cfg->tls_cacert) != 0 ||
      dup_string(&copy->tls_capath, cfg->tls_capath) != 0 ||
      dup_string(&copy->tls_cert, cfg->tls_cert) != 0 ||
      dup_string(&copy->tls_key, cfg->tls_key) != 0 ||
      dup_string(&copy->tls_crlfile, cfg->tls_crlfile) != 0 ||
      list_copy(&copy->headers, &copy->nheaders, cfg->headers, cfg->nheaders) != 0 ||
      list_copy(&copy->secret_headers, &copy->nsecret_headers, cfg->secret_headers,
                cfg->nsecret_headers) != 0) {
    pf_config_free(copy);
    return NULL;
  }
  return copy;
}

const char *pf_config_error(const pf_config *cfg) {
  return cfg ? cfg->err : "";
}

/* ---- unit parsers --------------------------------------------------------- */

enum parse_result { PARSE_OK = 0, PARSE_BAD = -1, PARSE_OVERFLOW = -2 };

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

static char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int equals_nocase(const char *a, const char *b) {
  while (*a && *b && ascii_lower(*a) == ascii_lower(*b)) {
    a++;
    b++;
  }
  return *a == '\0' && *b == '\0';
}

/* Decimal digits at *text (at least one) into *out; *text moves past them.
 * PARSE_OVERFLOW if the number exceeds UINT64_MAX. */
static int parse_digits(const char **text, uint64_t *out) {
  const char *p = *text;
  uint64_t v = 0;
  int overflow = 0;
  if (!is_digit(*p))
    return PARSE_BAD;
  for (; is_digit(*p); p++) {
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10)
      overflow = 1;
    else
      v = v * 10 + d;
  }
  *text = p;
  if (overflow)
    return PARSE_OVERFLOW;
  *out = v;
  return PARSE_OK;
}

/* A whole string of digits, nothing else. */
static int parse_uint(const char *text, uint64_t *out) {
  uint64_t v;
  int r = parse_digits(&text, &v);
  if (r != PARSE_OK)
    return r;
  if (*text != '\0')
    return PARSE_BAD;
  *out = v;
  return PARSE_OK;
}

struct unit {
  const char *suffix;
  uint64_t factor;
};

/* NUMBER [spaces] UNIT, the unit one of `units` (case-insensitive); "" is the
 * unit of a bare number. Spaces are allowed only before a unit. */
static int parse_with_unit(const char *text, const struct unit *units, size_t nunits,
                           uint64_t *out) {
  uint64_t v = 0;
  int r = parse_digits(&text, &v);
  if (r == PARSE_BAD)
    return r;
  const char *suffix = text;
  while (*suffix == ' ')
    suffix++;
  if (suffix != text && *suffix == '\0')
    return PARSE_BAD; /* trailing spaces */
  for (size_t i = 0; i < nunits; i++) {
    if (!equals_nocase(suffix, units[i].suffix))
      continue;
    if (r == PARSE_OVERFLOW || (units[i].factor && v > UINT64_MAX / units[i].factor))
      return PARSE_OVERFLOW;
    *out = v * units[i].factor;
    return PARSE_OK;
  }
  return PARSE_BAD;
}

static const struct unit size_units[] = {
    {"", 1},
    {"b", 1},
    {"k", KIB},
    {"kib", KIB},
    {"kb", 1000},
    {"m", MIB},
    {"mib", MIB},
    {"mb", 1000000},
    {"g", GIB},
    {"gib", GIB},
    {"gb", 1000000000},
    {"t", TIB},
    {"tib", TIB},
    {"tb", 1000000000000},
};

static const struct unit duration_units[] = {
    {"", SECOND_MS}, {"ms", 1}, {"s", SECOND_MS}, {"m", MINUTE_MS}, {"h", HOUR_MS},
};

static int size_parse(const char *text, uint64_t *out) {
  return parse_with_unit(text, size_units, sizeof size_units / sizeof size_units[0], out);
}

static int duration_parse(const char *text, uint64_t *out) {
  uint64_t ms = 0;
  int r =
      parse_with_unit(text, duration_units, sizeof duration_units / sizeof duration_units[0], &ms);
  if (r != PARSE_OK)
    return r;
  if (ms > (uint64_t)LONG_MAX)
    return PARSE_OVERFLOW;
  *out = ms;
  return PARSE_OK;
}

int pf_parse_size(const char *text, uint64_t *out) {
  uint64_t v;
  if (!text || !out || size_parse(text, &v) != PARSE_OK)
    return -1;
  *out = v;
  return 0;
}

int pf_parse_duration_ms(const char *text, long *out) {
  uint64_t ms;
  if (!text || !out || duration_parse(text, &ms) != PARSE_OK)
    return -1;
  *out = (long)ms;
  return 0;
}

static int parse_bool(const char *text, uint64_t *out) {
  static const char *const yes[] = {"true", "yes", "on"};
  static const char *const no[] = {"false", "no", "off"};
  for (size_t i = 0; i < 3; i++) {
    if (equals_nocase(text, yes[i])) {
      *out = 1;
      return PARSE_OK;
    }
    if (equals_nocase(text, no[i])) {
      *out = 0;
      return PARSE_OK;
    }
  }
  return PARSE_BAD;
}

/* ---- validation of header texts ------------------------------------------ */

/* RFC 9110 token characters, the alphabet of a header name. */
static int is_tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
         (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Control characters other than tab: they would break or smuggle a request. */
static int has_control(const char *text, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return 1;
  }
  return 0;
}

static int valid_header_name(const char *text, size_t len) {
  if (len == 0)
    return 0;
  for (size_t i = 0; i < len; i++) {
    if (!is_tchar(text[i]))
      return 0;
  }
  return 1;
}

/* "Name: value": a token, a colon, then a value without CR, LF or other
 * control characters (an empty value is allowed; libcurl then drops the
 * header). */
static int valid_header_line(const char *text, size_t len) {
  const char *colon = memchr(text, ':', len);
  if (!colon || !valid_header_name(text, (size_t)(colon - text)))
    return 0;
  return !has_control(colon + 1, len - (size_t)(colon - text) - 1);
}

/* ---- messages -------------------------------------------------------------- */

struct where {
  const char *origin;
  unsigned long line, column; /* 1-based; 0 when there is no position */
};

static struct where where_mark(const char *origin, yaml_mark_t mark) {
  struct where at = {origin, (unsigned long)mark.line + 1, (unsigned long)mark.column + 1};
  return at;
}

static pf_status fail(pf_config *cfg, const struct where *at, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes "ORIGIN[:LINE:COLUMN]: [KEY: ]MESSAGE" to cfg->err. */
static pf_status fail(pf_config *cfg, const struct where *at, const char *key, const char *fmt,
                      ...) {
  size_t cap = sizeof cfg->err, used = 0;
  int n;
  if (at->line)
    n = snprintf(cfg->err, cap, "%s:%lu:%lu: ", at->origin, at->line, at->column);
  else
    n = snprintf(cfg->err, cap, "%s: ", at->origin);
  used = n < 0 ? 0 : (size_t)n;
  if (key && used < cap) {
    n = snprintf(cfg->err + used, cap - used, "%s: ", key);
    used += n < 0 ? 0 : (size_t)n;
  }
  if (used < cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cfg->err + used, cap - used, fmt, ap);
    va_end(ap);
  }
  return PF_E_CONFIG;
}

static pf_status out_of_memory(pf_config *cfg, const char *origin) {
  snprintf(cfg->err, sizeof cfg->err, "%s: out of memory", origin);
  return PF_E_NOMEM;
}

/* text as it may appear in a message: control characters, quotes and
 * backslashes escaped, cut after MAX_QUOTE bytes (at a UTF-8 boundary) with
 * "...", in double quotes if `quoted`. buf has QUOTE_CAP bytes. */
static const char *escape(char *buf, const char *text, size_t len, int quoted) {
  size_t shown = len > MAX_QUOTE ? MAX_QUOTE : len, o = 0;
  while (shown < len && shown > 0 && ((unsigned char)text[shown] & 0xC0) == 0x80)
    shown--;
  if (quoted)
    buf[o++] = '"';
  for (size_t i = 0; i < shown; i++) {
    unsigned char c = (unsigned char)text[i];
    const char *esc = NULL;
    switch (c) {
    case '"':
      esc = quoted ? "\\\"" : "\"";
      break;
    case '\\':
      esc = "\\\\";
      break;
    case '\n':
      esc = "\\n";
      break;
    case '\r':
      esc = "\\r";
      break;
    case '\t':
      esc = "\\t";
      break;
    default:
      break;
    }
    if (esc) {
      size_t elen = strlen(esc);
      memcpy(buf + o, esc, elen);
      o += elen;
    } else if (c < 0x20 || c == 0x7f) {
      snprintf(buf + o, QUOTE_CAP - o, "\\x%02x", c);
      o += 4;
    } else {
      buf[o++] = (char)c;
    }
  }
  if (shown < len) {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  if (quoted)
    buf[o++] = '"';
  buf[o] = '\0';
  return buf;
}

/* What was found, for "got ...": a quoted value, or "an empty value". */
static const char *describe_value(char *buf, const char *text, size_t len, int is_null) {
  if (is_null && len == 0) {
    snprintf(buf, QUOTE_CAP, "an empty value");
    return buf;
  }
  return escape(buf, text, len, 1);
}

static const char *describe_node(char *buf, const yaml_node_t *node) {
  switch (node->type) {
  case YAML_MAPPING_NODE:
    return "a mapping";
  case YAML_SEQUENCE_NODE:
    return "a list";
  case YAML_SCALAR_NODE:
    return escape(buf, (const char *)node->data.scalar.value, node->data.scalar.length, 1);
  case YAML_NO_NODE:
    break;
  }
  return "nothing";
}

/* "8MiB" rather than "8388608" when the number is a whole unit. */
static void format_size(char *buf, size_t cap, uint64_t v) {
  static const struct unit units[] = {{"TiB", TIB}, {"GiB", GIB}, {"MiB", MIB}, {"KiB", KIB}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (v >= units[i].factor && v % units[i].factor == 0) {
      snprintf(buf, cap, "%" PRIu64 "%s", v / units[i].factor, units[i].suffix);
      return;
    }
  }
  snprintf(buf, cap, "%" PRIu64 " bytes", v);
}

static void format_duration(char *buf, size_t cap, uint64_t ms) {
  static const struct unit units[] = {{"h", HOUR_MS}, {"m", MINUTE_MS}, {"s", SECOND_MS}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (ms >= units[i].factor && ms % units[i].factor == 0) {
      snprintf(buf, cap, "%" PRIu64 "%s", ms / units[i].factor, units[i].suffix);
      return;
    }
  }
  snprintf(buf, cap, "%" PRIu64 "ms", ms);
}

/* What a key wants, for "expected ...". */
static const char *expectation(char *buf, size_t cap, const struct key_spec *spec) {
  char lo[32], hi[32];
  switch (spec->kind) {
  case KIND_UINT:
    snprintf(buf, cap, "an integer from %" PRIu64 " to %" PRIu64, spec->min, spec->max);
    break;
  case KIND_SIZE:
    format_size(lo, sizeof lo, spec->min);
    format_size(hi, sizeof hi, spec->max);
    if (spec->max == UINT64_MAX)
      snprintf(buf, cap, "a size of at least %s (bytes, or with a unit: 512K, 8MiB, 1G)", lo);
    else
      snprintf(buf, cap, "a size from %s to %s (bytes, or with a unit: 512K, 8MiB, 1G)", lo, hi);
    break;
  case KIND_DURATION:
    format_duration(lo, sizeof lo, spec->min);
    format_duration(hi, sizeof hi, spec->max);
    if (spec->min == 0)
      snprintf(lo, sizeof lo, "0");
    snprintf(buf, cap, "a duration from %s to %s (500ms, 20s, 2m, 1h; a bare number is seconds)",
             lo, hi);
    break;
  case KIND_BOOL:
    snprintf(buf, cap, "a boolean (true/false, yes/no, on/off)");
    break;
  case KIND_HTTP_VERSION:
    snprintf(buf, cap, "auto, 1.1 or 2");
    break;
  case KIND_ON_CHANGE:
    snprintf(buf, cap, "fail or restart");
    break;
  case KIND_PATH:
    snprintf(buf, cap, "a string");
    break;
  case KIND_TEXT:
    snprintf(buf, cap, "a string without control characters");
    break;
  case KIND_HEADER_LIST:
    snprintf(buf, cap, "a list of \"Name: value\" strings");
    break;
  case KIND_NAME_LIST:
    snprintf(buf, cap, "a list of header names");
    break;
  case KIND_GROUP:
    snprintf(buf, cap, "a mapping of the keys verify, cacert and capath");
    break;
  }
  return buf;
}

/* Optimal string alignment distance, ASCII case-insensitive; short names only. */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb) {
  enum { MAXLEN = 40 };
  size_t d[MAXLEN + 1][MAXLEN + 1];
  if (la > MAXLEN || lb > MAXLEN)
    return SIZE_MAX;
  for (size_t i = 0; i <= la; i++)
    d[i][0] = i;
  for (size_t j = 0; j <= lb; j++)
    d[0][j] = j;
  for (size_t i = 1; i <= la; i++) {
    for (size_t j = 1; j <= lb; j++) {
      size_t cost = ascii_lower(a[i - 1]) == ascii_lower(b[j - 1]) ? 0 : 1;
      size_t best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best)
        best = d[i][j - 1] + 1;
      if (d[i - 1][j - 1] + cost < best)
        best = d[i - 1][j - 1] + cost;
      if (i > 1 && j > 1 && ascii_lower(a[i - 1]) == ascii_lower(b[j - 2]) &&
          ascii_lower(a[i - 2]) == ascii_lower(b[j - 1]) && d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  }
  return d[la][lb];
}

/* Which keys a suggestion may come from. */
enum key_level { LEVEL_TOP, LEVEL_TLS, LEVEL_ANY };

static int key_in_level(const struct key_spec *spec, enum key_level level) {
  int nested = strchr(spec->name, '.') != NULL;
  switch (level) {
  case LEVEL_TOP:
    return !nested;
  case LEVEL_TLS:
    return nested;
  case LEVEL_ANY:
    return 1;
  }
  return 0;
}

/* "unknown key", with the closest known key of the level if it is within an
 * edit distance of 2. name is the full dotted name the user wrote. */
static pf_status unknown_key(pf_config *cfg, const struct where *at, const char *shown,
                             const char *name, size_t len, enum key_level level) {
  const struct key_spec *best = NULL;
  size_t best_distance = 3;
  for (size_t i = 0; i < NKEYS; i++) {
    if (!key_in_level(&keys[i], level))
      continue;
    size_t dist = edit_distance(name, len, keys[i].name, strlen(keys[i].name));
    if (dist < best_distance) {
      best = &keys[i];
      best_distance = dist;
    }
  }
  if (best)
    return fail(cfg, at, shown, "unknown key; did you mean \"%s\"?", best->name);
  if (level == LEVEL_TOP && memchr(name, '.', len) && find_key(name, len))
    return fail(cfg, at, shown,
                "unknown key; in YAML a nested key is written as a mapping "
                "(\"%.*s:\" with \"%s:\" indented under it)",
                (int)(strchr(name, '.') - name), name, strchr(name, '.') + 1);
  return fail(cfg, at, shown, "unknown key");
}

/* ---- applying one value ----------------------------------------------------- */

/* Apply one scalar to a key: parse, range-check, store. For list keys it
 * appends one item. is_null: the value is YAML null (or "" from the command
 * line), which unsets string keys. Nothing changes on error. */
static pf_status apply_scalar(pf_config *cfg, const struct key_spec *spec, const char *name,
                              const char *text, size_t len, int is_null, const struct where *at) {
  char want[160], got[QUOTE_CAP];
  uint64_t v = 0;
  int r = PARSE_BAD;
  switch (spec->kind) {
  case KIND_UINT:
  case KIND_SIZE:
  case KIND_DURATION:
    r = spec->kind == KIND_UINT   ? parse_uint(text, &v)
        : spec->kind == KIND_SIZE ? size_parse(text, &v)
                                  : duration_parse(text, &v);
    if (r == PARSE_OK && (v < spec->min || v > spec->max))
      r = PARSE_BAD;
    if (r != PARSE_OK)
      return fail(cfg, at, name, "expected %s, got %s%s", expectation(want, sizeof want, spec),
                  describe_value(got, text, len, is_null),
                  r == PARSE_OVERFLOW ? " (too large)" : "");
    set_number(cfg, spec->id, v);
    return PF_OK;
  case KIND_BOOL:
  case KIND_HTTP_VERSION:
  case KIND_ON_CHANGE:
    if (spec->kind == KIND_BOOL) {
      r = parse_bool(text, &v);
    } else if (spec->kind == KIND_HTTP_VERSION) {
      r = PARSE_OK;
      if (equals_nocase(text, "auto"))
        v = PF_HTTP_AUTO;
      else if (strcmp(text, "1.1") == 0)
        v = PF_HTTP_1_1;
      else if (strcmp(text, "2") == 0 || strcmp(text, "2.0") == 0)
        v = PF_HTTP_2;
      else
        r = PARSE_BAD;
    } else {
      r = PARSE_OK;
      if (equals_nocase(text, "fail"))
        v = PF_ON_CHANGE_FAIL;
      else if (equals_nocase(text, "restart"))
        v = PF_ON_CHANGE_RESTART;
      else
        r = PARSE_BAD;
    }
    if (r != PARSE_OK)
      return fail(cfg, at, name, "expected %s, got %s", expectation(want, sizeof want, spec),
                  describe_value(got, text, len, is_null));
    set_number(cfg, spec->id, v);
    return PF_OK;
  case KIND_PATH:
  case KIND_TEXT: {
    char **slot = string_slot(cfg, spec->id);
    char *copy = NULL;
    if (spec->kind == KIND_TEXT && has_control(text, len))
      return fail(cfg, at, name, "expected %s, got %s", expectation(want, sizeof want, spec),
                  describe_value(got, text, len, is_null));
    if (!is_null && len > 0 && !(copy = copy_text(text, len)))
      return out_of_memory(cfg, at->origin);
    free(*slot);
    *slot = copy;
    return PF_OK;
  }
  case KIND_HEADER_LIST:
  case KIND_NAME_LIST: {
    size_t *count = NULL;
    char ***items = list_slot(cfg, spec->id, &count);
    if (spec->kind == KIND_HEADER_LIST && !valid_header_line(text, len))
      return fail(cfg, at, name,
                  "expected \"Name: value\" (a header name, a colon, then a value without CR, "
                  "LF or other control characters), got %s",
                  describe_value(got, text, len, is_null));
    if (spec->kind == KIND_NAME_LIST && !valid_header_name(text, len))
      return fail(cfg, at, name,
                  "expected a header name (letters, digits and !#$%%&'*+-.^_`|~), got %s",
                  describe_value(got, text, len, is_null));
    if (list_append(items, count, text, len) != 0)
      return out_of_memory(cfg, at->origin);
    return PF_OK;
  }
  case KIND_GROUP:
    return fail(cfg, at, name, "is a group of keys; set %s.verify, %s.cacert or %s.capath", name,
                name, name);
  }
  return PF_E_INTERNAL;
}

/* ---- YAML ----------------------------------------------------------------------- */

struct yaml_ctx {
  pf_config *cfg;
  yaml_document_t *doc;
  const char *origin;
};

static int scalar_is_null(const yaml_node_t *node) {
  if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return 0;
  const char *s = (const char *)node->data.scalar.value;
  return strcmp(s, "") == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
         strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* A scalar node as text; an error if it holds a NUL byte (from a "\0" escape),
 * which no C string can carry. */
static pf_status node_text(struct yaml_ctx *y, const yaml_node_t *node, const char *name,
                           const char **text, size_t *len) {
  *text = (const char *)node->data.scalar.value;
  *len = node->data.scalar.length;
  if (strlen(*text) != *len) {
    struct where at = where_mark(y->origin, node->start_mark);
    return fail(y->cfg, &at, name, "expected text, got a value with a NUL character");
  }
  return PF_OK;
}

static pf_status apply_scalar_node(struct yaml_ctx *y, const struct key_spec *spec,
                                   const char *name, const yaml_node_t *node) {
  const char *text;
  size_t len;
  pf_status st = node_text(y, node, name, &text, &len);
  if (st != PF_OK)
    return st;
  struct where at = where_mark(y->origin, node->start_mark);
  return apply_scalar(y->cfg, spec, name, text, len, scalar_is_null(node), &at);
}

/* One item of "headers". Besides a "Name: value" string it takes the form
 * YAML makes of an unquoted "- Name: value", a one-pair mapping. */
static pf_status apply_header_item(struct yaml_ctx *y, const struct key_spec *spec,
                                   const char *name, const yaml_node_t *item) {
  if (item->type == YAML_SCALAR_NODE)
    return apply_scalar_node(y, spec, name, item);
  struct where at = where_mark(y->origin, item->start_mark);
  const yaml_node_pair_t *pair = item->data.mapping.pairs.start;
  const yaml_node_t *k = NULL, *v = NULL;
  if (item->type == YAML_MAPPING_NODE && item->data.mapping.pairs.top - pair == 1) {
    k = yaml_document_get_node(y->doc, pair->key);
    v = yaml_document_get_node(y->doc, pair->value);
  }
  if (!k || !v || k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE)
    return fail(y->cfg, &at, name, "expected a \"Name: value\" string, got %s",
                item->type == YAML_SEQUENCE_NODE ? "a list" : "a mapping");
  const char *ktext, *vtext;
  size_t klen, vlen;
  pf_status st = node_text(y, k, name, &ktext, &klen);
  if (st == PF_OK)
    st = node_text(y, v, name, &vtext, &vlen);
  if (st != PF_OK)
    return st;
  if (scalar_is_null(v))
    vlen = 0;
  char *line = malloc(klen + vlen + 3);
  if (!line)
    return out_of_memory(y->cfg, y->origin);
  int n = snprintf(line, klen + vlen + 3, "%s:%s%.*s", ktext, vlen ? " " : "", (int)vlen, vtext);
  st = apply_scalar(y->cfg, spec, name, line, n < 0 ? 0 : (size_t)n, 0, &at);
  free(line);
  return st;
}

static pf_status apply_mapping(struct yaml_ctx *y, const yaml_node_t *map, const char *group);

/* The value of one known key, of any node type. */
static pf_status apply_node(struct yaml_ctx *y, const struct key_spec *spec, const char *name,
                            const yaml_node_t *node) {
  struct where at = where_mark(y->origin, node->start_mark);
  char want[160], got[QUOTE_CAP];
  switch (spec->kind) {
  case KIND_GROUP:
    if (node->type == YAML_MAPPING_NODE)
      return apply_mapping(y, node, spec->name);
    if (scalar_is_null(node))
      return PF_OK; /* "tls:" with nothing under it */
    break;
  case KIND_HEADER_LIST:
  case KIND_NAME_LIST:
    if (node->type == YAML_SEQUENCE_NODE) {
      for (const yaml_node_item_t *it = node->data.sequence.items.start;
           it < node->data.sequence.items.top; it++) {
        const yaml_node_t *item = yaml_document_get_node(y->doc, *it);
        pf_status st = PF_E_INTERNAL;
        if (!item)
          return fail(y->cfg, &at, name, "internal error: dangling YAML node");
        if (spec->kind == KIND_HEADER_LIST)
          st = apply_header_item(y, spec, name, item);
        else if (item->type == YAML_SCALAR_NODE)
          st = apply_scalar_node(y, spec, name, item);
        else {
          struct where item_at = where_mark(y->origin, item->start_mark);
          st = fail(y->cfg, &item_at, name, "expected a header name, got %s",
                    describe_node(got, item));
        }
        if (st != PF_OK)
          return st;
      }
      return PF_OK;
    }
    if (scalar_is_null(node))
      return PF_OK; /* "headers:" with nothing under it adds nothing */
    break;
  default:
    if (node->type == YAML_SCALAR_NODE)
      return apply_scalar_node(y, spec, name, node);
    break;
  }
  return fail(y->cfg, &at, name, "expected %s, got %s", expectation(want, sizeof want, spec),
              describe_node(got, node));
}

/* The pairs of the top-level mapping (group NULL) or of a group ("tls"). */
static pf_status apply_mapping(struct yaml_ctx *y, const yaml_node_t *map, const char *group) {
  const yaml_node_pair_t *first = map->data.mapping.pairs.start;
  for (const yaml_node_pair_t *pair = first; pair < map->data.mapping.pairs.top; pair++) {
    const yaml_node_t *k = yaml_document_get_node(y->doc, pair->key);
    const yaml_node_t *v = yaml_document_get_node(y->doc, pair->value);
    char got[QUOTE_CAP], shown_key[QUOTE_CAP], name[QUOTE_CAP + 64], dotted[128];
    if (!k || !v)
      return PF_E_INTERNAL;
    struct where at = where_mark(y->origin, k->start_mark);
    if (k->type != YAML_SCALAR_NODE)
      return fail(y->cfg, &at, group, "expected a key name, got %s", describe_node(got, k));
    const char *ktext = (const char *)k->data.scalar.value;
    size_t klen = k->data.scalar.length;
    escape(shown_key, ktext, klen, 0);
    if (group)
      snprintf(name, sizeof name, "%s.%s", group, shown_key);
    else
      snprintf(name, sizeof name, "%s", shown_key);

    /* Look the key up by its full dotted name; a dot inside a key is not
     * nesting, so such keys never match. */
    const struct key_spec *spec = NULL;
    int n = group ? snprintf(dotted, sizeof dotted, "%s.%.*s", group, (int)klen, ktext)
                  : snprintf(dotted, sizeof dotted, "%.*s", (int)klen, ktext);
    /* A name too long for dotted is cut there; no key is that long. */
    int fits = n >= 0 && (size_t)n < sizeof dotted;
    if (n < 0)
      dotted[0] = '\0';
    size_t dlen = fits ? (size_t)n : strlen(dotted);
    if (fits && strlen(ktext) == klen && !memchr(ktext, '.', klen))
      spec = find_key(dotted, dlen);
    if (!spec)
      return unknown_key(y->cfg, &at, name, dotted, dlen, group ? LEVEL_TLS : LEVEL_TOP);

    for (const yaml_node_pair_t *prev = first; prev < pair; prev++) {
      const yaml_node_t *pk = yaml_document_get_node(y->doc, prev->key);
      if (pk && pk->type == YAML_SCALAR_NODE && pk->data.scalar.length == klen &&
          memcmp(pk->data.scalar.value, ktext, klen) == 0)
        return fail(y->cfg, &at, name, "duplicate key (first set at %lu:%lu)",
                    (unsigned long)pk->start_mark.line + 1,
                    (unsigned long)pk->start_mark.column + 1);
    }
    pf_status st = apply_node(y, spec, name, v);
    if (st != PF_OK)
      return st;
  }
  return PF_OK;
}

/* Line and column (1-based, in characters) of a byte offset of text. */
static struct where where_offset(const char *origin, const char *text, size_t len, size_t offset) {
  struct where at = {origin, 1, 1};
  for (size_t i = 0; i < offset && i < len; i++) {
    if (text[i] == '\n') {
      at.line++;
      at.column = 1;
    } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
      at.column++;
    }
  }
  return at;
}

static pf_status syntax_error(pf_config *cfg, const yaml_parser_t *parser, const char *origin,
                              const char *text, size_t len) {
  const char *problem = parser->problem ? parser->problem : "unknown error";
  if (parser->error == YAML_MEMORY_ERROR)
    return out_of_memory(cfg, origin);
  if (parser->error == YAML_READER_ERROR) {
    struct where at = where_offset(origin, text, len, parser->problem_offset);
    if (parser->problem_value != -1)
      return fail(cfg, &at, NULL, "invalid YAML: %s (#%X)", problem,
                  (unsigned)parser->problem_value);
    return fail(cfg, &at, NULL, "invalid YAML: %s", problem);
  }
  struct where at = where_mark(origin, parser->problem_mark);
  if (parser->context)
    return fail(cfg, &at, NULL, "invalid YAML: %s (%s at %lu:%lu)", problem, parser->context,
                (unsigned long)parser->context_mark.line + 1,
                (unsigned long)parser->context_mark.column + 1);
  return fail(cfg, &at, NULL, "invalid YAML: %s", problem);
}

/* Parse text and apply it to cfg, stopping at the first error. */
static pf_status apply_yaml(pf_config *cfg, const char *text, size_t len, const char *origin) {
  yaml_parser_t parser;
  yaml_document_t doc;
  if (!yaml_parser_initialize(&parser))
    return out_of_memory(cfg, origin);
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &doc)) {
    pf_status st = syntax_error(cfg, &parser, origin, text, len);
    yaml_parser_delete(&parser);
    return st;
  }
  struct yaml_ctx y = {cfg, &doc, origin};
  pf_status st = PF_OK;
  const yaml_node_t *root = yaml_document_get_root_node(&doc);
  if (root && root->type == YAML_MAPPING_NODE) {
    st = apply_mapping(&y, root, NULL);
  } else if (root && !scalar_is_null(root)) {
    char got[QUOTE_CAP];
    struct where at = where_mark(origin, root->start_mark);
    st =
        fail(cfg, &at, NULL, "expected a mapping of keys at the top level (\"streams: 8\"), got %s",
             describe_node(got, root));
  }
  yaml_document_delete(&doc);
  if (st == PF_OK && root) {
    if (!yaml_parser_load(&parser, &doc)) {
      st = syntax_error(cfg, &parser, origin, text, len);
    } else {
      const yaml_node_t *extra = yaml_document_get_root_node(&doc);
      if (extra) {
        struct where at = where_mark(origin, extra->start_mark);
        st = fail(cfg, &at, NULL, "expected one YAML document, found a second one");
      }
      yaml_document_delete(&doc);
    }
  }
  yaml_parser_delete(&parser);
  return st;
}

/* All-or-nothing: apply to a copy, then swap the copy's contents in. */
static pf_status load_text(pf_config *cfg, const char *text, size_t len, const char *origin) {
  pf_config *work = pf_config_dup(cfg);
  if (!work)
    return out_of_memory(cfg, origin);
  pf_status st = apply_yaml(work, text, len, origin);
  if (st == PF_OK) {
    pf_config old = *cfg;
    *cfg = *work;
    *work = old; /* the old contents are freed with work */
    cfg->err[0] = '\0';
  } else {
    memcpy(cfg->err, work->err, sizeof cfg->err);
  }
  pf_config_free(work);
  return st;
}

pf_status pf_config_load_string(pf_config *cfg, const char *yaml, size_t len, const char *origin) {
  if (!cfg)
    return PF_E_INVALID;
  if (!origin)
    origin = STRING_ORIGIN;
  if (!yaml && len > 0) {
    snprintf(cfg->err, sizeof cfg->err, "%s: no text given", origin);
    return PF_E_INVALID;
  }
  return load_text(cfg, yaml ? yaml : "", len, origin);
}

/* The whole file into a malloc'ed buffer; an errno value on failure. */
static int read_file(const char *path, char **out, size_t *out_len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  size_t len = 0, cap = 4096;
  char *buf = malloc(cap);
  int err = buf ? 0 : ENOMEM;
  while (!err) {
    if (len == cap) {
      char *grown = cap >= MAX_FILE_BYTES ? NULL : realloc(buf, cap * 2);
      if (!grown) {
        err = cap >= MAX_FILE_BYTES ? EFBIG : ENOMEM;
        break;
      }
      buf = grown;
      cap *= 2;
    }
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      err = errno;
    else if (n == 0)
      break;
    else
      len += (size_t)n;
  }
  close(fd);
  if (err) {
    free(buf);
    return err;
  }
  *out = buf;
  *out_len = len;
  return 0;
}

pf_status pf_config_load_file(pf_config *cfg, const char *path) {
  if (!cfg)
    return PF_E_INVALID;
  if (!path) {
    snprintf(cfg->err, sizeof cfg->err, "pf_config_load_file: no path given");
    return PF_E_INVALID;
  }
  char *text = NULL;
  size_t len = 0;
  int err = read_file(path, &text, &len);
  if (err == ENOMEM)
    return out_of_memory(cfg, path);
  if (err == EFBIG) {
    snprintf(cfg->err, sizeof cfg->err, "%s: cannot read: larger than %d bytes, not a config file",
             path, MAX_FILE_BYTES);
    return PF_E_CONFIG;
  }
  if (err) {
    char msg[256];
    snprintf(cfg->err, sizeof cfg->err, "%s: cannot read: %s", path,
             strerror_r(err, msg, sizeof msg));
    return PF_E_CONFIG;
  }
  pf_status st = load_text(cfg, text, len, path);
  free(text);
  return st;
}

/* ---- command line and queries ------------------------------------------------ */

pf_status pf_config_set(pf_config *cfg, const char *key, const char *value) {
  if (!cfg)
    return PF_E_INVALID;
  if (!key || !value) {
    snprintf(cfg->err, sizeof cfg->err, "%s: pf_config_set needs a key and a value", COMMAND_LINE);
    return PF_E_INVALID;
  }
  struct where at = {COMMAND_LINE, 0, 0};
  char shown[QUOTE_CAP];
  size_t klen = strlen(key);
  escape(shown, key, klen, 0);
  const struct key_spec *spec = find_key(key, klen);
  if (!spec)
    return unknown_key(cfg, &at, shown, key, klen, LEVEL_ANY);
  size_t vlen = strlen(value);
  pf_status st = apply_scalar(cfg, spec, spec->name, value, vlen, vlen == 0, &at);
  if (st == PF_OK)
    cfg->err[0] = '\0';
  return st;
}

static const char *join_list(pf_config *cfg, char *const *items, size_t count) {
  size_t total = 1;
  for (size_t i = 0; i < count; i++)
    total += strlen(items[i]) + 1;
  char *joined = malloc(total), *p = joined;
  if (!joined)
    return NULL;
  *p = '\0';
  for (size_t i = 0; i < count; i++) {
    size_t n = strlen(items[i]);
    if (i > 0)
      *p++ = '\n';
    memcpy(p, items[i], n);
    p += n;
    *p = '\0';
  }
  free(cfg->getstr);
  cfg->getstr = joined;
  return joined;
}

const char *pf_config_get(pf_config *cfg, const char *key) {
  if (!cfg || !key)
    return NULL;
  struct where at = {"pf_config_get", 0, 0};
  char shown[QUOTE_CAP];
  size_t klen = strlen(key);
  const struct key_spec *spec = find_key(key, klen);
  if (!spec) {
    unknown_key(cfg, &at, escape(shown, key, klen, 0), key, klen, LEVEL_ANY);
    return NULL;
  }
  uint64_t v = get_number(cfg, spec->id);
  switch (spec->kind) {
  case KIND_UINT:
  case KIND_SIZE:
    snprintf(cfg->getbuf, sizeof cfg->getbuf, "%" PRIu64, v);
    return cfg->getbuf;
  case KIND_DURATION:
    snprintf(cfg->getbuf, sizeof cfg->getbuf, "%" PRIu64 "ms", v);
    return cfg->getbuf;
  case KIND_BOOL:
    return v ? "true" : "false";
  case KIND_HTTP_VERSION:
    return v == PF_HTTP_1_1 ? "1.1" : v == PF_HTTP_2 ? "2" : "auto";
  case KIND_ON_CHANGE:
    return v == PF_ON_CHANGE_RESTART ? "restart" : "fail";
  case KIND_PATH:
  case KIND_TEXT:
    return *string_slot(cfg, spec->id);
  case KIND_HEADER_LIST:
  case KIND_NAME_LIST: {
    size_t *count = NULL;
    char ***items = list_slot(cfg, spec->id, &count);
    return join_list(cfg, *items, *count);
  }
  case KIND_GROUP:
    fail(cfg, &at, spec->name, "is a group of keys; ask for %s.verify, %s.cacert or %s.capath",
         spec->name, spec->name, spec->name);
    return NULL;
  }
  return NULL;
}
