/* bench/delayline.c - a userspace delay line between two network namespaces,
 * for kernels without the netem qdisc.
 *
 *   delayline NETNS_A TUN_A NETNS_B TUN_B DELAY_US MAX_SECONDS
 *
 * Creates a TUN device named TUN_A inside the network namespace NETNS_A (a path
 * such as /var/run/netns/NAME) and TUN_B inside NETNS_B, then forwards every
 * packet read from one to the other, holding each one DELAY_US microseconds
 * (so the round trip is 2 x DELAY_US plus a few microseconds). Packets keep
 * their order; a direction whose queue is full drops (counted, printed at exit).
 * Prints "ready" on stdout once both devices exist; the caller then gives them
 * addresses and brings them up with ip(8).
 *
 * The devices use IFF_VNET_HDR with checksum and TSO offloads (as a VM's tap
 * does): TCP keeps an ordinary 1500-byte MTU and MSS, so slow start and
 * congestion control see real packet sizes, while the kernel hands this
 * program segmentation-offload "super packets" of up to 64 KiB, so it moves
 * gigabits per second on one core without being the bottleneck.
 *
 * Exits on SIGTERM/SIGINT/SIGHUP, when its parent dies, or after MAX_SECONDS.
 * The devices disappear with it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define PKT_MAX (65536 + 64)       /* vnet header + one GSO packet */
#define RING_BYTES (128u << 20)    /* per direction: 128 MiB = 50 Gbit/s x 20 ms */
#define RING_PKTS (1u << 16)
#define READ_BATCH 256

struct meta {
    uint64_t due_ns;
    uint32_t off, len;
};

struct dir {
    const char *name;
    int in, out;
    uint8_t *buf;
    uint32_t tail; /* byte offset just after the newest packet */
    struct meta *m;
    uint32_t mh, mt, count;
    uint64_t pkts, bytes, drops, write_errs;
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int open_tun_in(const char *nspath, const char *name, int home_ns)
{
    int ns = open(nspath, O_RDONLY | O_CLOEXEC);
    if (ns < 0) {
        fprintf(stderr, "delayline: open %s: %s\n", nspath, strerror(errno));
        return -1;
    }
    if (setns(ns, CLONE_NEWNET) != 0) {
        fprintf(stderr, "delayline: setns %s: %s\n", nspath, strerror(errno));
        close(ns);
        return -1;
    }
    close(ns);
    /* The device is created in the namespace /dev/net/tun is opened in. */
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    int rc = -1;
    if (fd < 0) {
        fprintf(stderr, "delayline: open /dev/net/tun: %s\n", strerror(errno));
        goto back;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
        fprintf(stderr, "delayline: TUNSETIFF %s: %s\n", name, strerror(errno));
        goto back;
    }
    int hdr = (int)sizeof(struct virtio_net_hdr);
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) != 0) {
        fprintf(stderr, "delayline: TUNSETVNETHDRSZ: %s\n", strerror(errno));
        goto back;
    }
    unsigned off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
    if (ioctl(fd, TUNSETOFFLOAD, off) != 0) {
        fprintf(stderr, "delayline: TUNSETOFFLOAD: %s (continuing without TSO)\n",
                strerror(errno));
    }
    rc = fd;
back:
    if (setns(home_ns, CLONE_NEWNET) != 0) {
        fprintf(stderr, "delayline: setns back: %s\n", strerror(errno));
        rc = -1;
    }
    if (rc < 0 && fd >= 0)
        close(fd);
    return rc;
}

/* Where a packet of len bytes fits in the byte ring, or -1 when it is full. */
static int64_t ring_place(const struct dir *d, uint32_t len)
{
    if (d->count == 0)
        return 0;
    if (d->count == RING_PKTS)
        return -1;
    uint32_t h = d->m[d->mh].off, t = d->tail;
    if (t >= h) {
        if ((uint64_t)t + len <= RING_BYTES)
            return t;
        if (len < h)
            return 0;
        return -1;
    }
    if ((uint64_t)t + len < h)
        return t;
    return -1;
}

