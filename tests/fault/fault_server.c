/* fault_server.c - a fault-injection HTTP server for parfetch's integration tests.
 *
 * DESIGN
 *   One object (--file PATH, or --size N deterministic pseudo-random bytes keyed by --seed) is
 *   served at every path, on 127.0.0.1 (and [::1] with --ipv6), with correct HTTP/1.1 semantics
 *   unless a --fault fires: GET and HEAD, a single byte range (a-b, a-, -n) answered 206 with an
 *   exact Content-Range, 416 with "bytes *\/TOTAL", Accept-Ranges, a strong ETag and Last-Modified
 *   per object version, If-Range. Several ranges, or a malformed Range, get 200 and everything.
 *   HTTP parsing and framing is libmicrohttpd's; bodies come from a content-reader callback so
 *   faults can act mid-body.
 *
 * THREADS
 *   libmicrohttpd runs MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD: one listen
 *   thread per daemon (two with --ipv6) and one thread per client connection. That thread runs
 *   on_request(), the content reader and on_completed() for every request on its connection, so
 *   the reader may sleep (stall, trickle) without delaying other connections; per-request state
 *   (struct req) is owned by it. Shared state: the configuration (written only before the
 *   daemons start), the counters in G (C11 atomics), fs_fault.seen (atomics), the log file
 *   (log_mu) and the probability coin (rng_mu); the two mutexes are never held together. The
 *   main thread only waits for SIGINT/SIGTERM/SIGHUP (blocked everywhere, taken by
 *   sigtimedwait), --max-seconds or --max-requests, then sets G.stopping, which every sleeping
 *   reader polls at least every 20 ms, and stops the daemons.
 *
 * OPTIONS (details in USAGE below, printed by --help)
 *   --file PATH | --size N   the object          --seed N        content and ETag key
 *   --port N                 0 = kernel picks    --port-file P   also write the port there
 *   --ipv6                   also on [::1]       --mtime EPOCH   Last-Modified of version 1
 *   --no-etag  --weak-etag  --no-last-modified  --no-accept-ranges
 *   --long-etag N            an ETag of N characters whose versions differ only at the end
 *   --fault SPEC             repeatable; see FAULTS in USAGE
 *   --log PATH               a line per completed request
 *   --watch-header NAME      log whether this request header was present (repeatable)
 *   --max-requests N  --max-seconds T  --idle-timeout S  --block N  --quiet
 *   --dump PATH [--dump-version V]   write the object's bytes and exit
 *   --self-test  --help
 *   GET /__stats             plain-text counters (not counted, never faulted)
 */
