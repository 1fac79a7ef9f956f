/* bench/pacing_shim.c - LD_PRELOAD shim for the benchmark's nginx: caps every
 * accepted TCP connection with the kernel's SO_MAX_PACING_RATE, so the cap
 * holds from the first byte of every reply whatever its size (nginx's
 * limit_rate lets the start of a reply through at full speed).
 *
 * Environment (read once, by a constructor in the process that loads the
 * shim, i.e. nginx's master before it forks; the workers inherit the parsed
 * values, not the environment, which nginx clears for them):
 *   PFB_PACING_RATE       bytes per second for every accepted connection
 *                         (unset or 0: the shim does nothing)
 *   PFB_SLOW_NTH          1-based index of the one connection that gets
 *                         PFB_SLOW_RATE instead (0 or unset: none)
 *   PFB_SLOW_RATE         bytes per second for that connection
 *   PFB_COUNTER_FILE      an 8-byte file, mapped shared, that counts accepted
 *                         connections across all nginx workers; the harness
 *                         zeroes it (without truncating) before every run
 *   PFB_MSS               if set, TCP_MAXSEG for every listening socket (set in
 *                         listen(), so accepted connections inherit it). The
 *                         kernel does not pace a connection's first 10
 *                         segments; with loopback's 64 KiB MSS that is a
 *                         640 KiB free burst per connection, with an Ethernet
 *                         MSS (1448) it is 14 KiB, as on a real link.
 *   PFB_SHIM_LOG          optional file: one line per accepted connection
 *                         (pid, index, rate), appended
 *
 * Without fq, the kernel paces TCP itself (tcp internal pacing, Linux >= 4.13)
 * as soon as a socket asks for it, which setting SO_MAX_PACING_RATE does.
 *
 * Build: cc -O2 -shared -fPIC -o pacing_shim.so pacing_shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_MAX_PACING_RATE
#define SO_MAX_PACING_RATE 47
#endif

static int (*real_accept)(int, struct sockaddr *, socklen_t *);
static int (*real_accept4)(int, struct sockaddr *, socklen_t *, int);
static int (*real_listen)(int, int);
static int g_mss;
static unsigned long long g_rate, g_slow_rate;
static unsigned long long g_slow_nth;
static volatile uint64_t *g_counter;
static uint64_t g_local_counter;
static const char *g_log;

static unsigned long long env_ull(const char *name)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return 0;
    return strtoull(s, NULL, 10);
}

__attribute__((constructor)) static void shim_init(void)
{
    real_accept = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
    real_accept4 =
        (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
    real_listen = (int (*)(int, int))dlsym(RTLD_NEXT, "listen");
    g_mss = (int)env_ull("PFB_MSS");
    g_rate = env_ull("PFB_PACING_RATE");
    g_slow_nth = env_ull("PFB_SLOW_NTH");
    g_slow_rate = env_ull("PFB_SLOW_RATE");
    /* Copy: nginx rewrites the original environment block for its process
     * titles and gives workers a cleared environment; everything is read here,
     * in the master, before it forks. */
    const char *lg = getenv("PFB_SHIM_LOG");
    if (lg && *lg)
        g_log = strdup(lg);
    const char *cf = getenv("PFB_COUNTER_FILE");
    if (cf && *cf) {
        /* Mapped in the master before it forks: every worker shares the page. */
        int fd = open(cf, O_RDWR);
        if (fd >= 0) {
            void *p = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (p != MAP_FAILED)
                g_counter = (volatile uint64_t *)p;
            close(fd);
        }
    }
}

static void set_rate(int fd, unsigned long long rate)
{
    if (rate == 0)
        return;
    /* The kernel takes 32 bits, or 64 when optlen says so (Linux >= 4.20). */
    if (rate < 0xffffffffULL) {
        unsigned int r = (unsigned int)rate;
        setsockopt(fd, SOL_SOCKET, SO_MAX_PACING_RATE, &r, sizeof r);
    } else {
        uint64_t r = rate;
        setsockopt(fd, SOL_SOCKET, SO_MAX_PACING_RATE, &r, sizeof r);
    }
}

static void on_accept(int fd)
{
    if (fd < 0 || (g_rate == 0 && g_slow_nth == 0))
        return;
    uint64_t n = g_counter ? __atomic_add_fetch(g_counter, 1, __ATOMIC_SEQ_CST)
                           : ++g_local_counter;
    unsigned long long rate = (g_slow_nth && n == g_slow_nth) ? g_slow_rate : g_rate;
    int saved = errno;
    set_rate(fd, rate);
    if (g_log) {
        unsigned int got = 0;
        socklen_t gl = sizeof got;
        getsockopt(fd, SOL_SOCKET, SO_MAX_PACING_RATE, &got, &gl);
        FILE *f = fopen(g_log, "a");
        if (f) {
            fprintf(f, "pid=%ld conn=%llu rate=%llu kernel=%u\n", (long)getpid(),
                    (unsigned long long)n, rate, got);
            fclose(f);
        }
    }
    errno = saved;
}

int listen(int s, int backlog)
{
    if (!real_listen) {
        errno = ENOSYS;
        return -1;
    }
    if (g_mss > 0) {
        int saved = errno;
        setsockopt(s, IPPROTO_TCP, TCP_MAXSEG, &g_mss, sizeof g_mss);
        errno = saved;
    }
    return real_listen(s, backlog);
}

int accept(int s, struct sockaddr *addr, socklen_t *len)
{
    if (!real_accept) {
        errno = ENOSYS;
        return -1;
    }
    int fd = real_accept(s, addr, len);
    on_accept(fd);
    return fd;
}

int accept4(int s, struct sockaddr *addr, socklen_t *len, int flags)
{
    if (!real_accept4) {
        errno = ENOSYS;
        return -1;
    }
    int fd = real_accept4(s, addr, len, flags);
    on_accept(fd);
    return fd;
}