static void pump_in(struct dir *d, uint64_t delay_ns, uint8_t *tmp)
{
    for (int i = 0; i < READ_BATCH; i++) {
        ssize_t n = read(d->in, tmp, PKT_MAX);
        if (n <= 0)
            return; /* EAGAIN (or nothing): drained */
        int64_t pos = ring_place(d, (uint32_t)n);
        if (pos < 0) {
            d->drops++;
            continue;
        }
        memcpy(d->buf + pos, tmp, (size_t)n);
        struct meta *m = &d->m[d->mt];
        m->due_ns = now_ns() + delay_ns;
        m->off = (uint32_t)pos;
        m->len = (uint32_t)n;
        d->mt = (d->mt + 1) & (RING_PKTS - 1);
        d->count++;
        d->tail = (uint32_t)pos + (uint32_t)n;
    }
}

static void pump_out(struct dir *d, uint64_t now)
{
    while (d->count > 0) {
        struct meta *m = &d->m[d->mh];
        if (m->due_ns > now)
            return;
        ssize_t n = write(d->out, d->buf + m->off, m->len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return; /* retry on the next turn */
            d->write_errs++;
        } else {
            d->pkts++;
            d->bytes += m->len;
        }
        d->mh = (d->mh + 1) & (RING_PKTS - 1);
        d->count--;
    }
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: delayline NETNS_A TUN_A NETNS_B TUN_B DELAY_US MAX_SECONDS\n");
        return 2;
    }
    uint64_t delay_ns = strtoull(argv[5], NULL, 10) * 1000ull;
    uint64_t max_ns = strtoull(argv[6], NULL, 10) * 1000000000ull;

    prctl(PR_SET_PDEATHSIG, SIGTERM);
    prctl(PR_SET_TIMERSLACK, 1UL); /* wake on time, not up to 50 us late */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0) {
        perror("delayline: /proc/self/ns/net");
        return 1;
    }
    int fa = open_tun_in(argv[1], argv[2], home);
    if (fa < 0)
        return 1;
    int fb = open_tun_in(argv[3], argv[4], home);
    if (fb < 0)
        return 1;

    struct dir d[2] = {
        {.name = "a->b", .in = fa, .out = fb},
        {.name = "b->a", .in = fb, .out = fa},
    };
    for (int i = 0; i < 2; i++) {
        d[i].buf = malloc(RING_BYTES);
        d[i].m = calloc(RING_PKTS, sizeof(struct meta));
        if (!d[i].buf || !d[i].m) {
            fprintf(stderr, "delayline: out of memory\n");
            return 1;
        }
    }
    uint8_t *tmp = malloc(PKT_MAX);
    if (!tmp)
        return 1;

    printf("ready\n");
    fflush(stdout);

    uint64_t start = now_ns();
    while (!g_stop) {
        uint64_t now = now_ns();
        if (now - start > max_ns) {
            fprintf(stderr, "delayline: MAX_SECONDS reached, exiting\n");
            break;
        }
        pump_out(&d[0], now);
        pump_out(&d[1], now);

        /* Sleep until a packet arrives or the oldest held one is due (<= 1 s). */
        uint64_t wait = 1000000000ull;
        for (int i = 0; i < 2; i++) {
            if (d[i].count > 0) {
                uint64_t due = d[i].m[d[i].mh].due_ns;
                uint64_t w = due > now ? due - now : 0;
                if (w < wait)
                    wait = w;
            }
        }
        struct pollfd p[2] = {{.fd = fa, .events = POLLIN}, {.fd = fb, .events = POLLIN}};
        struct timespec ts = {.tv_sec = (time_t)(wait / 1000000000ull),
                              .tv_nsec = (long)(wait % 1000000000ull)};
        int r = ppoll(p, 2, &ts, NULL);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            perror("delayline: ppoll");
            break;
        }
        if (p[0].revents & POLLIN)
            pump_in(&d[0], delay_ns, tmp);
        if (p[1].revents & POLLIN)
            pump_in(&d[1], delay_ns, tmp);
        if ((p[0].revents | p[1].revents) & (POLLERR | POLLHUP | POLLNVAL)) {
            fprintf(stderr, "delayline: device error, exiting\n");
            break;
        }
    }
    for (int i = 0; i < 2; i++)
        fprintf(stderr, "delayline: %s %llu packets, %llu bytes, %llu dropped (queue full), "
                        "%llu write errors\n",
                d[i].name, (unsigned long long)d[i].pkts, (unsigned long long)d[i].bytes,
                (unsigned long long)d[i].drops, (unsigned long long)d[i].write_errs);
    return 0;
}