#include "fault.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const char USAGE[] =
    "usage: fault_server (--file PATH | --size N) [options]\n"
    "\n"
    "Serves one object at every path on 127.0.0.1 and prints \"port N\" as the first line of\n"
    "stdout. Numbers take k/m/g (binary) suffixes where they are byte counts.\n"
    "\n"
    "Object\n"
    "  --file PATH          serve this file's bytes\n"
    "  --size N             serve N deterministic pseudo-random bytes (see --dump)\n"
    "  --seed N             key of the pseudo-random bytes and of the ETag (default 1)\n"
    "  --mtime EPOCH        Last-Modified of version 1 (default: the file's mtime, or\n"
    "                       1700000000); version 2 is one day later\n"
    "  --no-etag            send no ETag (Last-Modified is then the only validator)\n"
    "  --weak-etag          ETag W/\"...\" (If-Range then never matches)\n"
    "  --long-etag N        an ETag of N characters (300..4095): a run of x, then the usual\n"
    "                       tag, so version 1 and 2 differ only in the last 20 characters\n"
    "  --no-last-modified   send no Last-Modified\n"
    "  --no-accept-ranges   never send Accept-Ranges (Range is still honoured)\n"
    "  --dump PATH          write the object's bytes to PATH (- = stdout) and exit\n"
    "  --dump-version V     1 (default) or 2: the bytes after a change fault\n"
    "Listening\n"
    "  --port N             port on 127.0.0.1 (default 0: the kernel picks)\n"
    "  --port-file PATH     also write the port to PATH (atomically, via rename)\n"
    "  --ipv6               also listen on [::1], same port\n"
    "  --idle-timeout S     close idle keep-alive connections after S s (default 30; raised\n"
    "                       to the longest stall + 30)\n"
    "  --block N            reader block size, bytes per callback (default 16k)\n"
    "Accounting and lifetime\n"
    "  --log PATH           one line per completed request (object requests only), flushed:\n"
    "                       req=N status=S method=M path=P query=Q host=H peer=A range=R\n"
    "                       if_range=I auth=0|1 cookie=0|1 [hdr.NAME=0|1...] version=V\n"
    "                       faults=a,b|- bytes=B length=L|- end=ok|error|timeout|shutdown|\n"
    "                       read_error|client_abort ms=T\n"
    "                       (values %-escaped, \"-\" when absent; lines in completion order)\n"
    "  --watch-header NAME  also log hdr.NAME=0|1 for this request header (up to 8)\n"
    "  --max-requests N     exit after N object requests have completed (default 10000)\n"
    "  --max-seconds T      exit after T seconds (default 600)\n"
    "  --quiet              no libmicrohttpd error messages on stderr\n"
    "  --self-test          run the pure-logic checks and exit (0 = all passed)\n"
    "  GET /__stats         text/plain: requests N, completed N, active N, bytes_sent N,\n"
    "                       object_bytes N, version V, port N (one per line; not counted)\n"
    "\n"
    "Faults: --fault NAME[:key=value,...], repeatable; all may be combined.\n"
    "  Numbering: each fault numbers the requests that pass its filter, 1, 2, 3... in arrival\n"
    "  order (/__stats excluded); X-Fault-Request: N in every reply is the global number.\n"
    "  Filter keys:    method=get|head|any  ranged=yes|no|any  (defaults below)\n"
    "  Selection keys (ANDed; default: every filtered request):\n"
    "    req=K  req=K-L  req=K-     the K-th (to L-th, or onwards) filtered request\n"
    "    first=N                    req=1-N\n"
    "    every=N                    filtered requests whose number is a multiple of N\n"
    "    prob=P                     and a coin, probability P (PRNG seeded by --seed)\n"
    "  A fault that acted is named in the X-Fault reply header and in the log's faults=.\n"
    "  Precedence for one request: redirect, status, error-page, then the rest together; a\n"
    "  fault selected but preempted, or with nothing to act on (e.g. a 416), is used up.\n"
    "  Of two selected faults of the same kind the one given first acts.\n"
    "\n"
    "  reset:after=B              [GET] send B body bytes, wait (<= 2 s) until the client has\n"
    "                             them, then TCP RST (SO_LINGER 0)\n"
    "  close-early:after=B        [GET] send B body bytes then close with FIN; Content-Length\n"
    "                             still promises the whole body (chunked: a clean last chunk)\n"
    "  status:code=C,retry-after=S|none,ra-date=0|1\n"
    "                             [any] answer C (default 503) with a short text body;\n"
    "                             Retry-After: S (default 1 for 429 and 503, else none);\n"
    "                             ra-date=1 sends it as an HTTP-date S seconds ahead\n"
    "  stall:after=B,secs=T,then=continue|close|reset\n"
    "                             [GET] after B body bytes send nothing for T s (default 5,\n"
    "                             decimals allowed), then go on (default), close, or reset\n"
    "  trickle:rate=R             [GET] send the body at R bytes/s (default 16k)\n"
    "  ignore-range:accept-ranges=0|1\n"
    "                             [ranged=yes] 200 + whole object, no Content-Range; keep\n"
    "                             Accept-Ranges (default 1) or drop it\n"
    "  bad-content-range:mode=shift|end|total|lie|star|max-end,delta=D\n"
    "                             [ranged=yes] 206 whose Content-Range differs from the\n"
    "                             request by D (default 1); the body matches the header:\n"
    "                             shift: a+D..b+D (or a-D..b-D at the end of the object),\n"
    "                             end: a..b-D (or a..b+D), total: a..b/TOTAL+D;\n"
    "                             lie: header as shift, body = the requested bytes a..b\n"
    "                             star: the right range and body, total \"*\" (unknown)\n"
    "                             max-end: \"bytes a-18446744073709551615/*\" (UINT64_MAX),\n"
    "                             body = the requested bytes a..b\n"
    "  wrong-length:mode=short|long|claim,delta=D\n"
    "                             [GET] Content-Range (or the 200) claims the right range, but\n"
    "                             short: Content-Length and body are D bytes fewer;\n"
    "                             long: no Content-Length (chunked on HTTP/1.1, close-delimited\n"
    "                             on 1.0) and D bytes more; claim: Content-Length D bytes\n"
    "                             more (at most 18446744073709551614), the right body, then\n"
    "                             close; D defaults to half the length\n"
    "  change:after=N,size=M      [any] from the (N+1)-th filtered request on (or whichever\n"
    "                             requests req=/every= select first) the object is version 2\n"
    "                             for good: other bytes (every byte differs), other ETag, other\n"
    "                             Last-Modified, size M (default unchanged). Replies already\n"
    "                             under way keep their version.\n"
    "  redirect:code=C,to=HOST[:PORT],hops=H,loop=0|1\n"
    "                             [any] C (default 302) to http://HOST:PORT/PATH?r=1, where\n"
    "                             HOST is by default the other loopback name (127.0.0.1 or\n"
    "                             [::1] -> localhost, localhost -> 127.0.0.1) and PORT ours.\n"
    "                             A request carrying r=K < H (default 1) is redirected on to\n"
    "                             r=K+1 whether selected or not; loop=1: always (a loop).\n"
    "                             Other query parameters are dropped.\n"
    "  chunked                    [GET] no Content-Length: chunked on HTTP/1.1\n"
    "  error-page:code=200|206,len=L\n"
    "                             [any] an HTML error page with the object's validators, as\n"
    "                             200 (default) or as 206 with the requested Content-Range;\n"
    "                             L bytes (default: its natural ~150 bytes)\n"
    "\n"
    "Examples\n"
    "  fault_server --size 1m --fault status:code=429,retry-after=2,first=2\n"
    "  fault_server --file f --fault reset:after=100k,req=2 --fault change:after=5\n";

/* ------------------------------------------------------------------ state */

#define MAX_WATCH 8

static struct {
  /* configuration: written by main() before the daemons start, read-only afterwards */
  struct fs_object obj;
  struct fs_fault faults[FS_MAX_FAULTS];
  int nfaults;
  bool no_etag, weak_etag, no_lastmod, no_accept_ranges;
  uint64_t long_etag; /* --long-etag: the ETag's length, 0 = the usual one */
  size_t block;
  char watch[MAX_WATCH][64];
  int nwatch;
  FILE *log; /* writes under log_mu */
  /* shared at run time */
  pthread_mutex_t log_mu;
  pthread_mutex_t rng_mu;
  uint64_t rng; /* under rng_mu */
  _Atomic uint64_t requests, completed, bytes_sent, object_bytes;
  _Atomic int active;
  _Atomic unsigned port; /* set by main() once the first daemon is listening */
  _Atomic int version;
  atomic_bool stopping;
} G = {
    .log_mu = PTHREAD_MUTEX_INITIALIZER,
    .rng_mu = PTHREAD_MUTEX_INITIALIZER,
    .version = 1,
};

/* One HTTP request, owned by its connection's thread. */
struct req {
  struct MHD_Connection *conn;
  struct timespec start;
  uint64_t n; /* global object-request number; 0 for /__stats */
  bool is_get, is_head;
  int version;
  int status;
  char method[16], path[256], query[256], host[128], peer[96], range[128], if_range[80];
  bool auth, cookie;
  bool watch_seen[MAX_WATCH];
  char faults[192];
  /* body */
  bool from_reader; /* object bytes through reader(); else a buffer of buf_len bytes */
  size_t buf_len;
  uint64_t obj_off;  /* object offset of body byte 0 */
  uint64_t body_len; /* bytes reader() produces */
  int64_t length;    /* Content-Length sent, -1 = none */
  uint64_t sent;     /* body bytes handed to libmicrohttpd */
  /* body faults */
  bool do_reset, do_close, do_stall, stalled;
  uint64_t reset_after, close_after, stall_after;
  long stall_ms;
  enum fs_then stall_then;
  uint64_t rate;
  uint64_t rate_base; /* trickle: body offset at t0 */
  struct timespec t0; /* trickle: when pacing (re)started */
};

