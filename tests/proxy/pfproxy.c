/* pfproxy.c - a loopback TCP proxy that delays and misbehaves, for parfetch's tests and bench.
 *
 *   pfproxy --upstream 127.0.0.1:PORT [--port N] [--port-file P] [--delay MS] [--window BYTES]
 *           [--connect-rtt 0|1] [--chaos SEED] [--chaos-mix pass=40,reset=15,...]
 *           [--chaos-after BYTES] [--stall-ms MS] [--trickle BPS] [--log FILE] [--max-seconds N]
 *
 * DESIGN
 *   One thread, one epoll loop, no library beyond libc. The proxy listens on 127.0.0.1 (port 0 =
 *   the kernel picks; the port is printed on stdout as one line and written to --port-file) and,
 *   per accepted client, opens a connection to --upstream (loopback only: 127.0.0.0/8 or ::1).
 *   Each connection has two directions, c2s (client to server: the requests) and s2c (server to
 *   client: the replies). A direction is a FIFO of chunks, each stamped with the time it is due:
 *
 *     --delay MS      every chunk read from one side is written to the other MS after it was
 *                     read, so a request/reply round trip costs 2 x MS. With --connect-rtt 1 (the
 *                     default when --delay is set) the first bytes of a connection are also held
 *                     until one round trip after the accept, as a TCP handshake over that path
 *                     would cost: a new connection's first reply comes 4 x MS after connect().
 *     --window BYTES  (default 4 MiB) at most this many bytes wait in one direction's queue; past
 *                     it the proxy stops reading that side, so the sender sees real TCP back-
 *                     pressure. This models a TCP window over the long path: one connection moves
 *                     at most BYTES per MS (window / one-way delay), e.g. 4 MiB / 200 ms = 20 MiB/s,
 *                     while the bandwidth itself is unlimited. Memory stays below about
 *                     2 x (BYTES + 256 KiB) per connection.
 *
 *   --chaos SEED draws each connection's fate from a PRNG (splitmix64) over (SEED, connection
 *   index), the index counting accepted connections from 0, so a given seed and client behaviour
 *   replay the same campaign. Weights come from --chaos-mix (default
 *   pass=40,reset=15,stall=15,close=15,trickle=15). Every fate but pass applies once the
 *   connection has forwarded N reply (s2c) bytes, N uniform in [0, --chaos-after) (default
 *   8 MiB); a connection that ends earlier never meets its fate:
 *     pass     forward untouched
 *     reset    close both sides with SO_LINGER 0 (the client sees ECONNRESET)
 *     stall    forward nothing in either direction for --stall-ms (default 40000), then go on
 *     close    a clean FIN to the client (the reply is cut short), the upstream is dropped;
 *              whatever the client still sends is read and discarded
 *     trickle  from then on the replies move at --trickle bytes/s (default 262144)
 *   Chaos and --delay combine.
 *
 *   Log (--log FILE, else stderr), one line per event, fields key=value:
 *     listen port=P upstream=H:P delay_ms=D window=W connect_rtt=0|1 chaos=on|off
 *     chaos seed=S mix=... after<N stall_ms=T trickle_bps=R    (with --chaos)
 *     open conn=I fate=F after=N                  at accept
 *     fate conn=I fate=F c2s=B s2c=B ms=T         when the fate applies
 *     close conn=I fate=F hit=0|1 c2s=B s2c=B ms=T end=REASON
 *           REASON: done (both sides finished), reset, close (the fates), client-error,
 *                   upstream-error, connect-failed, drained, shutdown (the proxy is exiting)
 *     exit conns=N reason=R
 *
 *   Bounded by itself: --max-seconds (default 3600), SIGTERM/SIGINT/SIGHUP (signalfd) and the
 *   death of its parent (PR_SET_PDEATHSIG) end it; open connections are then reset.
 *
 * THREADS
 *   One: main() owns everything.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_MAX (256u * 1024u)
#define MAX_CONNS 1024
#define DRAIN_NS (10ull * 1000000000ull)
#define NS_PER_MS UINT64_C(1000000)
#define NEVER UINT64_MAX

enum fate { F_PASS, F_RESET, F_STALL, F_CLOSE, F_TRICKLE, F_COUNT };
static const char *const fate_name[F_COUNT] = {"pass", "reset", "stall", "close", "trickle"};

struct chunk {
    struct chunk *next;
    uint64_t due_ns;
    uint32_t len, off;
    bool eof; /* a FIN marker: shut the destination's write side when due */
    unsigned char data[];
};

