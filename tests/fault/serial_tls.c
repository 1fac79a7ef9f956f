/*
 * serial_tls.c - an HTTPS file server that completes TLS handshakes one
 * connection at a time in its accept loop, for the integration tests.
 *
 * It behaves like Python's http.server on an ssl-wrapped listening socket
 * (ThreadingHTTPServer, do_handshake_on_connect) and like several embedded
 * servers: the main thread accepts a connection and runs a blocking
 * SSL_accept on it before it accepts the next, so a connection that never
 * sends its ClientHello holds up every connection queued behind it (by
 * default for ever: no handshake timeout, as in Python). Once handshaked,
 * a connection is served by a detached thread of its own: GET and HEAD of
 * one file, with byte ranges (200, 206 + Content-Range, 416), Content-Length,
 * a strong ETag and HTTP/1.1 keep-alive.
 *
 *   serial_tls --cert PEM --key PEM --file PATH [--port N] [--max-seconds N]
 *              [--handshake-timeout-ms N] [--hold-requests N [--hold-ms MS]]
 *              [--log FILE] [--addr IPV4] [--handshake-in-thread]
 *
 * Prints "port N" on stdout once it listens on 127.0.0.1:N (or on --addr;
 * --port 0, the default, lets the kernel choose). The file is served at "/"
 * + its base name (any query string is ignored); other paths get 404.
 *   --hold-requests N         the first N requests get no reply (the
 *                             connection stays open until the client closes
 *                             it): a probe that waits for a reply in vain
 *   --hold-ms MS              answer those after MS ms instead
 *   --handshake-timeout-ms N  give up a handshake that sees nothing for N ms
 *                             (default: never, as Python)
 *   --handshake-in-thread     handshake in the connection's thread instead:
 *                             an ordinary threaded server, as a control
 *   --addr IPV4               listen there (a network namespace's address)
 * The log gets one line per accepted connection, handshake and request:
 *   accept conn=N / handshake conn=N ok|failed / closed conn=N /
 *   request conn=N GET /x range=bytes=a-b status=206 (or held)
 * It exits 0 after --max-seconds (default 120) and on SIGTERM or SIGINT, even
 * while blocked in a handshake.
 *
 * Threads: main (accept + handshake), one per connection; they
 * share only the SSL_CTX, the file descriptor of the file (pread) and the
 * log (a FILE *, locked by stdio).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static SSL_CTX *ctx;
static int file_fd = -1;
static uint64_t file_size;
static char file_path[512]; /* "/" + base name */
static char etag[64];
static FILE *log_fp;
static atomic_uint next_conn;
static atomic_long hold_left; /* requests still to hold */
static long hold_ms;          /* for this long; 0: for ever */

static void on_signal(int sig) {
  (void)sig;
  _exit(0); /* async-signal-safe; also ends a blocking SSL_accept */
}