/* ------------------------------------------------------------------ helpers */

static double since(const struct timespec *t0) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Sleeps ms milliseconds in 20 ms slices. false when the server is stopping. */
static bool nap_ms(long ms) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    if (atomic_load(&G.stopping))
      return false;
    double left = (double)ms / 1000.0 - since(&t0);
    if (left <= 0)
      return true;
    if (left > 0.02)
      left = 0.02;
    struct timespec ts = {0, (long)(left * 1e9)};
    nanosleep(&ts, NULL);
  }
}

static double coin(void) {
  pthread_mutex_lock(&G.rng_mu);
  G.rng ^= G.rng << 13; /* xorshift64 */
  G.rng ^= G.rng >> 7;
  G.rng ^= G.rng << 17;
  uint64_t x = G.rng;
  pthread_mutex_unlock(&G.rng_mu);
  return (double)(x >> 11) / 9007199254740992.0;
}

static void copy_str(char *dst, size_t cap, const char *src) {
  if (!src)
    src = "";
  size_t n = strlen(src);
  if (n >= cap)
    n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = 0;
}

static void add_fault_name(struct req *r, enum fs_kind k) {
  size_t used = strlen(r->faults);
  snprintf(r->faults + used, sizeof r->faults - used, "%s%s", used ? "," : "", fs_kind_name(k));
}

/* The connection's socket, or -1. */
static int conn_fd(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  return ci ? (int)ci->connect_fd : -1;
}

/* Waits (at most 2 s) until the kernel's send queue is empty, i.e. the client has acknowledged
 * every byte handed over so far. */
static void drain(int fd) {
  for (int i = 0; i < 400 && fd >= 0 && !atomic_load(&G.stopping); i++) {
    int outq = 0;
    if (ioctl(fd, SIOCOUTQ, &outq) != 0 || outq == 0)
      return;
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

/* Aborts the TCP connection now: RST, whatever libmicrohttpd does with the socket afterwards. */
static void hard_reset(struct req *r) {
  int fd = conn_fd(r->conn);
  if (fd < 0)
    return;
  drain(fd);
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  /* connect(AF_UNSPEC) disconnects a TCP socket (tcp_disconnect: RST to the peer) without
   * closing the descriptor, which libmicrohttpd still owns. */
  struct sockaddr sa = {.sa_family = AF_UNSPEC};
  connect(fd, &sa, sizeof sa);
}

/* ------------------------------------------------------------------ body */

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max) {
  struct req *r = cls;
  if (atomic_load(&G.stopping))
    return MHD_CONTENT_READER_END_WITH_ERROR;
  if (r->do_stall && !r->stalled && pos >= r->stall_after) {
    r->stalled = true;
    if (!nap_ms(r->stall_ms))
      return MHD_CONTENT_READER_END_WITH_ERROR;
    r->rate_base = pos; /* a trickle resumes at its rate, without a burst to catch up */
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    if (r->stall_then == FT_CLOSE) {
      drain(conn_fd(r->conn));
      return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (r->stall_then == FT_RESET) {
      hard_reset(r);
      return MHD_CONTENT_READER_END_WITH_ERROR;
    }
  }
  if (r->do_reset && pos >= r->reset_after) {
    hard_reset(r);
    return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  if (r->do_close && pos >= r->close_after) {
    drain(conn_fd(r->conn));
    return MHD_CONTENT_READER_END_OF_STREAM; /* libmicrohttpd closes: FIN */
  }
  if (pos >= r->body_len)
    return MHD_CONTENT_READER_END_OF_STREAM;
  uint64_t n = r->body_len - pos;
  if (n > max)
    n = max;
  /* Stop exactly at the byte where a fault acts, so it acts there. */
  if (r->do_stall && !r->stalled && r->stall_after > pos && r->stall_after - pos < n)
    n = r->stall_after - pos;
  if (r->do_reset && r->reset_after - pos < n)
    n = r->reset_after - pos;
  if (r->do_close && r->close_after - pos < n)
    n = r->close_after - pos;
  if (r->rate) {
    /* Hand over at most rate/20 bytes at a time, each no earlier than (pos - rate_base)/rate s
     * after t0. */
    uint64_t chunk = r->rate / 20 ? r->rate / 20 : 1;
    if (n > chunk)
      n = chunk;
    if (pos == 0 && !r->stalled)
      clock_gettime(CLOCK_MONOTONIC, &r->t0);
    double due = (double)(pos - r->rate_base) / (double)r->rate - since(&r->t0);
    if (due > 0 && !nap_ms((long)(due * 1000.0) + 1))
      return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  fs_object_fill(&G.obj, r->version, r->obj_off + pos, (unsigned char *)buf, (size_t)n);
  r->sent = pos + n;
  atomic_fetch_add(&G.bytes_sent, n);
  atomic_fetch_add(&G.object_bytes, n);
  return (ssize_t)n;
}

/* ------------------------------------------------------------------ replies */

static void add_header(struct MHD_Response *resp, const char *name, const char *value) {
  if (MHD_add_response_header(resp, name, value) != MHD_YES)
    fprintf(stderr, "fault_server: cannot add header %s\n", name);
}

static void add_common(struct req *r, struct MHD_Response *resp, bool validators) {
  char num[32];
  snprintf(num, sizeof num, "%" PRIu64, r->n);
  add_header(resp, "X-Fault-Request", num);
  if (r->faults[0])
    add_header(resp, "X-Fault", r->faults);
  if (validators) {
    if (!G.no_etag)
      add_header(resp, MHD_HTTP_HEADER_ETAG, G.obj.etag[r->version]);
    if (!G.no_lastmod)
      add_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, G.obj.lastmod[r->version]);
  }
}

static enum MHD_Result queue(struct req *r, int status, struct MHD_Response *resp) {
  r->status = status;
  enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)status, resp);
  MHD_destroy_response(resp);
  return ok;
}

/* A reply with a small body from memory. extra_name/extra_value: one more header, or NULL. */
static enum MHD_Result reply_buffer(struct req *r, int status, const char *body, size_t len,
                                    const char *type, bool validators, const char *extra_name,
                                    const char *extra_value) {
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!resp)
    return MHD_NO;
  if (type)
    add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  add_common(r, resp, validators);
  if (extra_name)
    add_header(resp, extra_name, extra_value);
  r->buf_len = r->is_head ? 0 : len;
  r->length = (int64_t)len;
  return queue(r, status, resp);
}