struct dir {
    struct chunk *head, *tail;
    size_t queued;  /* bytes in the queue not yet written */
    bool src_eof;   /* the source side sent FIN (its marker is queued or delivered) */
    bool eof_sent;  /* the marker was delivered */
    bool want_out;  /* the destination returned EAGAIN: wait for EPOLLOUT */
    uint64_t fwd;   /* bytes written to the destination */
};

struct conn;
struct end { /* one socket of a connection; epoll's data.ptr */
    struct conn *c;
    int fd;
    uint32_t mask; /* events registered with epoll; 0 = not registered */
};

struct conn {
    struct conn *prev, *next;
    uint64_t index;
    struct end cli, up;
    bool connecting;
    struct dir c2s, s2c;
    uint64_t accept_ns, hold_until_ns;
    enum fate fate;
    uint64_t after;     /* s2c bytes before the fate applies */
    bool hit;           /* the fate has applied */
    uint64_t stall_until_ns;
    uint64_t trickle_ns; /* when trickling began */
    bool draining;       /* "close" fate: reading the client until it closes */
    uint64_t drain_until_ns;
    bool dead;
};

static struct {
    uint16_t port;
    const char *port_file;
    struct sockaddr_storage up_addr;
    socklen_t up_len;
    const char *up_text;
    uint64_t delay_ns;
    size_t window;
    int connect_rtt; /* -1 = default (1 with --delay) */
    bool chaos;
    uint64_t seed;
    unsigned weight[F_COUNT];
    uint64_t chaos_after;
    uint64_t stall_ns;
    uint64_t trickle_bps;
    const char *log_path;
    unsigned max_seconds;
} O = {
    .window = 4u << 20,
    .connect_rtt = -1,
    .weight = {40, 15, 15, 15, 15},
    .chaos_after = 8u << 20,
    .stall_ns = 40000 * NS_PER_MS,
    .trickle_bps = 262144,
    .max_seconds = 3600,
};

static FILE *logfp;
static int ep = -1;
static struct conn *conns; /* live connections, a doubly linked list */
static struct conn *graveyard; /* closed this iteration, freed after the event batch */
static unsigned nconns;
static uint64_t accepted;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void plog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void plog(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(logfp, fmt, ap);
    va_end(ap);
    fputc('\n', logfp);
    fflush(logfp);
}

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("pfproxy: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

/* ------------------------------------------------------------------ options */

static uint64_t parse_u64(const char *opt, const char *s, uint64_t max)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        die("%s: '%s' is not a non-negative integer", opt, s);
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        die("%s: '%s' is not an integer in 0..%" PRIu64, opt, s, max);
    return v;
}

/* HOST:PORT with HOST 127.x.x.x, localhost or [::1]: the proxy never leaves loopback. */
static void parse_upstream(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        die("--upstream: '%s' is not HOST:PORT", s);
    uint16_t port = (uint16_t)parse_u64("--upstream port", colon + 1, 65535);
    char host[64];
    size_t hl = (size_t)(colon - s);
    if (hl >= sizeof host)
        die("--upstream: host too long in '%s'", s);
    memcpy(host, s, hl);
    host[hl] = 0;
    memset(&O.up_addr, 0, sizeof O.up_addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&O.up_addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&O.up_addr;
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        if ((ntohl(v4->sin_addr.s_addr) >> 24) != 127)
            die("--upstream: %s is not a loopback address (127.0.0.0/8)", host);
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        O.up_len = sizeof *v4;
    } else if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = 0;
        if (inet_pton(AF_INET6, host + 1, &v6->sin6_addr) != 1 ||
            !IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr))
            die("--upstream: %s] is not the IPv6 loopback [::1]", host);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        O.up_len = sizeof *v6;
    } else {
        die("--upstream: '%s' is not 127.x.x.x, localhost or [::1]", host);
    }
    O.up_text = s;
}

