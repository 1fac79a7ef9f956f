/*
 * report.c - the --json object of one download (see report.h). jansson
 * builds and escapes it; every string first goes through pf_text_clean, the
 * filter of the human messages, so that jansson (which wants valid UTF-8)
 * never refuses one and no URL password reaches the output.
 *
 * Owns: nothing past a call. Threads: the caller's.
 */
#include "report.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "text.h" /* plugin/text.c */

const char *pfh_status_word(pf_status st) {
  switch (st) {
  case PF_OK:
    return "ok";
  case PF_E_INVALID:
    return "invalid";
  case PF_E_NOMEM:
    return "nomem";
  case PF_E_CONFIG:
    return "config";
  case PF_E_URL:
    return "url";
  case PF_E_NETWORK:
    return "network";
  case PF_E_HTTP:
    return "http";
  case PF_E_BAD_REPLY:
    return "bad_reply";
  case PF_E_CHANGED:
    return "changed";
  case PF_E_CHECKSUM:
    return "checksum";
  case PF_E_IO:
    return "io";
  case PF_E_CANCELLED:
    return "cancelled";
  case PF_E_STATE:
    return "state";
  case PF_E_INTERNAL:
    return "internal";
  case PF_E_NOT_MODIFIED:
    return "not_modified";
  case PF_E_TOO_LARGE:
    return "too_large";
  }
  return "unknown";
}

void pfh_report_stats(struct pfh_report *r, const pf_stats *st) {
  if (!st->struct_size)
    return;
  r->have_stats = 1;
  r->size = st->size;
  r->bytes_fetched = st->bytes_fetched;
  r->bytes_resumed = st->bytes_resumed;
  r->elapsed_ns = st->elapsed_ns;
  r->streams = st->streams_max;
  r->retries = st->retries;
  r->steals = st->steals;
  r->http_status = st->struct_size >= PF_SIZE_THROUGH(pf_stats, http_status) ? st->http_status : 0;
}

/* s cleaned into a JSON string, or null for NULL; NULL on out of memory. */
static json_t *text(const char *s) {
  if (!s)
    return json_null();
  size_t len = strlen(s), cap = PF_TEXT_CLEAN_MAX(len);
  char *clean = malloc(cap);
  if (!clean)
    return NULL;
  size_t n = pf_text_clean(clean, cap, s, len);
  json_t *v = json_stringn(clean, n);
  free(clean);
  return v;
}

/* "ALGO=HEX" as "algo:hex" (lower case). */
static json_t *digest(const char *spec) {
  const char *eq = spec ? strchr(spec, '=') : NULL;
  if (!eq)
    return json_null();
  char *d = strdup(spec);
  if (!d)
    return NULL;
  for (char *p = d; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  d[eq - spec] = ':';
  json_t *v = text(d);
  free(d);
  return v;
}

static json_t *count(int have, uint64_t v) {
  return have ? json_integer((json_int_t)v) : json_null();
}

static json_t *build(const struct pfh_report *r) {
  int st = r->have_stats;
  const char *word = r->cancelled ? "cancelled" : pfh_status_word(r->status);
  json_t *o = json_object();
  if (!o)
    return NULL;
  /* json_object_set_new takes each value (NULL included: then it fails) */
  int bad = 0;
  bad |= json_object_set_new(o, "url", text(r->url ? r->url : ""));
  bad |= json_object_set_new(o, "effective_url", text(r->effective_url));
  bad |= json_object_set_new(o, "output", text(r->output ? r->output : "-"));
  bad |= json_object_set_new(o, "size", count(st && r->size != PF_SIZE_UNKNOWN, r->size));
  bad |= json_object_set_new(o, "bytes_fetched", count(st, r->bytes_fetched));
  bad |= json_object_set_new(o, "bytes_resumed", count(st, r->bytes_resumed));
  bad |= json_object_set_new(o, "elapsed", st ? json_real((double)r->elapsed_ns / 1e9) : json_null());
  bad |= json_object_set_new(o, "streams", count(st, r->streams));
  bad |= json_object_set_new(o, "retries", count(st, r->retries));
  bad |= json_object_set_new(o, "steals", count(st, r->steals));
  bad |= json_object_set_new(o, "http_status", count(st && r->http_status, r->http_status));
  bad |= json_object_set_new(o, "digest",
                             r->status == PF_OK && !r->cancelled ? digest(r->digest) : json_null());
  bad |= json_object_set_new(o, "status", json_string(word));
  bad |= json_object_set_new(o, "exit_code", json_integer(r->exit_code));
  bad |= json_object_set_new(o, "error", r->error && *r->error ? text(r->error) : json_null());
  if (bad) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* Keys in the schema's order; compact (no spaces). */
#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6))

char *pfh_report_json(const struct pfh_report *r) {
  json_t *o = build(r);
  char *s = o ? json_dumps(o, DUMP_FLAGS) : NULL;
  json_decref(o);
  return s;
}

int pfh_report_write(const struct pfh_report *r, FILE *f) {
  json_t *o = build(r);
  if (!o) {
    errno = ENOMEM;
    return -1;
  }
  int rc = json_dumpf(o, f, DUMP_FLAGS);
  json_decref(o);
  if (rc != 0 || fputc('\n', f) == EOF || fflush(f) != 0)
    return -1;
  return 0;
}