static enum MHD_Result serve_stats(struct req *r, const char *url) {
  if (strcmp(url, "/__stats") != 0) {
    static const char nf[] = "no such internal endpoint\n";
    return reply_buffer(r, 404, nf, sizeof nf - 1, "text/plain", false, NULL, NULL);
  }
  char body[512];
  int len = snprintf(body, sizeof body,
                     "requests %" PRIu64 "\ncompleted %" PRIu64 "\nactive %d\n"
                     "bytes_sent %" PRIu64 "\nobject_bytes %" PRIu64 "\nversion %d\nport %u\n",
                     atomic_load(&G.requests), atomic_load(&G.completed), atomic_load(&G.active),
                     atomic_load(&G.bytes_sent), atomic_load(&G.object_bytes),
                     atomic_load(&G.version), atomic_load(&G.port));
  return reply_buffer(r, 200, body, (size_t)len, "text/plain", false, "Cache-Control", "no-store");
}

static bool if_range_matches(const struct req *r) {
  const char *ir = r->if_range;
  if (!ir[0])
    return true;
  if (ir[0] == '"' || !strncmp(ir, "W/", 2)) /* entity tag: strong comparison */
    return !G.no_etag && !G.weak_etag && !strcmp(ir, G.obj.etag[r->version]);
  return !G.no_lastmod && !strcmp(ir, G.obj.lastmod[r->version]);
}

/* Percent-encodes a path for a Location header (keeps unreserved characters and '/'). */
static void encode_path(const char *in, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < cap; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        strchr("/-._~", *p)) {
      out[o++] = (char)*p;
    } else {
      out[o++] = '%';
      out[o++] = hex[*p >> 4];
      out[o++] = hex[*p & 15];
    }
  }
  out[o] = 0;
}

static enum MHD_Result reply_redirect(struct req *r, const struct fs_fault *f, uint64_t hop) {
  char host[160];
  if (f->to[0]) {
    const char *rb = strrchr(f->to, ']');
    bool has_port = f->to[0] == '[' ? (rb && rb[1] == ':') : strchr(f->to, ':') != NULL;
    if (has_port)
      snprintf(host, sizeof host, "%s", f->to);
    else
      snprintf(host, sizeof host, "%s:%u", f->to, atomic_load(&G.port));
  } else {
    bool was_localhost = !strncasecmp(r->host, "localhost", 9);
    snprintf(host, sizeof host, "%s:%u", was_localhost ? "127.0.0.1" : "localhost",
             atomic_load(&G.port));
  }
  char path[512], location[800];
  encode_path(r->path, path, sizeof path);
  snprintf(location, sizeof location, "http://%s%s?r=%" PRIu64, host, path, hop);
  add_fault_name(r, FK_REDIRECT);
  return reply_buffer(r, f->code, "", 0, "text/plain", false, MHD_HTTP_HEADER_LOCATION, location);
}

static enum MHD_Result reply_status(struct req *r, const struct fs_fault *f) {
  char body[96], ra[64];
  int len = snprintf(body, sizeof body, "fault-injection server: status %d\n", f->code);
  add_fault_name(r, FK_STATUS);
  if (f->retry_after < 0)
    return reply_buffer(r, f->code, body, (size_t)len, "text/plain", false, NULL, NULL);
  if (f->ra_date)
    fs_http_date(time(NULL) + f->retry_after, ra, sizeof ra);
  else
    snprintf(ra, sizeof ra, "%ld", f->retry_after);
  return reply_buffer(r, f->code, body, (size_t)len, "text/plain", false,
                      MHD_HTTP_HEADER_RETRY_AFTER, ra);
}

static enum MHD_Result reply_error_page(struct req *r, const struct fs_fault *f) {
  static const char page[] = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
                             "<body><h1>Bad Gateway</h1><p>The upstream server failed.</p>"
                             "</body></html>\n";
  size_t len = f->len >= 0 ? (size_t)f->len : sizeof page - 1;
  char *body = malloc(len + 1);
  if (!body)
    return MHD_NO;
  for (size_t i = 0; i < len; i++)
    body[i] = i < sizeof page - 1 ? page[i] : ' ';
  add_fault_name(r, FK_ERROR_PAGE);
  enum MHD_Result ok;
  if (f->code != 206) {
    ok = reply_buffer(r, 200, body, len, "text/html", true, NULL, NULL);
    free(body);
    return ok;
  }
  uint64_t total = G.obj.size[r->version], a = 0, b = total ? total - 1 : 0;
  if (fs_parse_range(r->range[0] ? r->range : NULL, total, &a, &b) != RANGE_OK) {
    a = 0;
    b = total ? total - 1 : 0;
  }
  char cr[96];
  snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, a, b, total);
  ok = reply_buffer(r, 206, body, len, "text/html", true, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
  free(body);
  return ok;
}

