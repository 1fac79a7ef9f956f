/*
 * tests/abi10/parfetch.h - the ABI 1.0 header, kept for tests: a host built
 * from it (build/abi10_host, t_client.sh) must run unchanged against every
 * 1.x plugin. Taken from git (4bb0aa8:plugin/include/parfetch.h) with what
 * docs/ABI.md counts as 1.1 removed (pf_entry.commit and
 * pf_open_args.cancel_flag), so its structs have the 1.0 sizes.
 * Never edit it to follow the plugin.
 *
 * parfetch.h - the parfetch plugin ABI. This is the only public header.
 *
 * A parfetch plugin is a shared object that exports exactly one symbol,
 * PF_ENTRY_SYMBOL ("parfetch_entry"): a const struct pf_entry. A host
 * dlopen()s the object, dlsym()s the entry, refuses it unless
 * entry->abi_major == PF_ABI_MAJOR, and reaches every function through it.
 *
 * Stability rules
 *   - Error codes are an append-only enum; a code is never renumbered.
 *   - Every struct that crosses the boundary starts with `struct_size` and
 *     only ever grows at the end. A host sets struct_size = sizeof(the struct
 *     it was built with); the plugin reads only the fields that fit.
 *   - New functions are appended to pf_entry and announced by abi_minor.
 *     A host built against 1.N checks entry->struct_size before calling a
 *     function added after 1.0.
 *
 * Thread rules, as written on each function:
 *   [any-thread]     may be called from any thread
 *   [thread-safe]    may be called concurrently with itself and others on the
 *                    same object
 *   [signal-safe]    may be called from a signal handler
 *   [not concurrently with X]  the host must serialise the two
 *
 * Promises the plugin keeps: it never calls exit(), never writes to stdout
 * or stderr, never installs signal handlers, and keeps no global mutable
 * state except a reference count around curl_global_init.
 *
 * See docs/ABI.md for the full contract with examples.
 */
#ifndef PARFETCH_H
#define PARFETCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PF_ABI_MAJOR 1
#define PF_ABI_MINOR 0
#define PF_VERSION "0.1.0"
#define PF_ENTRY_SYMBOL "parfetch_entry"

/* Size unknown (e.g. a chunked reply without Content-Length). */
#define PF_SIZE_UNKNOWN UINT64_MAX

/* Status codes. Append only; never renumber. PF_OK is 0. */
typedef enum pf_status {
  PF_OK = 0,
  PF_E_INVALID = 1,    /* bad argument from the host, wrong struct_size */
  PF_E_NOMEM = 2,      /* out of memory */
  PF_E_CONFIG = 3,     /* bad config key, type or value (detail: key, line:column) */
  PF_E_URL = 4,        /* malformed URL or unsupported scheme */
  PF_E_NETWORK = 5,    /* DNS, connect, TLS, reset or timeout, after retries */
  PF_E_HTTP = 6,       /* the server answered with an HTTP error status */
  PF_E_BAD_REPLY = 7,  /* a reply differs from what was asked (Content-Range, length) */
  PF_E_CHANGED = 8,    /* the object changed (validator or size differs from the probe) */
  PF_E_CHECKSUM = 9,   /* the content does not match the expected digest */
  PF_E_IO = 10,        /* local read, write, sync or rename failure (detail: path, errno) */
  PF_E_CANCELLED = 11, /* cancel() was called */
  PF_E_STATE = 12,     /* call not valid in the session's current state */
  PF_E_INTERNAL = 13   /* a bug in parfetch */
} pf_status;

/* Opaque handles. */
typedef struct pf_config pf_config;
typedef struct pf_session pf_session;

/* One byte range of the object: bytes [offset, offset + length). */
typedef struct pf_part {
  uint32_t index;  /* 0 .. count-1, in offset order */
  uint64_t offset; /* first byte */
  uint64_t length; /* bytes; PF_SIZE_UNKNOWN for a single part of unknown size */
} pf_part;

/*
 * A sink of the host's own, instead of a file. Called only from the writer
 * (or, in host-driven mode, from the thread that calls write_sink), never
 * concurrently with itself.
 */
#define PF_SINK_IN_ORDER 0x1u /* write() must be called with ascending, contiguous offsets */