static void parse_mix(const char *s)
{
    unsigned w[F_COUNT] = {0};
    char buf[256];
    if (strlen(s) >= sizeof buf)
        die("--chaos-mix: too long");
    strcpy(buf, s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            die("--chaos-mix: '%s' is not NAME=WEIGHT", tok);
        *eq = 0;
        int f = -1;
        for (int i = 0; i < F_COUNT; i++)
            if (strcmp(tok, fate_name[i]) == 0)
                f = i;
        if (f < 0)
            die("--chaos-mix: unknown fate '%s' (pass, reset, stall, close, trickle)", tok);
        w[f] = (unsigned)parse_u64("--chaos-mix weight", eq + 1, 1000000);
    }
    unsigned total = 0;
    for (int i = 0; i < F_COUNT; i++)
        total += w[i];
    if (total == 0)
        die("--chaos-mix: all weights are 0");
    memcpy(O.weight, w, sizeof w);
}

static const char USAGE[] =
    "usage: pfproxy --upstream HOST:PORT [options]   (loopback only; see the top of pfproxy.c)\n"
    "  --port N            listen on 127.0.0.1:N (default 0: the kernel picks; printed on stdout)\n"
    "  --port-file PATH    also write the port there\n"
    "  --delay MS          hold each direction's bytes MS before forwarding (round trip 2 x MS)\n"
    "  --window BYTES      per connection and direction in-flight cap (default 4194304)\n"
    "  --connect-rtt 0|1   charge a new connection one round trip (default 1 with --delay)\n"
    "  --chaos SEED        per-connection fates drawn from SEED and the connection index\n"
    "  --chaos-mix LIST    weights, default pass=40,reset=15,stall=15,close=15,trickle=15\n"
    "  --chaos-after BYTES fates apply after uniform [0, BYTES) reply bytes (default 8388608)\n"
    "  --stall-ms MS       how long a stall lasts (default 40000)\n"
    "  --trickle BPS       trickle rate in bytes/s (default 262144)\n"
    "  --log FILE          event log (default stderr)\n"
    "  --max-seconds N     exit after N seconds (default 3600)\n";

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(USAGE, stdout);
            exit(0);
        }
        if (i + 1 >= argc)
            die("%s needs a value (or unknown option)\n%s", a, USAGE);
        const char *v = argv[++i];
        if (strcmp(a, "--upstream") == 0)
            parse_upstream(v);
        else if (strcmp(a, "--port") == 0)
            O.port = (uint16_t)parse_u64(a, v, 65535);
        else if (strcmp(a, "--port-file") == 0)
            O.port_file = v;
        else if (strcmp(a, "--delay") == 0)
            O.delay_ns = parse_u64(a, v, 600000) * NS_PER_MS;
        else if (strcmp(a, "--window") == 0)
            O.window = (size_t)parse_u64(a, v, 1ull << 32);
        else if (strcmp(a, "--connect-rtt") == 0)
            O.connect_rtt = (int)parse_u64(a, v, 1);
        else if (strcmp(a, "--chaos") == 0) {
            O.chaos = true;
            O.seed = parse_u64(a, v, UINT64_MAX);
        } else if (strcmp(a, "--chaos-mix") == 0)
            parse_mix(v);
        else if (strcmp(a, "--chaos-after") == 0)
            O.chaos_after = parse_u64(a, v, UINT64_MAX);
        else if (strcmp(a, "--stall-ms") == 0)
            O.stall_ns = parse_u64(a, v, 86400000) * NS_PER_MS;
        else if (strcmp(a, "--trickle") == 0)
            O.trickle_bps = parse_u64(a, v, UINT64_MAX);
        else if (strcmp(a, "--log") == 0)
            O.log_path = v;
        else if (strcmp(a, "--max-seconds") == 0)
            O.max_seconds = (unsigned)parse_u64(a, v, 86400);
        else
            die("unknown option %s\n%s", a, USAGE);
    }
    if (!O.up_len)
        die("--upstream HOST:PORT is required\n%s", USAGE);
    if (O.window < 1)
        die("--window must be at least 1");
    if (O.trickle_bps < 1)
        die("--trickle must be at least 1 byte/s");
    if (O.chaos_after < 1)
        O.chaos_after = 1;
    if (O.connect_rtt < 0)
        O.connect_rtt = O.delay_ns > 0;
}

