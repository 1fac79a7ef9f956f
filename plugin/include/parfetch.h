/*
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
 *   - A struct_size below the 1.0 struct's (PF_*_1_0_SIZE) is PF_E_INVALID.
 *
 * What each minor added:
 *   1.0  pf_entry up to strerror; pf_open_args up to log_ctx; pf_sink,
 *        pf_info and pf_stats as they are.
 *   1.1  pf_entry.commit; pf_open_args.cancel_flag.
 *   1.2  pf_entry.client_new, client_free, open_on (pf_client).
 *   1.3  pf_open_args.headers, if_modified_since, max_size; PF_OPEN_PREFIX;
 *        PF_E_NOT_MODIFIED, PF_E_TOO_LARGE; pf_stats.http_status, net_error.
 *   1.4  pf_open_args.mirrors (a host checks abi_minor >= 4 before it relies
 *        on them: a 1.3 plugin reads only the struct_size it knows, and so
 *        ignores them).
 *
 * Session states: a call a session's state does not allow returns
 * PF_E_STATE. After a failed open(), or once a session has failed (run,
 * fetch_part or commit returned an error) or been committed, only get_info
 * (not after a failed open), get_stats, errmsg, cancel and close remain;
 * during run(), host calls other than those are PF_E_STATE too. A call
 * refused with PF_E_INVALID or PF_E_STATE does not fail the session: it
 * stops only itself, and errmsg() says why while the session has no error.
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
#define PF_ABI_MINOR 4
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
  PF_E_INTERNAL = 13,  /* a bug in parfetch */
  PF_E_NOT_MODIFIED = 14, /* (1.3) 304 to if_modified_since: nothing was fetched */
  PF_E_TOO_LARGE = 15     /* (1.3) the object is larger than max_size */
} pf_status;

/* (1.3) What kind of network failure ended a session (pf_stats.net_error). */
typedef enum pf_net_error {
  PF_NET_NONE = 0,
  PF_NET_RESOLVE = 1,   /* the host (or proxy) name does not resolve */
  PF_NET_REFUSED = 2,   /* nothing listens there (connection refused) */
  PF_NET_TIMEOUT = 3,   /* connect_timeout, or stall_timeout with no byte */
  PF_NET_TLS = 4,       /* TLS handshake or certificate verification */
  PF_NET_OTHER = 5      /* reset, closed early, and the rest */
} pf_net_error;

/* Opaque handles. */
typedef struct pf_config pf_config;
typedef struct pf_session pf_session;
/* (ABI 1.2) One engine for many sessions: connections, DNS and TLS caches
 * and the connection budget, shared by the sessions opened on it. */
typedef struct pf_client pf_client;

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
/* Such a sink, and one without read() when a checksum is asked for, gets
 * ascending, contiguous writes: run() fetches its parts on several streams
 * and holds what arrives ahead of the next byte in a bounded reorder window
 * (config key stream_window); plan_parts() returns the parts in ascending
 * order, and write_sink() or fetch_part(fn == NULL) of bytes that do not
 * start where the stored ones end is refused (PF_E_INVALID, naming the
 * expected offset). */

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
/* (1.3) The file at output_path, if shorter than the object, holds its
 * first bytes (a partial download of another program, e.g. apt's
 * partial/ files): take them as stored, when its mtime equals the server's
 * Last-Modified (If-Range's rule) and no side file of ours resumes. The
 * file itself is only read: it is replaced by commit, untouched otherwise. */
#define PF_OPEN_PREFIX 0x2u
/* (1.3) commit renames without syncing the file or its directory first: for
 * a host that checks what it finds by hash before it uses it (apt does, and
 * its own method never syncs), so a power loss can cost it a download but
 * never a wrong file. The resume journal keeps its own rules. */