typedef struct pf_sink {
  size_t struct_size;
  void *ctx;
  unsigned flags; /* PF_SINK_* */
  /* Store len bytes at offset. Return 0, or an errno value on failure. */
  int (*write)(void *ctx, uint64_t offset, const void *buf, size_t len);
  /* Optional: read back stored bytes (used to finish a digest over data that
   * arrived out of order). NULL means the sink cannot read back; if a
   * checksum is asked for, the engine then delivers bytes in order. */
  int (*read)(void *ctx, uint64_t offset, void *buf, size_t len);
} pf_sink;

/* What open() is asked to do. Zero-initialise, set struct_size, fill in. */
#define PF_OPEN_RESUME 0x1u /* resume the side file if its journal names the same URL,
                               size and validator; otherwise start over (-C) */

typedef struct pf_open_args {
  size_t struct_size;
  /* Final path. Data goes to a side file next to it and is renamed into
   * place by close(PF_CLOSE_COMMIT) only when complete and verified.
   * Exactly one of output_path and sink is non-NULL. Copied by open(). */
  const char *output_path;
  /* Host sink; copied by open(), sink->ctx must live until close(). */
  const pf_sink *sink;
  /* Expected digest, "ALGO=HEX" with ALGO sha1, sha256, sha512 or md5; or
   * NULL. Copied by open(). */
  const char *checksum;
  unsigned flags; /* PF_OPEN_* */
  /* Optional: a line of detail at a time (requests with their headers,
   * replies, redirects, retries and why, steals). Credential headers are
   * shown as <redacted>. Called from the session's threads, one call at a
   * time; line is valid only during the call. */
  void (*log)(void *ctx, const char *line);
  void *log_ctx;
} pf_open_args;

/* What the probe learned. Strings are owned by the session and stay valid
 * until close(). */
typedef struct pf_info {
  size_t struct_size;
  uint64_t size;             /* PF_SIZE_UNKNOWN if the server did not say */
  int ranges;                /* 1 if the server honours byte ranges */
  const char *etag;          /* NULL if none */
  const char *last_modified; /* NULL if none */
  const char *effective_url; /* after redirects */
  const char *content_type;  /* NULL if none */
  long http_version;         /* 10, 11, 20, 30 */
} pf_info;

/* Counters. All are snapshots; safe to read while the transfer runs. */
typedef struct pf_stats {
  size_t struct_size;
  uint64_t size;          /* as pf_info.size */
  uint64_t bytes_written; /* bytes stored in the sink so far */
  uint64_t bytes_fetched; /* body bytes received from the network (incl. retried ones) */
  uint32_t streams_active; /* transfers in flight now */
  uint32_t streams_max;    /* the most that ran at once */
  uint32_t parts_total;
  uint32_t parts_done;
  uint32_t retries;        /* requests retried */
  uint64_t elapsed_ns;     /* since open() */
  uint64_t bytes_resumed;  /* bytes taken from an earlier run's side file (-C) */
  uint32_t steals;         /* ranges taken over from a slower stream by run() */
} pf_stats;

/* Data callback of fetch_part(): called in the calling thread, with
 * ascending, contiguous offsets within the part. buf is valid only during
 * the call. Return 0 to go on, non-zero to abort this part only (fetch_part
 * then returns PF_E_CANCELLED; the session and other parts go on). */
typedef int (*pf_data_fn)(void *ctx, uint64_t offset, const void *buf, size_t len);

/* close() flags */
#define PF_CLOSE_COMMIT 0x1u  /* verify, sync and rename into place */
#define PF_CLOSE_DISCARD 0x2u /* remove the side file even if it could be resumed */