/* ------------------------------------------------------------------ chaos */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void draw_fate(struct conn *c)
{
    c->fate = F_PASS;
    c->after = 0;
    if (!O.chaos)
        return;
    uint64_t s = O.seed ^ (c->index * 0xD1B54A32D192ED03ull);
    splitmix64(&s); /* decorrelate neighbouring seeds */
    unsigned total = 0;
    for (int i = 0; i < F_COUNT; i++)
        total += O.weight[i];
    uint64_t r = splitmix64(&s) % total;
    for (int i = 0; i < F_COUNT; i++) {
        if (r < O.weight[i]) {
            c->fate = (enum fate)i;
            break;
        }
        r -= O.weight[i];
    }
    c->after = splitmix64(&s) % O.chaos_after;
}

/* ------------------------------------------------------------------ connections */

static void set_mask(struct end *e, uint32_t mask)
{
    if (e->fd < 0 || mask == e->mask)
        return;
    struct epoll_event ev = {.events = mask, .data.ptr = e};
    /* An end with nothing to wait for leaves the epoll set: EPOLLHUP/EPOLLERR would otherwise
     * be reported on it again and again while it is not being read (window full). */
    int op = mask == 0 ? EPOLL_CTL_DEL : e->mask == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(ep, op, e->fd, &ev) != 0)
        die("epoll_ctl(fd %d): %s", e->fd, strerror(errno));
    e->mask = mask;
}