/* The object, as it should be unless shaping or body faults were selected. */
static enum MHD_Result reply_object(struct req *r, const int *chosen) {
  uint64_t total = G.obj.size[r->version], first = 0, last = 0;
  enum fs_range rr = RANGE_NONE;
  if (r->range[0])
    rr = fs_parse_range(r->range, total, &first, &last);
  if (rr != RANGE_NONE && !if_range_matches(r))
    rr = RANGE_NONE;
  bool accept_ranges = !G.no_accept_ranges;
  if (rr != RANGE_NONE && chosen[FK_IGNORE_RANGE] >= 0) {
    rr = RANGE_NONE;
    accept_ranges = accept_ranges && G.faults[chosen[FK_IGNORE_RANGE]].accept_ranges;
    add_fault_name(r, FK_IGNORE_RANGE);
  }
  char cr[128];
  if (rr == RANGE_UNSAT) {
    snprintf(cr, sizeof cr, "bytes */%" PRIu64, total);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp)
      return MHD_NO;
    add_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    if (accept_ranges)
      add_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
    add_common(r, resp, true);
    r->length = 0;
    return queue(r, 416, resp);
  }
  int status = rr == RANGE_OK ? 206 : 200;
  if (rr != RANGE_OK) {
    first = 0;
    last = total ? total - 1 : 0;
  }
  r->obj_off = first;
  r->body_len = total ? last - first + 1 : 0;
  uint64_t h_first = first, h_last = last, h_total = total; /* what Content-Range says */
  bool star = false; /* Content-Range gives no total ("/ *" without the space) */

  if (status == 206 && chosen[FK_BAD_CONTENT_RANGE] >= 0) {
    const struct fs_fault *f = &G.faults[chosen[FK_BAD_CONTENT_RANGE]];
    uint64_t d = f->delta ? f->delta : 1;
    int mode = f->mode;
    if (mode == BCR_SHIFT || mode == BCR_LIE) {
      if (last + d < total) {
        h_first = first + d;
        h_last = last + d;
      } else if (first >= d) {
        h_first = first - d;
        h_last = last - d;
      } else {
        mode = BCR_TOTAL;
      }
    } else if (mode == BCR_END) {
      if (last >= first + d)
        h_last = last - d;
      else if (last + d < total)
        h_last = last + d;
      else
        mode = BCR_TOTAL;
    }
    if (mode == BCR_TOTAL)
      h_total = total + d;
    if (mode == BCR_MAX_END)
      h_last = UINT64_MAX;
    star = mode == BCR_STAR || mode == BCR_MAX_END;
    if (mode != BCR_LIE && mode != BCR_MAX_END) { /* the body is what the header says */
      r->obj_off = h_first;
      r->body_len = h_last - h_first + 1;
    }
    add_fault_name(r, FK_BAD_CONTENT_RANGE);
  }

  bool unknown = false;
  uint64_t claim = 0; /* wrong-length:mode=claim: the Content-Length sent, not the body's */
  if (chosen[FK_WRONG_LENGTH] >= 0) {
    const struct fs_fault *f = &G.faults[chosen[FK_WRONG_LENGTH]];
    uint64_t d = f->delta ? f->delta : (r->body_len / 2 ? r->body_len / 2 : 1);
    if (f->mode == WL_SHORT) {
      r->body_len = r->body_len > d ? r->body_len - d : 0;
    } else if (f->mode == WL_CLAIM) {
      claim = d < MHD_SIZE_UNKNOWN - 1 - r->body_len ? r->body_len + d : MHD_SIZE_UNKNOWN - 1;
    } else {
      r->body_len += d;
      unknown = true;
    }
    add_fault_name(r, FK_WRONG_LENGTH);
  }
  if (chosen[FK_CHUNKED] >= 0) {
    unknown = true;
    add_fault_name(r, FK_CHUNKED);
  }
  if (chosen[FK_RESET] >= 0) {
    r->do_reset = true;
    r->reset_after = G.faults[chosen[FK_RESET]].after;
    add_fault_name(r, FK_RESET);
  }
  if (chosen[FK_CLOSE_EARLY] >= 0) {
    r->do_close = true;
    r->close_after = G.faults[chosen[FK_CLOSE_EARLY]].after;
    add_fault_name(r, FK_CLOSE_EARLY);
  }
  if (chosen[FK_STALL] >= 0) {
    const struct fs_fault *f = &G.faults[chosen[FK_STALL]];
    r->do_stall = true;
    r->stall_after = f->after;
    r->stall_ms = f->stall_ms;
    r->stall_then = f->then;
    add_fault_name(r, FK_STALL);
  }
  if (chosen[FK_TRICKLE] >= 0) {
    r->rate = G.faults[chosen[FK_TRICKLE]].rate;
    add_fault_name(r, FK_TRICKLE);
  }

  r->from_reader = true;
  r->length = unknown ? -1 : (int64_t)r->body_len;
  struct MHD_Response *resp = MHD_create_response_from_callback(
      unknown ? MHD_SIZE_UNKNOWN : claim ? claim : r->body_len, G.block, reader, r, NULL);
  if (!resp)
    return MHD_NO;
  add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
  if (accept_ranges)
    add_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
  if (status == 206) {
    if (star)
      snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/*", h_first, h_last);
    else
      snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, h_first, h_last, h_total);
    add_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
  }
  add_common(r, resp, true);
  return queue(r, status, resp);
}

/* ------------------------------------------------------------------ requests */

struct query_buf {
  char *out;
  size_t cap, used;
};

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value) {
  struct query_buf *q = cls;
  int n = snprintf(q->out + q->used, q->cap - q->used, "%s%s%s%s", q->used ? "&" : "", key,
                   value ? "=" : "", value ? value : "");
  if (n < 0 || (size_t)n >= q->cap - q->used)
    return MHD_NO;
  q->used += (size_t)n;
  return MHD_YES;
}