static void logline(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logline(const char *fmt, ...) {
  if (!log_fp)
    return;
  va_list ap;
  va_start(ap, fmt);
  flockfile(log_fp);
  vfprintf(log_fp, fmt, ap);
  fputc('\n', log_fp);
  fflush(log_fp);
  funlockfile(log_fp);
  va_end(ap);
}

static int write_all(SSL *ssl, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    int chunk = len > (1u << 30) ? 1 << 30 : (int)len;
    int n = SSL_write(ssl, p, chunk);
    if (n <= 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Parse "bytes=A-B", "bytes=A-" or "bytes=-N" against file_size into
 * [*first, *last]. Returns 1 if satisfiable, 0 if not (416), -1 if the
 * header is not a single byte range (ignored: 200). */
static int parse_range(const char *v, uint64_t *first, uint64_t *last) {
  while (*v == ' ')
    v++;
  if (strncasecmp(v, "bytes=", 6) != 0)
    return -1;
  v += 6;
  if (strchr(v, ','))
    return -1;
  char *end;
  if (*v == '-') {
    errno = 0;
    unsigned long long n = strtoull(v + 1, &end, 10);
    if (errno || end == v + 1 || (*end && *end != '\r'))
      return -1;
    if (n == 0 || file_size == 0)
      return 0;
    *first = n >= file_size ? 0 : file_size - n;
    *last = file_size - 1;
    return 1;
  }
  errno = 0;
  unsigned long long a = strtoull(v, &end, 10);
  if (errno || end == v || *end != '-')
    return -1;
  v = end + 1;
  unsigned long long b = file_size ? file_size - 1 : 0;
  if (*v && *v != '\r') {
    b = strtoull(v, &end, 10);
    if (errno || end == v || (*end && *end != '\r') || b < a)
      return -1;
    if (b >= file_size)
      b = file_size - 1;
  }
  if (a >= file_size)
    return 0;
  *first = a;
  *last = b;
  return 1;
}

/* The value of header NAME in the request head HDRS (NUL-terminated), or
 * NULL; the value ends at "\r". */
static const char *header(const char *hdrs, const char *name) {
  size_t nl = strlen(name);
  for (const char *l = strstr(hdrs, "\r\n"); l; l = strstr(l, "\r\n")) {
    l += 2;
    if (strncasecmp(l, name, nl) == 0 && l[nl] == ':')
      return l + nl + 1;
  }
  return NULL;
}

/* Serve requests on one handshaked connection until it closes. */
static void serve(SSL *ssl, unsigned conn) {
  char req[8192];
  size_t have = 0;
  for (;;) {
    char *eoh;
    req[have] = '\0';
    while (!(eoh = strstr(req, "\r\n\r\n"))) {
      if (have + 1 >= sizeof req)
        return;
      int n = SSL_read(ssl, req + have, (int)(sizeof req - 1 - have));
      if (n <= 0)
        return;
      have += (size_t)n;
      req[have] = '\0';
    }
    eoh[2] = '\0'; /* keep the last header's "\r\n" for header() */
    size_t used = (size_t)(eoh + 4 - req);
    char method[8], path[1024], version[16];
    if (sscanf(req, "%7s %1023s %15s", method, path, version) != 3)
      return;
    char *q = strchr(path, '?');
    if (q)
      *q = '\0';
    int head = strcmp(method, "HEAD") == 0;
    int keep = strcmp(version, "HTTP/1.1") == 0;
    const char *c = header(req, "Connection");
    if (c && strncasecmp(c + strspn(c, " \t"), "close", 5) == 0)
      keep = 0;
    char hdr[1024];
    uint64_t first = 0, last = file_size ? file_size - 1 : 0, len = file_size;
    int status;
    const char *rh = header(req, "Range");
    char rv_buf[256], *rv = NULL;
    if (rh) {
      rh += strspn(rh, " \t");
      snprintf(rv_buf, sizeof rv_buf, "%.*s", (int)strcspn(rh, "\r"), rh);
      rv = rv_buf;
    }
    if (!head && strcmp(method, "GET") != 0) {
      status = 405;
      len = 0;
      snprintf(hdr, sizeof hdr, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n");
    } else if (strcmp(path, file_path) != 0) {
      status = 404;
      len = 0;
      snprintf(hdr, sizeof hdr, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n");
    } else {
      int r = rv ? parse_range(rv, &first, &last) : -1;
      if (r == 0) {
        status = 416;
        len = 0;
        snprintf(hdr, sizeof hdr,
                 "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */%" PRIu64
                 "\r\nContent-Length: 0\r\nETag: %s\r\n",
                 file_size, etag);
      } else if (r == 1) {
        status = 206;
        len = last - first + 1;
        snprintf(hdr, sizeof hdr,
                 "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %" PRIu64 "-%" PRIu64
                 "/%" PRIu64 "\r\nContent-Length: %" PRIu64
                 "\r\nETag: %s\r\nAccept-Ranges: bytes\r\n",
                 first, last, file_size, len, etag);
      } else {
        status = 200;
        snprintf(hdr, sizeof hdr,
                 "HTTP/1.1 200 OK\r\nContent-Length: %" PRIu64
                 "\r\nETag: %s\r\nAccept-Ranges: bytes\r\n",
                 file_size, etag);
      }
    }
    size_t hl = strlen(hdr);
    snprintf(hdr + hl, sizeof hdr - hl, "Content-Type: application/octet-stream\r\n%s\r\n",
             keep ? "" : "Connection: close\r\n");
    if (atomic_fetch_sub(&hold_left, 1) > 0) {
      logline("request conn=%u %s %s range=%s held", conn, method, path, rv ? rv : "-");
      if (hold_ms == 0) {
        /* no reply; wait for the client to give up */
        while (SSL_read(ssl, req, sizeof req) > 0)
          ;
        return;
      }
      usleep((useconds_t)hold_ms * 1000);
    }
    logline("request conn=%u %s %s range=%s status=%d", conn, method, path,
            rv ? rv : "-", status);
    if (write_all(ssl, hdr, strlen(hdr)) != 0)
      return;
    if (!head && (status == 200 || status == 206)) {
      static _Thread_local char buf[64 * 1024];
      uint64_t off = first, left = len;
      while (left > 0) {
        size_t want = left > sizeof buf ? sizeof buf : (size_t)left;
        ssize_t n = pread(file_fd, buf, want, (off_t)off);
        if (n <= 0 || write_all(ssl, buf, (size_t)n) != 0)
          return;
        off += (uint64_t)n;
        left -= (uint64_t)n;
      }
    }
    if (!keep)
      return;
    memmove(req, req + used, have - used);
    have -= used;
  }
}

static void set_rcvtimeo(int fd, long ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static int handshake_in_thread; /* --handshake-in-thread: a control that does not serialise */

struct conn {
  SSL *ssl;
  int fd;
  unsigned id;
};

/* A blocking SSL_accept; 0 if done. */
static int handshake(SSL *ssl, int fd, unsigned id) {
  if (SSL_accept(ssl) != 1) {
    logline("handshake conn=%u failed", id);
    ERR_clear_error();
    return -1;
  }
  logline("handshake conn=%u ok", id);
  set_rcvtimeo(fd, 30000); /* an idle keep-alive connection ends after 30 s */
  return 0;
}

static void *conn_main(void *arg) {
  struct conn *c = arg;
  if (!handshake_in_thread || handshake(c->ssl, c->fd, c->id) == 0)
    serve(c->ssl, c->id);
  SSL_shutdown(c->ssl);
  SSL_free(c->ssl);
  close(c->fd);
  logline("closed conn=%u", c->id);
  free(c);
  return NULL;
}

static void usage(void) {
  fprintf(stderr, "usage: serial_tls --cert PEM --key PEM --file PATH [--port N] "
                  "[--max-seconds N] [--handshake-timeout-ms N] [--hold-requests N [--hold-ms MS]]\n"
                  "       [--log FILE]"
                  " [--addr IPV4] [--handshake-in-thread]\n");
  exit(2);
}

static long num(const char *v, const char *opt) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || end == v || *end || n < 0) {
    fprintf(stderr, "serial_tls: %s wants a number >= 0, not \"%s\"\n", opt, v);
    exit(2);
  }
  return n;
}

int main(int argc, char **argv) {
  const char *cert = NULL, *key = NULL, *file = NULL, *log_path = NULL, *bind_addr = "127.0.0.1";
  long port = 0, max_seconds = 120, hs_timeout_ms = 0;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (strcmp(o, "--handshake-in-thread") == 0) {
      handshake_in_thread = 1;
      continue;
    }
    if (i + 1 >= argc)
      usage();
    const char *v = argv[++i];
    if (strcmp(o, "--cert") == 0)
      cert = v;
    else if (strcmp(o, "--key") == 0)
      key = v;
    else if (strcmp(o, "--file") == 0)
      file = v;
    else if (strcmp(o, "--log") == 0)
      log_path = v;
    else if (strcmp(o, "--port") == 0)
      port = num(v, o);
    else if (strcmp(o, "--max-seconds") == 0)
      max_seconds = num(v, o);
    else if (strcmp(o, "--handshake-timeout-ms") == 0)
      hs_timeout_ms = num(v, o);
    else if (strcmp(o, "--addr") == 0)
      bind_addr = v;
    else if (strcmp(o, "--hold-ms") == 0)
      hold_ms = num(v, o);
    else if (strcmp(o, "--hold-requests") == 0)
      atomic_store(&hold_left, num(v, o));
    else
      usage();
  }
  if (!cert || !key || !file || port > 65535 || max_seconds == 0)
    usage();

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGALRM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  alarm((unsigned)max_seconds);

  file_fd = open(file, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (file_fd < 0 || fstat(file_fd, &st) != 0) {
    fprintf(stderr, "serial_tls: %s: %s\n", file, strerror(errno));
    return 1;
  }
  file_size = (uint64_t)st.st_size;
  const char *base = strrchr(file, '/');
  snprintf(file_path, sizeof file_path, "/%s", base ? base + 1 : file);
  snprintf(etag, sizeof etag, "\"%" PRIx64 "-%lx\"", file_size, (unsigned long)st.st_mtime);
  if (log_path && !(log_fp = fopen(log_path, "a"))) {
    fprintf(stderr, "serial_tls: %s: %s\n", log_path, strerror(errno));
    return 1;
  }

  ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
    fprintf(stderr, "serial_tls: cannot load %s / %s:\n", cert, key);
    ERR_print_errors_fp(stderr);
    return 1;
  }

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, bind_addr, &addr.sin_addr) != 1) {
    fprintf(stderr, "serial_tls: --addr wants an IPv4 address, not \"%s\"\n", bind_addr);
    return 2;
  }
  socklen_t alen = sizeof addr;
  if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 64) != 0 ||
      getsockname(lfd, (struct sockaddr *)&addr, &alen) != 0) {
    fprintf(stderr, "serial_tls: cannot listen on %s:%ld: %s\n", bind_addr, port, strerror(errno));
    return 1;
  }
  printf("port %u\n", (unsigned)ntohs(addr.sin_port));
  fflush(stdout);

  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
        if (errno == EMFILE || errno == ENFILE)
          usleep(100000);
        continue;
      }
      fprintf(stderr, "serial_tls: accept: %s\n", strerror(errno));
      return 1;
    }
    unsigned id = atomic_fetch_add(&next_conn, 1) + 1;
    logline("accept conn=%u", id);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (hs_timeout_ms > 0)
      set_rcvtimeo(fd, hs_timeout_ms);
    SSL *ssl = SSL_new(ctx);
    /* the handshake, here in the accept loop: the next connection waits */
    if (!ssl || SSL_set_fd(ssl, fd) != 1 || (!handshake_in_thread && handshake(ssl, fd, id) != 0)) {
      SSL_free(ssl);
      close(fd);
      continue;
    }
    struct conn *c = malloc(sizeof *c);
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (!c) {
      SSL_free(ssl);
      close(fd);
    } else {
      *c = (struct conn){ssl, fd, id};
      if (pthread_create(&t, &at, conn_main, c) != 0) {
        SSL_free(ssl);
        close(fd);
        free(c);
      }
    }
    pthread_attr_destroy(&at);
  }
}