static void close_end(struct end *e, bool rst)
{
    if (e->fd < 0)
        return;
    set_mask(e, 0);
    if (rst) {
        struct linger l = {.l_onoff = 1, .l_linger = 0};
        setsockopt(e->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(e->fd);
    e->fd = -1;
}

static void free_queue(struct dir *d)
{
    for (struct chunk *k = d->head, *n; k; k = n) {
        n = k->next;
        free(k);
    }
    d->head = d->tail = NULL;
    d->queued = 0;
}

static double ms_since(const struct conn *c, uint64_t now)
{
    return (double)(now - c->accept_ns) / 1e6;
}

static void conn_end(struct conn *c, const char *reason, bool rst)
{
    if (c->dead)
        return;
    uint64_t now = now_ns();
    plog("close conn=%" PRIu64 " fate=%s hit=%d c2s=%" PRIu64 " s2c=%" PRIu64 " ms=%.0f end=%s",
         c->index, fate_name[c->fate], c->hit, c->c2s.fwd, c->s2c.fwd, ms_since(c, now), reason);
    close_end(&c->cli, rst);
    close_end(&c->up, rst);
    free_queue(&c->c2s);
    free_queue(&c->s2c);
    c->dead = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = graveyard;
    graveyard = c;
    nconns--;
}

static void set_nonblock_nodelay(int fd)
{
    int one = 1;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void on_accept(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                return;
            plog("accept-error errno=%d (%s)", errno, strerror(errno));
            return;
        }
        uint64_t index = accepted++;
        if (nconns >= MAX_CONNS) {
            plog("refuse conn=%" PRIu64 " open=%u", index, nconns);
            close(fd);
            continue;
        }
        struct conn *c = calloc(1, sizeof *c);
        if (!c)
            die("out of memory");
        c->index = index;
        c->cli = (struct end){c, fd, 0};
        c->up = (struct end){c, -1, 0};
        c->accept_ns = now_ns();
        c->hold_until_ns = c->accept_ns + (O.connect_rtt ? 2 * O.delay_ns : 0);
        draw_fate(c);
        set_nonblock_nodelay(fd);
        c->next = conns;
        if (conns)
            conns->prev = c;
        conns = c;
        nconns++;
        plog("open conn=%" PRIu64 " fate=%s after=%" PRIu64, c->index, fate_name[c->fate],
             c->fate == F_PASS ? 0 : c->after);

        int u = socket(O.up_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (u < 0) {
            conn_end(c, "connect-failed", true);
            continue;
        }
        c->up.fd = u;
        set_nonblock_nodelay(u);
        if (connect(u, (struct sockaddr *)&O.up_addr, O.up_len) != 0 && errno != EINPROGRESS) {
            conn_end(c, "connect-failed", true);
            continue;
        }
        c->connecting = true;
    }
}

/* The fate applies: c->s2c.fwd has reached c->after. */
static void apply_fate(struct conn *c, uint64_t now)
{
    c->hit = true;
    plog("fate conn=%" PRIu64 " fate=%s c2s=%" PRIu64 " s2c=%" PRIu64 " ms=%.0f", c->index,
         fate_name[c->fate], c->c2s.fwd, c->s2c.fwd, ms_since(c, now));
    switch (c->fate) {
    case F_PASS:
        break;
    case F_RESET:
        conn_end(c, "reset", true);
        break;
    case F_STALL:
        c->stall_until_ns = now + O.stall_ns;
        break;
    case F_CLOSE:
        /* FIN to the client; the upstream goes (reset: nothing it says matters any more). */
        shutdown(c->cli.fd, SHUT_WR);
        close_end(&c->up, true);
        free_queue(&c->c2s);
        free_queue(&c->s2c);
        c->draining = true;
        c->drain_until_ns = now + DRAIN_NS;
        break;
    case F_TRICKLE:
        c->trickle_ns = now;
        break;
    case F_COUNT:
        break;
    }
}

/* How many bytes of d's head may go now (SIZE_MAX: no limit); sets *wake when it is later. */
static size_t allowance(const struct conn *c, const struct dir *d, uint64_t now, uint64_t *wake)
{
    if (c->stall_until_ns > now) {
        *wake = c->stall_until_ns;
        return 0;
    }
    if (d != &c->s2c)
        return SIZE_MAX;
    if (c->fate != F_PASS && !c->hit)
        return (size_t)(c->after - c->s2c.fwd);
    if (c->fate == F_TRICKLE && c->hit) {
        uint64_t sent = c->s2c.fwd - c->after;
        uint64_t may = (uint64_t)((double)(now - c->trickle_ns) / 1e9 * (double)O.trickle_bps);
        if (may > sent)
            return (size_t)(may - sent);
        /* next 4 KiB (or one 50th of a second's worth, if smaller) */
        uint64_t step = O.trickle_bps / 50 < 4096 ? O.trickle_bps / 50 + 1 : 4096;
        *wake = c->trickle_ns + (uint64_t)((double)(sent + step) * 1e9 / (double)O.trickle_bps);
        return 0;
    }
    return SIZE_MAX;
}

/* Write what is due from d to fd. Returns false when the connection ended. */
static bool flush_dir(struct conn *c, struct dir *d, struct end *dst, uint64_t now)
{
    while (d->head && !d->want_out && !c->dead) {
        struct chunk *k = d->head;
        uint64_t wake = NEVER;
        if (k->due_ns > now)
            return true;
        if (k->eof) {
            shutdown(dst->fd, SHUT_WR);
            d->eof_sent = true;
            d->head = k->next;
            if (!d->head)
                d->tail = NULL;
            free(k);
            continue;
        }
        size_t n = k->len - k->off;
        size_t may = allowance(c, d, now, &wake);
        if (d == &c->s2c && c->fate != F_PASS && !c->hit && may == 0) {
            apply_fate(c, now);
            if (c->dead || c->draining)
                return !c->dead;
            continue;
        }
        if (may == 0)
            return true;
        if (n > may)
            n = may;
        ssize_t w = send(dst->fd, k->data + k->off, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                d->want_out = true;
                return true;
            }
            conn_end(c, dst == &c->cli ? "client-error" : "upstream-error", true);
            return false;
        }
        k->off += (uint32_t)w;
        d->fwd += (uint64_t)w;
        d->queued -= (size_t)w;
        if (k->off == k->len) {
            d->head = k->next;
            if (!d->head)
                d->tail = NULL;
            free(k);
        }
        if ((size_t)w < n) {
            d->want_out = true;
            return true;
        }
    }
    return !c->dead;
}

static void enqueue(struct dir *d, const void *data, size_t len, bool eof, uint64_t due)
{
    struct chunk *k = malloc(sizeof *k + len);
    if (!k)
        die("out of memory");
    k->next = NULL;
    k->due_ns = due;
    k->len = (uint32_t)len;
    k->off = 0;
    k->eof = eof;
    if (len)
        memcpy(k->data, data, len);
    if (d->tail)
        d->tail->next = k;
    else
        d->head = k;
    d->tail = k;
    d->queued += len;
}

/* One read from src into d. Returns false when the connection ended. */
static bool read_dir(struct conn *c, struct dir *d, struct end *src, uint64_t now)
{
    static unsigned char buf[READ_MAX];
    ssize_t r = recv(src->fd, buf, sizeof buf, 0);
    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return true;
        conn_end(c, src == &c->cli ? "client-error" : "upstream-error", true);
        return false;
    }
    uint64_t due = now;
    if (d == &c->c2s && due < c->hold_until_ns)
        due = c->hold_until_ns;
    due += O.delay_ns;
    if (r == 0)
        d->src_eof = true;
    enqueue(d, buf, (size_t)r, r == 0, due);
    return true;
}