#define PF_OPEN_NO_SYNC 0x4u

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
   * shown as <redacted>. Called from the session's threads, its client's
   * network thread among them, one call at a time: keep it quick (it holds
   * up every transfer of the client), and call nothing of the plugin's from
   * it. line is valid only during the call. */
  void (*log)(void *ctx, const char *line);
  void *log_ctx;
  /* (ABI 1.1) Optional: a flag the host sets to non-zero (from a signal handler, say)
   * to stop open() and run() as cancel() would; polled every 100 ms. Lets a
   * host interrupt the probe, before it has a session to cancel. The plugin
   * reads it with an atomic load; the host must write it atomically, e.g.
   * __atomic_store_n(&flag, 1, __ATOMIC_RELEASE) (lock-free, signal-safe). */
  const int *cancel_flag;
  /* (ABI 1.3) Optional: more request headers for this session, "Name:
   * value", NULL-terminated; after the config's headers. Credential headers
   * (Authorization, Cookie, the config's secret_headers) go only to the
   * URL's own host, never to another one reached by redirect. Copied. */
  const char *const *headers;
  /* (ABI 1.3) Non-zero: the probe sends If-Modified-Since with this time
   * (seconds since the epoch), and a 304 answer fails open() with
   * PF_E_NOT_MODIFIED (nothing is written, an existing output stays). */
  int64_t if_modified_since;
  /* (ABI 1.3) Non-zero: an object larger than this many bytes fails with
   * PF_E_TOO_LARGE: at open() when its size is known, or as soon as more
   * arrives when it is not. */
  uint64_t max_size;
  /* (ABI 1.4) Optional: other URLs of the same object (mirrors),
   * NULL-terminated; run() spreads the parts over url and these by their
   * measured rate (the probe asks url alone). The object's identity across
   * them is its size, plus the checksum when one is given: validators are
   * not compared across servers, but each mirror's own must not change. A
   * mirror that fails a request is dropped, and one much slower than the
   * best gets no new part: their ranges are fetched from the others; url, its
   * retries spent, likewise while a mirror is live (not when its object
   * changed). A mirror's redirects follow the session's rules;
   * credential headers go to a mirror only on url's host (where it leads,
   * after a redirect). Copied by open(). Read only when struct_size covers
   * it. */
  const char *const *mirrors;
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
  /* (1.3) Why the last failed request failed: the HTTP status of an error
   * reply or of a redirect not followed (0 if none), and the kind of
   * network failure (pf_net_error). */
  uint32_t http_status;
  uint32_t net_error;
} pf_stats;

/* The end of a field: what a struct_size must reach for the field to count. */
#define PF_SIZE_THROUGH(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* The 1.0 structs: the least struct_size the plugin accepts. A plugin reads
 * (pf_open_args, pf_sink) or writes (pf_info, pf_stats) only the fields
 * that fit in both the host's struct_size and its own struct. */