static void describe(struct req *r, struct MHD_Connection *c, const char *url, const char *method) {
  copy_str(r->method, sizeof r->method, method);
  copy_str(r->path, sizeof r->path, url);
  r->is_get = !strcmp(method, MHD_HTTP_METHOD_GET);
  r->is_head = !strcmp(method, MHD_HTTP_METHOD_HEAD);
  struct query_buf q = {r->query, sizeof r->query, 0};
  r->query[0] = 0;
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_arg, &q);
  copy_str(r->host, sizeof r->host,
           MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST));
  copy_str(r->range, sizeof r->range,
           MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE));
  copy_str(r->if_range, sizeof r->if_range,
           MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_RANGE));
  r->auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  r->cookie = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_COOKIE);
  for (int i = 0; i < G.nwatch; i++)
    r->watch_seen[i] = MHD_lookup_connection_value(c, MHD_HEADER_KIND, G.watch[i]) != NULL;
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  char h[NI_MAXHOST] = "?", s[NI_MAXSERV] = "?";
  if (ci && ci->client_addr) {
    socklen_t sl = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                          : sizeof(struct sockaddr_in);
    getnameinfo(ci->client_addr, sl, h, sizeof h, s, sizeof s, NI_NUMERICHOST | NI_NUMERICSERV);
  }
  snprintf(r->peer, sizeof r->peer, "%s%.64s%s:%.16s", strchr(h, ':') ? "[" : "", h,
           strchr(h, ':') ? "]" : "", s);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  struct req *r = *con_cls;
  if (!r) { /* first call: headers are in; allocate, answer on the next call */
    r = calloc(1, sizeof *r);
    if (!r)
      return MHD_NO;
    r->conn = c;
    r->version = 1;
    r->length = -1;
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    *con_cls = r;
    return MHD_YES;
  }
  if (*upload_size) { /* request bodies are read and dropped */
    *upload_size = 0;
    return MHD_YES;
  }
  describe(r, c, url, method);
  if (!strncmp(url, "/__", 3))
    return serve_stats(r, url);

  r->n = atomic_fetch_add(&G.requests, 1) + 1;
  atomic_fetch_add(&G.active, 1);
  int chosen[FK__COUNT];
  for (int k = 0; k < FK__COUNT; k++)
    chosen[k] = -1;
  bool has_range = r->range[0] != 0;
  for (int i = 0; i < G.nfaults; i++) {
    struct fs_fault *f = &G.faults[i];
    if (!fs_fault_filter(f, r->is_get, r->is_head, has_range))
      continue;
    uint64_t k = atomic_fetch_add(&f->seen, 1) + 1;
    if (!fs_fault_selected(f, k, f->prob < 1.0 ? coin() : 0.0))
      continue;
    if (f->kind == FK_CHANGE) {
      if (atomic_exchange(&G.version, 2) != 2)
        add_fault_name(r, FK_CHANGE); /* logged on the request that made the change */
    } else if (chosen[f->kind] < 0) {
      chosen[f->kind] = i;
    }
  }
  r->version = atomic_load(&G.version);

  if (!r->is_get && !r->is_head) {
    static const char msg[] = "method not allowed\n";
    return reply_buffer(r, 405, msg, sizeof msg - 1, "text/plain", false, MHD_HTTP_HEADER_ALLOW,
                        "GET, HEAD");
  }
  /* A redirect chain in progress continues whether or not this request was selected. */
  const char *hop_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "r");
  uint64_t hop = 0;
  if (hop_s && fs_parse_u64(hop_s, &hop, false))
    hop = 0;
  int rf = chosen[FK_REDIRECT];
  if (hop > 0) {
    rf = -1;
    for (int i = 0; i < G.nfaults && rf < 0; i++)
      if (G.faults[i].kind == FK_REDIRECT)
        rf = i;
    if (rf >= 0 && !G.faults[rf].loop && hop >= G.faults[rf].hops)
      rf = -1;
  }
  if (rf >= 0)
    return reply_redirect(r, &G.faults[rf], hop + 1);
  if (chosen[FK_STATUS] >= 0)
    return reply_status(r, &G.faults[chosen[FK_STATUS]]);
  if (chosen[FK_ERROR_PAGE] >= 0)
    return reply_error_page(r, &G.faults[chosen[FK_ERROR_PAGE]]);
  return reply_object(r, chosen);
}

/* ------------------------------------------------------------------ accounting */

/* Appends " key=value" with value %-escaped (space, controls, '%', non-ASCII), "-" if empty. */
static void log_field(char *line, size_t cap, const char *key, const char *value) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = strlen(line);
  int n = snprintf(line + o, cap - o, " %s=", key);
  if (n < 0 || (size_t)n >= cap - o)
    return;
  o += (size_t)n;
  if (!value || !*value)
    value = "-";
  for (const unsigned char *p = (const unsigned char *)value; *p && o + 4 < cap; p++) {
    if (*p <= ' ' || *p >= 0x7f || *p == '%') {
      line[o++] = '%';
      line[o++] = hex[*p >> 4];
      line[o++] = hex[*p & 15];
    } else {
      line[o++] = (char)*p;
    }
  }
  line[o] = 0;
}

static const char *end_name(enum MHD_RequestTerminationCode toe) {
  switch (toe) {
  case MHD_REQUEST_TERMINATED_COMPLETED_OK:
    return "ok";
  case MHD_REQUEST_TERMINATED_WITH_ERROR:
    return "error";
  case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED:
    return "timeout";
  case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN:
    return "shutdown";
  case MHD_REQUEST_TERMINATED_READ_ERROR:
    return "read_error";
  case MHD_REQUEST_TERMINATED_CLIENT_ABORT:
    return "client_abort";
  }
  return "?";
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  struct req *r = *con_cls;
  if (!r)
    return;
  *con_cls = NULL;
  if (r->n) {
    if (!r->from_reader && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
      r->sent = r->buf_len;
      atomic_fetch_add(&G.bytes_sent, r->sent);
    }
    if (G.log) {
      char line[2048], num[32];
      snprintf(line, sizeof line, "req=%" PRIu64 " status=%d", r->n, r->status);
      log_field(line, sizeof line, "method", r->method);
      log_field(line, sizeof line, "path", r->path);
      log_field(line, sizeof line, "query", r->query);
      log_field(line, sizeof line, "host", r->host);
      log_field(line, sizeof line, "peer", r->peer);
      log_field(line, sizeof line, "range", r->range);
      log_field(line, sizeof line, "if_range", r->if_range);
      log_field(line, sizeof line, "auth", r->auth ? "1" : "0");
      log_field(line, sizeof line, "cookie", r->cookie ? "1" : "0");
      for (int i = 0; i < G.nwatch; i++) {
        char key[80];
        snprintf(key, sizeof key, "hdr.%s", G.watch[i]);
        log_field(line, sizeof line, key, r->watch_seen[i] ? "1" : "0");
      }
      snprintf(num, sizeof num, "%d", r->version);
      log_field(line, sizeof line, "version", num);
      log_field(line, sizeof line, "faults", r->faults);
      snprintf(num, sizeof num, "%" PRIu64, r->sent);
      log_field(line, sizeof line, "bytes", num);
      if (r->length >= 0)
        snprintf(num, sizeof num, "%" PRId64, r->length);
      else
        num[0] = 0;
      log_field(line, sizeof line, "length", num);
      log_field(line, sizeof line, "end", end_name(toe));
      snprintf(num, sizeof num, "%.0f", since(&r->start) * 1000.0);
      log_field(line, sizeof line, "ms", num);
      pthread_mutex_lock(&G.log_mu);
      fprintf(G.log, "%s\n", line);
      fflush(G.log);
      pthread_mutex_unlock(&G.log_mu);
    }
    atomic_fetch_sub(&G.active, 1);
    atomic_fetch_add(&G.completed, 1); /* after the log line: a test that sees the count sees it */
  }
  free(r);
}