static void drain_client(struct conn *c)
{
    static unsigned char buf[READ_MAX];
    ssize_t r = recv(c->cli.fd, buf, sizeof buf, 0);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
        conn_end(c, "close", false);
}

static void update_masks(struct conn *c)
{
    if (c->dead)
        return;
    if (c->draining) {
        set_mask(&c->cli, EPOLLIN);
        return;
    }
    uint32_t cm = 0, um = 0;
    if (!c->c2s.src_eof && c->c2s.queued < O.window)
        cm |= EPOLLIN;
    if (c->s2c.want_out)
        cm |= EPOLLOUT;
    if (c->connecting) {
        um = EPOLLOUT;
    } else {
        if (!c->s2c.src_eof && c->s2c.queued < O.window)
            um |= EPOLLIN;
        if (c->c2s.want_out)
            um |= EPOLLOUT;
    }
    set_mask(&c->cli, cm);
    set_mask(&c->up, um);
}

/* Forward what is due, end a finished connection, refresh the epoll interest. */
static void service(struct conn *c, uint64_t now)
{
    if (c->dead)
        return;
    if (c->draining) {
        if (now >= c->drain_until_ns)
            conn_end(c, "drained", true);
        update_masks(c);
        return;
    }
    if (!c->connecting && !flush_dir(c, &c->c2s, &c->up, now))
        return;
    if (!c->draining && !flush_dir(c, &c->s2c, &c->cli, now))
        return;
    if (!c->draining && c->c2s.eof_sent && c->s2c.eof_sent) {
        conn_end(c, "done", false);
        return;
    }
    update_masks(c);
}

static uint64_t dir_wake(const struct conn *c, const struct dir *d, uint64_t now)
{
    if (!d->head || d->want_out)
        return NEVER;
    if (d == &c->c2s && c->connecting)
        return NEVER;
    if (d->head->due_ns > now)
        return d->head->due_ns;
    uint64_t wake = NEVER;
    if (d->head->eof || allowance(c, d, now, &wake) > 0 ||
        (d == &c->s2c && c->fate != F_PASS && !c->hit))
        return now; /* ready now */
    return wake;
}

static uint64_t conn_wake(const struct conn *c, uint64_t now)
{
    if (c->draining)
        return c->drain_until_ns;
    uint64_t a = dir_wake(c, &c->c2s, now), b = dir_wake(c, &c->s2c, now);
    return a < b ? a : b;
}

static void on_event(struct end *e, uint32_t ev, uint64_t now)
{
    struct conn *c = e->c;
    if (c->dead)
        return;
    if (c->draining) {
        if (e == &c->cli)
            drain_client(c);
        return;
    }
    if (e == &c->up && c->connecting) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(e->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            plog("connect-error conn=%" PRIu64 " errno=%d (%s)", c->index, err, strerror(err));
            conn_end(c, "connect-failed", true);
            return;
        }
        c->connecting = false;
        return;
    }
    struct dir *in = e == &c->cli ? &c->c2s : &c->s2c;  /* what e's bytes feed */
    struct dir *out = e == &c->cli ? &c->s2c : &c->c2s; /* what is written to e */
    if (ev & EPOLLOUT)
        out->want_out = false;
    if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && (e->mask & EPOLLIN))
        read_dir(c, in, e, now);
    else if ((ev & (EPOLLHUP | EPOLLERR)) && !(ev & EPOLLOUT))
        out->want_out = false; /* let the next write find the error */
}