typedef struct pf_entry {
  uint32_t abi_major; /* PF_ABI_MAJOR: a host refuses any other */
  uint32_t abi_minor; /* PF_ABI_MINOR: grows as functions are appended */
  size_t struct_size; /* sizeof(pf_entry) of the plugin */
  const char *name;   /* "parfetch" */
  const char *version; /* PF_VERSION of the plugin */

  /* --- configuration --------------------------------------------------- */

  /* [any-thread] A config with every default. NULL on out of memory.
   * Free with config_free(). */
  pf_config *(*config_new)(void);

  /* [not concurrently with other calls on cfg] Merge one YAML file into cfg
   * (later files override earlier ones; lists are appended). On error cfg is
   * unchanged for the failing key and config_error() names the file, key and
   * line:column. */
  pf_status (*config_load)(pf_config *cfg, const char *path);

  /* [not concurrently with other calls on cfg] Set one key from a string,
   * as a command-line flag would ("streams", "8"; "tls.verify", "false";
   * "headers", "K: V" appends). Same validation as config_load. */
  pf_status (*config_set)(pf_config *cfg, const char *key, const char *value);

  /* [not concurrently with other calls on cfg] Current value of a key as a
   * string, or NULL if the key is unknown or unset. Valid until the next
   * call on cfg. */
  const char *(*config_get)(pf_config *cfg, const char *key);

  /* [any-thread] The message of the last failed call on cfg; "" if none.
   * Valid until the next call on cfg. */
  const char *(*config_error)(const pf_config *cfg);

  /* [not concurrently with other calls on cfg] NULL is a no-op. Sessions
   * keep their own copy, so cfg may be freed after open(). */
  void (*config_free)(pf_config *cfg);

  /* --- a download ------------------------------------------------------ */

  /* [any-thread] Probe url (one GET with "Range: bytes=0-N", N + 1 =
   * min_part_size; "bytes=0-" with one stream or an in-order sink), learn
   * size, validator and range support, and prepare the output. The probe's
   * body is kept open and becomes the start of part 0: no second request is
   * made for those bytes.
   * *out is NULL only if open() fails before a session exists: PF_E_INVALID
   * (a NULL argument, a struct_size below this header's, both or neither of
   * output_path and sink) or PF_E_NOMEM. Otherwise *out is set, even on
   * failure, so that errmsg() can explain it; the host must close() it. */
  pf_status (*open)(const pf_config *cfg, const char *url,
                    const pf_open_args *args, pf_session **out);

  /* [thread-safe] The plan: *count parts covering what is still missing
   * (the whole object, unless PF_OPEN_RESUME found stored ranges). Call with
   * parts == NULL to learn *count, then with cap >= *count, before fetching:
   * bytes stored meanwhile change the answer. A pure function of size,
   * config and the stored ranges; an object of unknown size or one without
   * range support has one part. PF_E_INVALID if cap is too small. */
  pf_status (*plan_parts)(pf_session *s, pf_part *parts, size_t cap, size_t *count);

  /* [thread-safe; distinct, non-overlapping parts] Fetch one part with
   * retries, validating every reply before a byte of it is passed on.
   * If fn is NULL the data goes to write_sink(); otherwise to fn only (the
   * host then calls write_sink itself, or keeps the bytes). Blocks until the
   * part is done, failed or cancelled. */
  pf_status (*fetch_part)(pf_session *s, const pf_part *part, pf_data_fn fn, void *ctx);

  /* [thread-safe] Store bytes [offset, offset+len) of the object in the
   * session's sink (side file or host sink) and account them for the digest
   * and completion. Ranges must not overlap earlier writes. */
  pf_status (*write_sink)(pf_session *s, uint64_t offset, const void *buf, size_t len);

  /* [not concurrently with fetch_part/write_sink from the host] The built-in
   * dispatcher: worker threads fetch the planned parts, one writer thread
   * drains a bounded queue into the sink. Blocks until every part is
   * stored, or the first error (which stops every worker promptly). */
  pf_status (*run)(pf_session *s);

  /* [any-thread][signal-safe] Ask run()/fetch_part() to stop; they return
   * PF_E_CANCELLED within about a second. */
  void (*cancel)(pf_session *s);

  /* [thread-safe] What the probe learned. */
  pf_status (*get_info)(pf_session *s, pf_info *info);

  /* [thread-safe] Progress counters; cheap enough to poll every 100 ms. */
  pf_status (*get_stats)(pf_session *s, pf_stats *stats);

  /* [thread-safe] Detail of the session's first error (URL and HTTP status,
   * path and errno, ...); "" if none. Valid until close(). */
  const char *(*errmsg)(pf_session *s);

  /* [not concurrently with any other call on s] With PF_CLOSE_COMMIT: check
   * that every byte is stored, verify the checksum, flush and sync, and
   * rename the side file into place; returns the first failure. Without it,
   * or on any failure, nothing appears at the output path and an existing
   * file there is left untouched; the side file is kept for a later
   * PF_OPEN_RESUME when it can be resumed (a file, a known size, a
   * validator, some bytes stored, and no checksum mismatch or object
   * change), and removed otherwise or with PF_CLOSE_DISCARD. Frees s in
   * every case. */
  pf_status (*close)(pf_session *s, unsigned flags);

  /* [any-thread] A static, human-readable text for a status code. */
  const char *(*strerror)(pf_status status);

} pf_entry;

/* The one exported symbol. */
extern const pf_entry parfetch_entry;

#ifdef __cplusplus
}
#endif

#endif /* PARFETCH_H */