/* ------------------------------------------------------------------ main */

static int die(const char *fmt, const char *arg) {
  fprintf(stderr, "fault_server: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n");
  return 2;
}

static int dump(const char *path, int version) {
  FILE *out = strcmp(path, "-") ? fopen(path, "wb") : stdout;
  if (!out)
    return die("cannot write %s", path);
  static unsigned char buf[1 << 20];
  uint64_t total = G.obj.size[version];
  for (uint64_t off = 0; off < total;) {
    size_t n = total - off < sizeof buf ? (size_t)(total - off) : sizeof buf;
    fs_object_fill(&G.obj, version, off, buf, n);
    if (fwrite(buf, 1, n, out) != n)
      break;
    off += n;
  }
  int bad = ferror(out);
  if (out != stdout ? fclose(out) != 0 : fflush(out) != 0)
    bad = 1;
  return bad ? die("write error on %s", path) : 0;
}

static int write_port_file(const char *path, unsigned port) {
  char tmp[4096];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= sizeof tmp)
    return -1;
  FILE *f = fopen(tmp, "w");
  if (!f)
    return -1;
  fprintf(f, "%u\n", port);
  if (fclose(f) != 0 || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

/* libmicrohttpd's error messages, prefixed and one per line. */
static void mhd_log(void *cls, const char *fmt, va_list ap) {
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && msg[n - 1] == '\n')
    msg[--n] = 0;
  fprintf(stderr, "fault_server: libmicrohttpd: %s\n", msg);
}

static struct MHD_Daemon *start_daemon(bool v6, unsigned port, unsigned timeout, bool quiet) {
  struct sockaddr_in sa4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct sockaddr_in6 sa6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
  sa6.sin6_addr = in6addr_loopback;
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD;
  if (!quiet)
    flags |= MHD_USE_ERROR_LOG;
  if (v6)
    flags |= MHD_USE_IPv6;
  return MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, NULL,
                          MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* must come first */
                          MHD_OPTION_SOCK_ADDR, v6 ? (void *)&sa6 : (void *)&sa4,
                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                          MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_CONNECTION_LIMIT,
                          (unsigned)1000, MHD_OPTION_END);
}