/* ------------------------------------------------------------------ main */

static int listen_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(O.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("bind 127.0.0.1:%u: %s", O.port, strerror(errno));
    if (listen(fd, 512) != 0)
        die("listen: %s", strerror(errno));
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    O.port = ntohs(a.sin_port);
    return fd;
}

static void write_port_file(void)
{
    if (!O.port_file)
        return;
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", O.port_file) >= (int)sizeof tmp)
        die("--port-file: path too long");
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%u\n", O.port) < 0 || fclose(f) != 0)
        die("%s: %s", tmp, strerror(errno));
    if (rename(tmp, O.port_file) != 0)
        die("rename %s -> %s: %s", tmp, O.port_file, strerror(errno));
}

int main(int argc, char **argv)
{
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        return 0; /* the parent died before the line above */
    parse_args(argc, argv);
    logfp = stderr;
    if (O.log_path && !(logfp = fopen(O.log_path, "a")))
        die("--log %s: %s", O.log_path, strerror(errno));

    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    sigaddset(&ss, SIGHUP);
    sigprocmask(SIG_BLOCK, &ss, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (sfd < 0 || ep < 0)
        die("signalfd/epoll_create1: %s", strerror(errno));
    int lfd = listen_socket();
    struct end lend = {NULL, lfd, 0}, send_ = {NULL, sfd, 0};
    set_mask(&lend, EPOLLIN);
    set_mask(&send_, EPOLLIN);

    write_port_file();
    printf("%u\n", O.port);
    fflush(stdout);
    plog("listen port=%u upstream=%s delay_ms=%" PRIu64 " window=%zu connect_rtt=%d chaos=%s", O.port,
         O.up_text, O.delay_ns / NS_PER_MS, O.window, O.connect_rtt, O.chaos ? "on" : "off");
    if (O.chaos) {
        plog("chaos seed=%" PRIu64 " mix=pass=%u,reset=%u,stall=%u,close=%u,trickle=%u after<%" PRIu64
             " stall_ms=%" PRIu64 " trickle_bps=%" PRIu64,
             O.seed, O.weight[F_PASS], O.weight[F_RESET], O.weight[F_STALL], O.weight[F_CLOSE],
             O.weight[F_TRICKLE], O.chaos_after, O.stall_ns / NS_PER_MS, O.trickle_bps);
    }

    uint64_t deadline = now_ns() + (uint64_t)O.max_seconds * 1000000000ull;
    const char *why = "max-seconds";
    struct epoll_event evs[128];
    for (;;) {
        uint64_t now = now_ns();
        if (now >= deadline)
            break;
        uint64_t wake = deadline;
        for (struct conn *c = conns; c; c = c->next) {
            uint64_t w = conn_wake(c, now);
            if (w < wake)
                wake = w;
        }
        int timeout = wake <= now ? 0 : (int)((wake - now + NS_PER_MS - 1) / NS_PER_MS);
        int n = epoll_wait(ep, evs, 128, timeout);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        now = now_ns();
        bool stop = false;
        for (int i = 0; i < n; i++) {
            struct end *e = evs[i].data.ptr;
            if (e == &lend) {
                on_accept(lfd);
            } else if (e == &send_) {
                struct signalfd_siginfo si;
                if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                    stop = true;
                    why = si.ssi_signo == SIGTERM ? "SIGTERM" : si.ssi_signo == SIGINT ? "SIGINT"
                                                                                       : "SIGHUP";
                }
            } else {
                on_event(e, evs[i].events, now);
            }
        }
        if (stop)
            break;
        for (struct conn *c = conns, *next; c; c = next) {
            next = c->next;
            service(c, now);
        }
        while (graveyard) {
            struct conn *c = graveyard;
            graveyard = c->next;
            free(c);
        }
    }
    while (conns)
        conn_end(conns, "shutdown", true);
    while (graveyard) {
        struct conn *c = graveyard;
        graveyard = c->next;
        free(c);
    }
    plog("exit conns=%" PRIu64 " reason=%s", accepted, why);
    return 0;
}
