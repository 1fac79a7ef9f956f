/*
 * report.h - `parfetch --json`: what one download did, as one compact JSON
 * object on a line (the schema: man/parfetch.1, JSON OUTPUT, and
 * docs/CLI.md). The CLI fills a struct pfh_report from what it already
 * gathers (pf_info, pf_stats, errmsg, its exit status) and writes it once,
 * when the download has ended, successfully or not.
 *
 * Threads: none; the caller's thread. No globals.
 */
#ifndef PFH_REPORT_H
#define PFH_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "parfetch.h"

/* One download. Strings are borrowed (NULL = null in the JSON) and may hold
 * any bytes: they pass through the messages' filter (plugin/text.c: control
 * bytes and invalid UTF-8 as \xNN, URL passwords redacted) before jansson
 * sees them, so the object is always valid UTF-8 and never lost. */
struct pfh_report {
  const char *url;           /* as given */
  const char *effective_url; /* after redirects; NULL before the probe answered */
  const char *output;        /* the path, or "-" for stdout */
  int have_stats;            /* 0: no session (open() failed early): the counters are null */
  uint64_t size;             /* PF_SIZE_UNKNOWN: null */
  uint64_t bytes_fetched, bytes_resumed;
  uint64_t elapsed_ns;
  uint32_t streams, retries, steals;
  uint32_t http_status;      /* 0: null */
  const char *digest;        /* "ALGO=HEX" verified (--checksum and status ok), else NULL */
  pf_status status;
  int cancelled;             /* a signal ended it: status "cancelled" whatever status says */
  int exit_code;
  const char *error;         /* the human error line's detail, or NULL */
};

/* The counters of a session's pf_stats at the end (have_stats set): size,
 * bytes_fetched, bytes_resumed, elapsed_ns, streams (streams_max), retries,
 * steals, http_status. A stats of struct_size 0 (none) sets nothing. */
void pfh_report_stats(struct pfh_report *r, const pf_stats *st);

/* The stable word for a status: "ok", "invalid", "nomem", "config", "url",
 * "network", "http", "bad_reply", "changed", "checksum", "io", "cancelled",
 * "state", "internal", "not_modified", "too_large"; "unknown" for a code
 * appended after this host was built. */
const char *pfh_status_word(pf_status st);

/* The object, compact, as a malloc'd NUL-terminated string without the
 * newline; NULL on out of memory. */
char *pfh_report_json(const struct pfh_report *r);

/* pfh_report_json, a newline, and fflush(f). 0, or -1 (out of memory, or
 * the write failed: errno set). */
int pfh_report_write(const struct pfh_report *r, FILE *f);

#endif /* PFH_REPORT_H */