enum {
  O_FILE = 256,
  O_SIZE,
  O_SEED,
  O_MTIME,
  O_NO_ETAG,
  O_WEAK_ETAG,
  O_LONG_ETAG,
  O_NO_LASTMOD,
  O_NO_AR,
  O_DUMP,
  O_DUMP_VERSION,
  O_PORT,
  O_PORT_FILE,
  O_IPV6,
  O_IDLE,
  O_BLOCK,
  O_LOG,
  O_WATCH,
  O_MAX_REQ,
  O_MAX_SEC,
  O_QUIET,
  O_SELF_TEST,
  O_FAULT,
  O_HELP
};

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"file", required_argument, NULL, O_FILE},
      {"size", required_argument, NULL, O_SIZE},
      {"seed", required_argument, NULL, O_SEED},
      {"mtime", required_argument, NULL, O_MTIME},
      {"no-etag", no_argument, NULL, O_NO_ETAG},
      {"weak-etag", no_argument, NULL, O_WEAK_ETAG},
      {"long-etag", required_argument, NULL, O_LONG_ETAG},
      {"no-last-modified", no_argument, NULL, O_NO_LASTMOD},
      {"no-accept-ranges", no_argument, NULL, O_NO_AR},
      {"dump", required_argument, NULL, O_DUMP},
      {"dump-version", required_argument, NULL, O_DUMP_VERSION},
      {"port", required_argument, NULL, O_PORT},
      {"port-file", required_argument, NULL, O_PORT_FILE},
      {"ipv6", no_argument, NULL, O_IPV6},
      {"idle-timeout", required_argument, NULL, O_IDLE},
      {"block", required_argument, NULL, O_BLOCK},
      {"log", required_argument, NULL, O_LOG},
      {"watch-header", required_argument, NULL, O_WATCH},
      {"max-requests", required_argument, NULL, O_MAX_REQ},
      {"max-seconds", required_argument, NULL, O_MAX_SEC},
      {"quiet", no_argument, NULL, O_QUIET},
      {"self-test", no_argument, NULL, O_SELF_TEST},
      {"fault", required_argument, NULL, O_FAULT},
      {"help", no_argument, NULL, O_HELP},
      {NULL, 0, NULL, 0},
  };
  const char *file = NULL, *dump_path = NULL, *port_file = NULL, *log_path = NULL;
  uint64_t size = 0, seed = 1, mtime = 0, port = 0, idle = 30, block = 16384, dump_version = 1;
  uint64_t max_req = 10000, max_sec = 600;
  bool have_size = false, have_mtime = false, ipv6 = false, quiet = false;
  char err[FS_ERRLEN];
  int opt;
  while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    uint64_t *num = NULL;
    bool suffix = false;
    switch (opt) {
    case O_FILE:
      file = optarg;
      break;
    case O_SIZE:
      num = &size;
      suffix = true;
      have_size = true;
      break;
    case O_SEED:
      num = &seed;
      break;
    case O_MTIME:
      num = &mtime;
      have_mtime = true;
      break;
    case O_NO_ETAG:
      G.no_etag = true;
      break;
    case O_WEAK_ETAG:
      G.weak_etag = true;
      break;
    case O_LONG_ETAG:
      num = &G.long_etag;
      break;
    case O_NO_LASTMOD:
      G.no_lastmod = true;
      break;
    case O_NO_AR:
      G.no_accept_ranges = true;
      break;
    case O_DUMP:
      dump_path = optarg;
      break;
    case O_DUMP_VERSION:
      num = &dump_version;
      break;
    case O_PORT:
      num = &port;
      break;
    case O_PORT_FILE:
      port_file = optarg;
      break;
    case O_IPV6:
      ipv6 = true;
      break;
    case O_IDLE:
      num = &idle;
      break;
    case O_BLOCK:
      num = &block;
      suffix = true;
      break;
    case O_LOG:
      log_path = optarg;
      break;
    case O_WATCH:
      if (G.nwatch == MAX_WATCH || strlen(optarg) >= sizeof G.watch[0] || !*optarg)
        return die("too many or too long --watch-header: %s", optarg);
      copy_str(G.watch[G.nwatch++], sizeof G.watch[0], optarg);
      break;
    case O_MAX_REQ:
      num = &max_req;
      break;
    case O_MAX_SEC:
      num = &max_sec;
      break;
    case O_QUIET:
      quiet = true;
      break;
    case O_SELF_TEST:
      return fs_self_test() ? 1 : 0;
    case O_FAULT:
      if (G.nfaults == FS_MAX_FAULTS)
        return die("more than 32 faults at %s", optarg);
      if (fs_fault_parse(optarg, &G.faults[G.nfaults], err)) {
        fprintf(stderr, "fault_server: --fault %s: %s\n", optarg, err);
        return 2;
      }
      G.nfaults++;
      break;
    case 'h':
    case O_HELP:
      fputs(USAGE, stdout);
      return 0;
    default:
      fputs(USAGE, stderr);
      return 2;
    }
    if (num && fs_parse_u64(optarg, num, suffix))
      return die("not a number: %s", optarg);
  }
  if (optind < argc)
    return die("unexpected argument %s (see --help)", argv[optind]);
  if (!file == !have_size)
    return die("%s", "give exactly one of --file PATH and --size N");
  if (port > 65535 || dump_version < 1 || dump_version > 2 || block == 0 || block > (1u << 24) ||
      idle == 0 || idle > 86400 || max_req == 0 || max_sec == 0)
    return die("%s", "option out of range (see --help)");
  G.block = (size_t)block;

  /* The object. */
  const unsigned char *base = NULL;
  if (file) {
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
      return die("cannot read regular file %s", file);
    size = (uint64_t)st.st_size;
    if (!have_mtime)
      mtime = (uint64_t)st.st_mtime;
    if (size) {
      void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (m == MAP_FAILED)
        return die("cannot map %s", file);
      base = m;
    }
    close(fd);
  } else if (!have_mtime) {
    mtime = 1700000000;
  }
  uint64_t v2_size = UINT64_MAX;
  for (int i = 0; i < G.nfaults; i++)
    if (G.faults[i].kind == FK_CHANGE && G.faults[i].new_size != UINT64_MAX)
      v2_size = G.faults[i].new_size;
  fs_object_init(&G.obj, base, size, size, seed, (time_t)mtime, v2_size, G.weak_etag);
  if (G.long_etag) {
    /* a run of x before the usual tag: a client that keeps only the first 256 characters sees
     * the same ETag for both versions */
    if (G.long_etag < 300 || G.long_etag >= FS_ETAG_MAX)
      return die("--long-etag takes 300 to 4095 characters%s", "");
    for (int v = 1; v <= 2; v++) {
      char tag[64];
      copy_str(tag, sizeof tag, G.obj.etag[v] + (G.weak_etag ? 3 : 1)); /* pf1-...\" */
      size_t pad = (size_t)G.long_etag - strlen(tag) - (G.weak_etag ? 3 : 1);
      char *p = G.obj.etag[v] + (G.weak_etag ? 3 : 1);
      memset(p, 'x', pad);
      copy_str(p + pad, FS_ETAG_MAX - (size_t)(p + pad - G.obj.etag[v]), tag);
    }
  }
  G.rng = seed * 0x9E3779B97F4A7C15ULL | 1;
  if (dump_path)
    return dump(dump_path, (int)dump_version);

  /* Stalls must not count as idleness. */
  for (int i = 0; i < G.nfaults; i++)
    if (G.faults[i].kind == FK_STALL && (uint64_t)G.faults[i].stall_ms / 1000 + 30 > idle)
      idle = (uint64_t)G.faults[i].stall_ms / 1000 + 30;

  if (log_path) {
    G.log = fopen(log_path, "a");
    if (!G.log)
      return die("cannot open log %s", log_path);
  }

  /* Signals: taken only by the main thread's sigtimedwait; the daemons' threads inherit the
   * blocked mask. */
  sigset_t stop_sigs;
  sigemptyset(&stop_sigs);
  sigaddset(&stop_sigs, SIGINT);
  sigaddset(&stop_sigs, SIGTERM);
  sigaddset(&stop_sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct MHD_Daemon *d4 = start_daemon(false, (unsigned)port, (unsigned)idle, quiet), *d6 = NULL;
  if (!d4) {
    char p[24];
    snprintf(p, sizeof p, "%" PRIu64, port);
    return die("cannot listen on 127.0.0.1 port %s", p);
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(d4, MHD_DAEMON_INFO_BIND_PORT);
  unsigned bound = di ? di->port : (unsigned)port;
  atomic_store(&G.port, bound);
  if (ipv6) {
    d6 = start_daemon(true, bound, (unsigned)idle, quiet);
    if (!d6) {
      MHD_stop_daemon(d4);
      return die("%s", "cannot listen on [::1] on the same port");
    }
  }
  printf("port %u\n", bound);
  fflush(stdout);
  if (port_file && write_port_file(port_file, bound) != 0) {
    MHD_stop_daemon(d4);
    if (d6)
      MHD_stop_daemon(d6);
    return die("cannot write %s", port_file);
  }

  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  const char *why = "max-seconds";
  for (;;) {
    struct timespec tick = {0, 100 * 1000 * 1000};
    int sig = sigtimedwait(&stop_sigs, NULL, &tick);
    if (sig > 0) {
      why = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP";
      break;
    }
    if (atomic_load(&G.completed) >= max_req) {
      why = "max-requests";
      break;
    }
    if (since(&t0) >= (double)max_sec)
      break;
  }
  atomic_store(&G.stopping, true);
  if (d6)
    MHD_stop_daemon(d6);
  MHD_stop_daemon(d4);
  fprintf(stderr, "fault_server: stopped (%s): requests %" PRIu64 ", bytes_sent %" PRIu64 "\n", why,
          atomic_load(&G.requests), atomic_load(&G.bytes_sent));
  if (G.log)
    fclose(G.log);
  if (base)
    munmap((void *)base, (size_t)size);
  return 0;
}