#define PF_OPEN_ARGS_1_0_SIZE PF_SIZE_THROUGH(pf_open_args, log_ctx)
#define PF_SINK_1_0_SIZE PF_SIZE_THROUGH(pf_sink, read)
#define PF_INFO_1_0_SIZE PF_SIZE_THROUGH(pf_info, http_version)
#define PF_STATS_1_0_SIZE PF_SIZE_THROUGH(pf_stats, steals)

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
   * (a NULL argument, a struct_size below PF_OPEN_ARGS_1_0_SIZE or
   * PF_SINK_1_0_SIZE, both or neither of output_path and sink) or
   * PF_E_NOMEM. Otherwise *out is set, even on failure, so that errmsg() can
   * explain it; the host must close() it. With PF_OPEN_RESUME against a
   * server that does not honour ranges the download starts over. */
  pf_status (*open)(const pf_config *cfg, const char *url,
                    const pf_open_args *args, pf_session **out);

  /* [thread-safe] The plan: *count parts covering what is still missing
   * (the whole object, unless PF_OPEN_RESUME found stored ranges). Call with
   * parts == NULL to learn *count, then with cap >= *count, before fetching:
   * bytes stored meanwhile change the answer. A pure function of size,
   * config and the stored ranges (for an in-order sink: parts of
   * stream_window / (2 x streams), ascending); an object of unknown size or
   * one without range support has one part. PF_E_INVALID if cap is too small. */
  pf_status (*plan_parts)(pf_session *s, pf_part *parts, size_t cap, size_t *count);

  /* [thread-safe; distinct, non-overlapping parts] Fetch one part with
   * retries, validating every reply before a byte of it is passed on.
   * If fn is NULL the data goes to write_sink(); otherwise to fn only (the
   * host then calls write_sink itself, or keeps the bytes). Blocks until the
   * part is done, failed or cancelled. */
  pf_status (*fetch_part)(pf_session *s, const pf_part *part, pf_data_fn fn, void *ctx);

  /* [thread-safe] Store bytes [offset, offset+len) of the object in the
   * session's sink (side file or host sink) and account them for the digest
   * and completion. A range that overlaps earlier writes, passes the end of
   * the object or (in-order sink) leaves a gap is refused with PF_E_INVALID:
   * that write only; the session and its side file go on. */
  pf_status (*write_sink)(pf_session *s, uint64_t offset, const void *buf, size_t len);

  /* [not concurrently with fetch_part/write_sink from the host] The built-in
   * dispatcher: the client's network thread fetches the planned parts, and
   * the calling thread drains a bounded pool of buffers into the sink.
   * Blocks until every part is stored, or the first error (which stops
   * every transfer promptly). */
  pf_status (*run)(pf_session *s);

  /* [any-thread][signal-safe] Ask run()/fetch_part() to stop; they return
   * PF_E_CANCELLED within about a second. */
  void (*cancel)(pf_session *s);

  /* [thread-safe] What the probe learned. PF_E_STATE after a failed open(). */
  pf_status (*get_info)(pf_session *s, pf_info *info);

  /* [thread-safe] Progress counters; cheap enough to poll every 100 ms. */
  pf_status (*get_stats)(pf_session *s, pf_stats *stats);

  /* [thread-safe] Detail of the session's first error (URL and HTTP status,
   * path and errno, ...); without one, why the last refused call was
   * refused; "" if neither. Valid until close(). */
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

  /* (ABI 1.1) [not concurrently with any other call on s] What close(PF_CLOSE_COMMIT)
   * does, without freeing s: check every byte is stored, verify the
   * checksum, sync and rename into place. On failure errmsg() says why (the
   * expected and actual digest, the path and errno); the host then calls
   * close(s, 0). After success, close(s, 0) only frees. */
  pf_status (*commit)(pf_session *s);

  /* --- a client: one engine for many sessions (ABI 1.2) ----------------- */

  /* [any-thread] A client made from cfg (copied: cfg may be freed or changed
   * afterwards). It owns the connection cache (open connections kept for
   * the next transfer to the same host), the DNS and TLS session caches and
   * the connection budget: at most max_connections_per_host connections to
   * one host and max_connections in all, those opened ahead included; an
   * idle one is closed after idle_timeout. Sessions opened on it with
   * open_on() share all of that and use cfg's settings. *out is set on
   * PF_OK only; else PF_E_INVALID (a NULL argument), PF_E_NOMEM or
   * PF_E_INTERNAL (libcurl could not be initialised). */
  pf_status (*client_new)(const pf_config *cfg, pf_client **out);

  /* [not concurrently with open_on on c] Give up the host's hold on c. The
   * sessions opened on c keep it alive: the client (its idle connections,
   * its idle-connection thread) goes when client_free has been called and
   * its last session is closed, whichever comes last. The host must not use
   * c after this call (open_on on it is a use after free); its sessions go
   * on and are closed as usual. NULL is a no-op. */
  void (*client_free)(pf_client *c);

  /* [thread-safe] open() on client c: the same contract (probe, args, *out,
   * states), with c's config. Any number of threads may open, run and close
   * sessions on one client at once; each session keeps its own thread
   * rules. A session opened with open() has a client of its own, made from
   * the cfg it is given and gone with the session: 1.0 hosts are unchanged. */
  pf_status (*open_on)(pf_client *c, const char *url, const pf_open_args *args,
                       pf_session **out);
} pf_entry;

/* The 1.0 entry: what a host checks entry->struct_size against before it
 * calls anything (a function added later: PF_SIZE_THROUGH(pf_entry, fn)). */
#define PF_ENTRY_1_0_SIZE PF_SIZE_THROUGH(pf_entry, strerror)

/* The one exported symbol. */
extern const pf_entry parfetch_entry;

#ifdef __cplusplus
}
#endif

#endif /* PARFETCH_H */
