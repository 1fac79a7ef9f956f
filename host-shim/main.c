/*
 * main.c - `parfetch`, the reference host: the CLI of DESIGN.md ("Reference
 * CLI contract"). It parses flags, discovers config files, loads the plugin,
 * and drives downloads through the ABI: config_new, config_load for each
 * file, config_set for each flag (flags win), then for one URL open, run,
 * close; for several (URL URL ..., -i FILE) one client (client_new) and at
 * most -j objects at once on it (open_on, run, close), sharing its
 * connection budget. One download is run_job() over a struct job, which
 * keeps the object's result (status, exit code, error, stats) for the
 * summary.
 *
 * Credentials (-u, --netrc, --netrc-file; credentials.c) become one Authorization
 * header in pf_open_args.headers: the plugin sends it to the URL's host only
 * (with several objects: -u once for all, the netrc file looked up per URL).
 * With --json, one object (report.c) is written when each download has ended.
 *
 * Exit status: 0 done and verified; 1 remote or network failure; 2 usage,
 * config or plugin-load error; 3 integrity failure; 4 local I/O error;
 * 130/143 after SIGINT/SIGTERM. Errors are one line on stderr:
 * "parfetch: <strerror>: <detail>".
 *
 * Several objects: the exit status is the worst of theirs, ranked by
 * number (4 local I/O > 3 integrity > 2 usage > 1 remote > 0), and 130/143
 * after a signal above all.
 *
 * Threads: the main thread does all of the above for one URL. While it
 * blocks in run(), the plugin's threads work and the progress thread
 * (progress.c) polls get_stats(). With several objects the main thread
 * starts min(-j, objects) worker threads (every signal blocked) that take
 * the next job from a queue (struct queue, its mutex) and run it, and waits
 * for them; the board's thread (progress.c) draws them all. SIGINT/SIGTERM
 * handlers may run on any thread that does not block them: they only record
 * the signal and call entry->cancel() on each running session, which is
 * [signal-safe]; the session pointers they read are published and withdrawn
 * with atomics (a slot per worker) so close() never races a handler. The
 * stdout sink is called by the plugin's writer thread only (never
 * concurrently with itself).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "credentials.h"
#include "discover.h"
#include "inputfile.h"
#include "loader.h"
#include "parfetch.h"
#include "progress.h"
#include "report.h"
#include "text.h" /* plugin/text.c, linked into the host too */

#define HOST_VERSION PF_VERSION

#ifndef PF_SYSCONFDIR
#define PF_SYSCONFDIR "/etc/parfetch"
#endif

enum {
  EXIT_DONE = 0,
  EXIT_REMOTE = 1,
  EXIT_USAGE = 2, /* also config and plugin-load errors */
  EXIT_INTEGRITY = 3,
  EXIT_LOCAL = 4
};

/* One flag that becomes a config_set(key, value) call, in command-line order. */
struct flag {
  const char *option; /* as the user wrote it, for messages */
  const char *key;
  const char *value;
};

struct opts {
  const char *output; /* -o; "-" is stdout */
  int remote_name;    /* -O */
  const char *config; /* -c */
  const char *plugin; /* --plugin */
  const char *checksum; /* --checksum, in our spelling (malloc'd) */
  const char *input;    /* -i FILE; "-" is stdin */
  const char *dir;      /* -d */
  unsigned jobs;        /* -j */
  int resume, quiet, version, verbose, keep_going;
  int json;               /* --json */
  const char *user;       /* -u user[:password] */
  int netrc;              /* --netrc */
  const char *netrc_file; /* --netrc-file */
  char *auth;             /* the Authorization header -u or the netrc file made, or NULL */
  const char *url;   /* the first URL on the command line */
  char **urls;       /* all of them (argv), nurls */
  size_t nurls;
  struct flag *flags;
  size_t nflags;
  const char **mirrors; /* --mirror, NULL-terminated (args.mirrors) */
  size_t nmirrors;
};

/* --- messages ------------------------------------------------------------ */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The board of several downloads while it is shown (set and cleared by the
 * main thread while no worker runs): messages go above it. */
static pfh_board *g_board;

/* Every line this host prints to stderr: control characters escaped, URL
 * passwords redacted (the same filter as the plugin's messages). */
static void vsay(const char *tail, const char *fmt, va_list ap) {
  char line[8192];
  pf_text_vformat(line, sizeof line, fmt, ap);
  if (g_board) {
    char all[8400];
    int n = snprintf(all, sizeof all, "parfetch: %s\n%s", line, tail);
    pfh_board_print(g_board, all, n < 0 ? 0 : (size_t)n < sizeof all ? (size_t)n : sizeof all - 1);
    return;
  }
  fprintf(stderr, "parfetch: %s\n%s", line, tail);
}

static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay("", fmt, ap);
  va_end(ap);
}

static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay("Try 'parfetch --help' for more information.\n", fmt, ap);
  va_end(ap);
  return EXIT_USAGE;
}

static void print_help(void) {
  fputs("Usage: parfetch [options] URL [URL...]\n"
        "       parfetch [options] -i FILE\n"
        "Download URL over parallel HTTP(S) range requests; several objects at once\n"
        "on one engine (one connection budget) when given several URLs or -i.\n"
        "\n"
        "  -o, --output FILE        write to FILE (\"-\" = stdout, in order); one URL only\n"
        "  -O, --remote-name        name the file after the URL's last path segment\n"
        "                           (also the default when neither -o nor -O is given)\n"
        "  -d, --dir DIR            put the outputs in DIR (which must exist)\n"
        "  -i, --input-file FILE    the objects to fetch, from FILE (\"-\" = stdin): a URL\n"
        "                           a line (TAB-separated URLs: mirrors of one object),\n"
        "                           then indented out=NAME, dir=DIR, checksum=ALGO=HEX\n"
        "                           lines for it (aria2c's input-file format); # comments\n"
        "  -j, --jobs N             objects fetched at once (default 5)\n"
        "      --keep-going         after a failure, still start the objects not yet\n"
        "                           started (without it they are skipped; running ones\n"
        "                           finish either way)\n"
        "  -c, --config FILE        YAML config; else the first of $PARFETCH_CONFIG,\n"
        "                           $XDG_CONFIG_HOME/parfetch/config.yaml and\n"
        "                           " PF_SYSCONFDIR "/config.yaml; then the drop-ins\n"
        "                           " PF_SYSCONFDIR "/conf.d/*.yaml\n"
        "      --plugin PATH        plugin .so to load (overrides the config's plugin:)\n"
        "  -n, --streams N          max parallel streams\n"
        "      --min-part-size SIZE smallest part worth its own stream (512K, 8MiB, 1G)\n"
        "      --limit-rate SIZE    at most SIZE body bytes per second, all streams\n"
        "                           together (500K, 2M; 0 = no limit)\n"        "      --checksum ALGO=HEX  sha1, sha256, sha512 or md5; verified before the\n"
        "                           file appears\n"
        "  -H, --header 'K: V'      extra request header (repeatable)\n"
        "      --cacert FILE        extra CA bundle\n"
        "      --insecure           do not verify TLS certificates\n"
        "  -C, --continue           resume a partial download of the same object\n"
        "      --user-agent TEXT    User-Agent header\n"
        "      --proxy URL          proxy to use\n"
        "      --connect-timeout D  connect timeout (500ms, 10s)\n"
        "      --retries N          attempts per part\n"
        "  -u, --user USER:PASSWORD HTTP Basic credentials, sent to the URL's host only\n"
        "                           (never after a redirect to another host); -u USER\n"
        "                           asks for the password on the terminal\n"
        "      --netrc              credentials for the URL's host from ~/.netrc, if any\n"
        "      --netrc-file FILE    the same from FILE (which must exist); -u wins\n"
        "      --json               one JSON object per download when it ends, on stdout\n"
        "                           (on stderr with -o -); see parfetch(1), JSON OUTPUT\n"
        "      --mirror URL         another URL of the same object (repeatable): parts\n"
        "                           are spread over URL and its mirrors by their rate\n"
        "  -q, --quiet              no progress bar\n"
        "  -v, --verbose            requests, replies, retries and steals on stderr\n"
        "                           (credential headers shown as <redacted>)\n"
        "  -h, --help               this help\n"
        "  -V, --version            host and plugin versions\n"
        "\n"
        "Exit status: 0 done and verified; 1 remote or network failure; 2 usage,\n"
        "config or plugin-load error; 3 integrity failure (checksum, object changed,\n"
        "bad range reply); 4 local I/O error; 130/143 interrupted. With several\n"
        "objects, the highest of their statuses (130/143 above all).\n",
        stdout);
}

/* --- argument checks ------------------------------------------------------ */

/* A decimal integer >= 1 with nothing around it. */
static int is_count(const char *s) {
  if (!*s)
    return 0;
  for (const char *p = s; *p; p++)
    if (*p < '0' || *p > '9')
      return 0;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  return errno == 0 && *end == '\0' && v >= 1;
}

static int check_header(const char *h) {
  const char *colon = strchr(h, ':');
  if (!colon || colon == h || strpbrk(h, "\r\n"))
    return -1;
  for (const char *p = h; p < colon; p++)
    if (*p == ' ' || *p == '\t')
      return -1;
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/*
 * The file name for -O (and for no -o at all): the URL's last path segment
 * (query and fragment dropped), percent-decoded. Refuses an empty name, "."
 * and "..", and names that would leave the current directory or hide control
 * characters ('/', NUL, bytes below 0x20, DEL). Returns a malloc'd name or
 * NULL with why set.
 */
static char *name_from_url(const char *url, char *why, size_t whylen) {
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  const char *path = p + strcspn(p, "/?#"); /* past the authority */
  const char *end = path + strcspn(path, "?#");
  const char *seg = end;
  while (seg > path && seg[-1] != '/')
    seg--;
  size_t n = (size_t)(end - seg);
  char *name = malloc(n + 1);
  if (!name) {
    snprintf(why, whylen, "out of memory");
    return NULL;
  }
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int hi, lo;
    if (seg[i] == '%' && i + 2 < n && (hi = hexval(seg[i + 1])) >= 0 &&
        (lo = hexval(seg[i + 2])) >= 0) {
      name[o++] = (char)(hi * 16 + lo);
      i += 2;
      if (name[o - 1] == '\0') {
        snprintf(why, whylen, "the URL's file name holds a NUL byte (%%00)");
        free(name);
        return NULL;
      }
    } else {
      name[o++] = seg[i];
    }
  }
  name[o] = '\0';
  const char *bad = NULL;
  if (o == 0)
    bad = "the URL has no file name";
  else if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    bad = "the URL's file name is '.' or '..'";
  else if (strchr(name, '/'))
    bad = "the URL's file name holds a '/' (%2F)";
  for (size_t i = 0; !bad && i < o; i++)
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
      bad = "the URL's file name holds a control character";
  if (bad) {
    snprintf(why, whylen, "%s", bad);
    free(name);
    return NULL;
  }
  return name;
}

/* --- parsing -------------------------------------------------------------- */

enum {
  OPT_PLUGIN = 256,
  OPT_MIN_PART,
  OPT_LIMIT_RATE,
  OPT_CHECKSUM,
  OPT_CACERT,
  OPT_INSECURE,
  OPT_USER_AGENT,
  OPT_PROXY,
  OPT_CONNECT_TIMEOUT,
  OPT_RETRIES,
  OPT_KEEP_GOING,
  OPT_JSON,
  OPT_NETRC,
  OPT_NETRC_FILE,
  OPT_MIRROR
};

#define MAX_JOBS 64 /* -j at most */
#define DEFAULT_JOBS 5 /* as aria2c's --max-concurrent-downloads */

static const struct option long_opts[] = {
    {"output", required_argument, NULL, 'o'},
    {"remote-name", no_argument, NULL, 'O'},
    {"config", required_argument, NULL, 'c'},
    {"plugin", required_argument, NULL, OPT_PLUGIN},
    {"streams", required_argument, NULL, 'n'},
    {"min-part-size", required_argument, NULL, OPT_MIN_PART},
    {"limit-rate", required_argument, NULL, OPT_LIMIT_RATE},
    {"checksum", required_argument, NULL, OPT_CHECKSUM},
    {"header", required_argument, NULL, 'H'},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"continue", no_argument, NULL, 'C'},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"user-agent", required_argument, NULL, OPT_USER_AGENT},
    {"proxy", required_argument, NULL, OPT_PROXY},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"input-file", required_argument, NULL, 'i'},
    {"dir", required_argument, NULL, 'd'},
    {"jobs", required_argument, NULL, 'j'},
    {"keep-going", no_argument, NULL, OPT_KEEP_GOING},
    {"user", required_argument, NULL, 'u'},
    {"netrc", no_argument, NULL, OPT_NETRC},
    {"netrc-file", required_argument, NULL, OPT_NETRC_FILE},
    {"json", no_argument, NULL, OPT_JSON},
    {"mirror", required_argument, NULL, OPT_MIRROR},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static void add_flag(struct opts *o, const char *option, const char *key, const char *value) {
  o->flags[o->nflags++] = (struct flag){option, key, value};
}

/* The name the user typed for the option getopt just returned. */
static const char *opt_name(int c, int long_index, char *buf, size_t len) {
  if (long_index >= 0)
    snprintf(buf, len, "--%s", long_opts[long_index].name);
  else
    snprintf(buf, len, "-%c", c);
  return buf;
}

/* Returns -1 to go on, or an exit status (0 after --help). */
static int parse_args(int argc, char **argv, struct opts *o) {
  memset(o, 0, sizeof *o);
  o->flags = calloc((size_t)argc + 1, sizeof *o->flags); /* at most one per argument */
  if (!o->flags || !(o->mirrors = calloc((size_t)argc + 1, sizeof *o->mirrors))) {
    say("out of memory");
    return EXIT_LOCAL;
  }
  opterr = 0;
  for (;;) {
    int long_index = -1;
    int c = getopt_long(argc, argv, ":o:Oc:n:H:u:Cqvi:d:j:hV", long_opts, &long_index);
    if (c == -1)
      break;
    char name[64];
    char why[256];
    switch (c) {
    case 'o':
      if (!*optarg)
        return usage_error("%s needs a file name", opt_name(c, long_index, name, sizeof name));
      o->output = optarg;
      break;
    case 'O':
      o->remote_name = 1;
      break;
    case 'c':
      o->config = optarg;
      break;
    case OPT_PLUGIN:
      o->plugin = optarg;
      break;
    case 'n':
      if (!is_count(optarg))
        return usage_error("invalid %s value '%s': expected a whole number of at least 1",
                           opt_name(c, long_index, name, sizeof name), optarg);
      add_flag(o, "--streams", "streams", optarg);
      break;
    case OPT_MIN_PART:
      add_flag(o, "--min-part-size", "min_part_size", optarg);
      break;
    case OPT_LIMIT_RATE:
      add_flag(o, "--limit-rate", "rate_limit", optarg);
      break;
    case OPT_CHECKSUM: {
      char *norm = pfh_checksum_normalise(optarg, 1, why, sizeof why, NULL);
      if (!norm)
        return usage_error("invalid --checksum '%s': %s", optarg, why);
      free((char *)o->checksum);
      o->checksum = norm;
      break;
    }
    case 'i':
      if (!*optarg)
        return usage_error("%s needs a file name (\"-\" = stdin)",
                           opt_name(c, long_index, name, sizeof name));
      o->input = optarg;
      break;
    case 'd':
      if (!*optarg)
        return usage_error("%s needs a directory", opt_name(c, long_index, name, sizeof name));
      o->dir = optarg;
      break;
    case 'j': {
      unsigned long j = is_count(optarg) ? strtoul(optarg, NULL, 10) : 0;
      if (j < 1 || j > MAX_JOBS)
        return usage_error("invalid %s value '%s': expected a whole number from 1 to %d",
                           opt_name(c, long_index, name, sizeof name), optarg, MAX_JOBS);
      o->jobs = (unsigned)j;
      break;
    }
    case OPT_KEEP_GOING:
      o->keep_going = 1;
      break;
    case 'u':
      o->user = optarg;
      break;
    case OPT_NETRC:
      o->netrc = 1;
      break;
    case OPT_NETRC_FILE:
      if (!*optarg)
        return usage_error("--netrc-file needs a file name");
      o->netrc_file = optarg;
      break;
    case OPT_JSON:
      o->json = 1;
      break;
    case 'H':
      if (check_header(optarg) != 0)
        return usage_error("invalid %s '%s': expected 'Name: value'",
                           opt_name(c, long_index, name, sizeof name), optarg);
      add_flag(o, "--header", "headers", optarg);
      break;
    case OPT_CACERT:
      add_flag(o, "--cacert", "tls.cacert", optarg);
      break;
    case OPT_INSECURE:
      add_flag(o, "--insecure", "tls.verify", "false");
      break;
    case 'C':
      o->resume = 1;
      break;
    case 'q':
      o->quiet = 1;
      break;
    case 'v':
      o->verbose = 1;
      break;
    case OPT_USER_AGENT:
      add_flag(o, "--user-agent", "user_agent", optarg);
      break;
    case OPT_PROXY:
      add_flag(o, "--proxy", "proxy", optarg);
      break;
    case OPT_CONNECT_TIMEOUT:
      add_flag(o, "--connect-timeout", "connect_timeout", optarg);
      break;
    case OPT_RETRIES:
      if (!is_count(optarg))
        return usage_error("invalid --retries value '%s': expected a whole number of at least 1",
                           optarg);
      add_flag(o, "--retries", "retries", optarg);
      break;
    case OPT_MIRROR:
      if (!*optarg)
        return usage_error("--mirror needs a URL");
      o->mirrors[o->nmirrors++] = optarg;
      break;
    case 'h':
      print_help();
      return EXIT_DONE;
    case 'V':
      o->version = 1;
      break;
    case ':':
      if (optopt)
        return usage_error("option -%c needs a value", optopt);
      return usage_error("option %s needs a value", argv[optind - 1]);
    default: /* '?' */
      if (optopt)
        return usage_error("unknown option -%c", optopt);
      return usage_error("unknown option %s", argv[optind - 1]);
    }
  }
  if (o->version)
    return -1;
  if (!o->jobs)
    o->jobs = DEFAULT_JOBS;
  if (optind >= argc && !o->input)
    return usage_error("no URL given");
  o->urls = argv + optind;
  o->nurls = (size_t)(argc - optind);
  o->url = o->nurls ? argv[optind] : NULL;
  for (size_t i = 0; i < o->nurls; i++)
    if (!*o->urls[i])
      return usage_error("the URL is empty");
  if (o->output && (o->nurls > 1 || o->input))
    return usage_error("-o names one output: with several URLs or -i, each is named after its "
                       "URL (or by out= in an input file; -d DIR places them)");
  if (o->checksum && (o->nurls > 1 || o->input))
    return usage_error("--checksum is for one URL: with several, give each its checksum= in an "
                       "input file (-i)");
  if (o->nmirrors && (o->nurls > 1 || o->input))
    return usage_error("--mirror is for one URL: with several, put an object's mirrors on its "
                       "line of an input file (-i), TAB-separated");
  if (o->output && o->remote_name)
    return usage_error("-o and -O exclude each other");
  if (o->resume && o->output && strcmp(o->output, "-") == 0)
    return usage_error("-C cannot resume a download to stdout");
  return -1;
}

/* --- signals -------------------------------------------------------------- */

/* Handlers touch only lock-free atomics: async-signal-safe. */
_Static_assert(ATOMIC_POINTER_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
               "the signal handler needs lock-free atomics");

static const pf_entry *g_entry; /* set before the handlers are installed */
/* The sessions a handler may cancel, a slot per worker (slot 0 for one URL),
 * NULL when free. */
static _Atomic(pf_session *) g_session[MAX_JOBS];
static atomic_int g_in_handler;         /* handlers running now */
/* The first SIGINT/SIGTERM received, or 0: atomic, as the workers read it. */
static atomic_int g_signal;
static int g_cancel;                    /* open()'s cancel_flag: atomic stores only */

static void on_signal(int sig) {
  int saved = errno;
  atomic_fetch_add(&g_in_handler, 1);
  int none = 0;
  atomic_compare_exchange_strong(&g_signal, &none, sig);
  __atomic_store_n(&g_cancel, 1, __ATOMIC_RELEASE);
  for (size_t i = 0; i < MAX_JOBS; i++) {
    pf_session *s = atomic_load(&g_session[i]);
    if (s)
      g_entry->cancel(s);
  }
  atomic_fetch_sub(&g_in_handler, 1);
  errno = saved;
}

/* SIGINT/SIGTERM cancel the transfer; a second one (SA_RESETHAND) kills the
 * process at once. An inherited SIG_IGN for SIGINT is kept (a background job
 * of a non-interactive shell is meant to ignore ^C). SIGPIPE is ignored so a
 * closed stdout is an EPIPE error, not a silent death. */
static void install_signals(void) {
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_RESETHAND;
  if (sigaction(SIGINT, NULL, &old) != 0 || old.sa_handler != SIG_IGN)
    sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

static void publish_session(size_t slot, pf_session *s) {
  atomic_store(&g_session[slot], s);
}

/* After this returns no handler can still be using the session. */
static void withdraw_session(size_t slot) {
  atomic_store(&g_session[slot], NULL);
  while (atomic_load(&g_in_handler) > 0)
    sched_yield();
}

/* --- the stdout sink -------------------------------------------------------- */

struct stdout_sink {
  int fd;
  uint64_t next; /* the offset the next write must have */
  int closed;    /* the reader went away (EPIPE): the run ends quietly, exit 4 */
};

/* [writer thread] Write len bytes at offset to fd, in order. Never held in
 * write() past a signal: it waits in poll() (which a signal interrupts, and
 * which looks again every 250 ms, should the signal go to another thread)
 * until fd takes bytes, and a write after POLLOUT writes some at once, so a
 * signal while it blocks for the rest ends it with what it wrote (a
 * restarted write would wait for a reader that may never read). */
static int stdout_write(void *ctx, uint64_t offset, const void *buf, size_t len) {
  struct stdout_sink *o = ctx;
  if (offset != o->next)
    return EINVAL; /* the engine broke PF_SINK_IN_ORDER */
  const char *p = buf;
  while (len > 0) {
    if (atomic_load(&g_signal))
      return EINTR; /* run_job() reports the signal */
    struct pollfd pfd = {.fd = o->fd, .events = POLLOUT};
    if (poll(&pfd, 1, 250) == 0)
      continue; /* the reader reads nothing: look at the signal again */
    ssize_t w = write(o->fd, p, len);
    if (w < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) /* a non-blocking stdout */
        continue;
      if (errno == EPIPE)
        o->closed = 1;
      return errno;
    }
    p += w;
    len -= (size_t)w;
    o->next += (uint64_t)w;
  }
  return 0;
}

/* --- the download --------------------------------------------------------- */

static int exit_code(pf_status st) {
  switch (st) {
  case PF_OK:
    return EXIT_DONE;
  case PF_E_NETWORK:
  case PF_E_HTTP:
  case PF_E_NOT_MODIFIED: /* the CLI never asks If-Modified-Since */
  case PF_E_TOO_LARGE:
    return EXIT_REMOTE;
  case PF_E_CONFIG:
  case PF_E_URL:
  case PF_E_INVALID:
    return EXIT_USAGE;
  case PF_E_CHECKSUM:
  case PF_E_CHANGED:
  case PF_E_BAD_REPLY:
    return EXIT_INTEGRITY;
  case PF_E_IO:
  case PF_E_NOMEM:
    return EXIT_LOCAL;
  case PF_E_CANCELLED:
  case PF_E_STATE:
  case PF_E_INTERNAL:
    return EXIT_REMOTE;
  }
  return EXIT_REMOTE; /* a code appended after this host was built */
}

static void report(const pf_entry *e, pf_status st, const char *detail) {
  const char *text = e->strerror(st);
  if (!text || !*text)
    text = "error";
  if (detail && *detail)
    say("%s: %s", text, detail);
  else
    say("%s", text);
}

/* -v: the plugin's log lines, one at a time (the plugin serialises them).
 * Cleaned again: a plugin other than ours may not clean them. */
static void log_line(void *ctx, const char *line) {
  (void)ctx;
  size_t len = strlen(line);
  char *clean = malloc(PF_TEXT_CLEAN_MAX(len));
  if (clean)
    pf_text_clean(clean, PF_TEXT_CLEAN_MAX(len), line, len);
  fprintf(stderr, "* %s\n", clean ? clean : "(out of memory)");
  free(clean);
}

/* One object to download, and once run_job() returns, its result: what a
 * summary or a per-object report needs. */
struct job {
  /* what to fetch */
  const char *url;
  const char *const *mirrors; /* other URLs of it, NULL-terminated; or NULL */
  char *outpath;              /* NULL: stdout */
  const char *checksum;       /* ALGO=HEX or NULL */
  const char *name;           /* shown in progress and messages */
  char *auth;                 /* its Authorization header (-u, netrc) or NULL; wiped */
  /* the result */
  int started;
  pf_status status;          /* PF_OK: done, verified and in place */
  int exit_code;             /* as the process's for this one object */
  char *error;               /* "<strerror>: <detail>", NULL when done */
  char *effective_url;       /* after redirects; NULL if the probe failed */
  pf_stats stats;            /* at the end; struct_size 0 if none */
  pf_info info;              /* size, ranges, http_version (strings not kept) */
  int checksum_verified;     /* a checksum was given and matched */
};

/* What every run_job() of one run shares. */
struct run_ctx {
  const pf_entry *e;
  const pf_config *cfg;
  pf_client *client; /* NULL: one URL, open() the 1.0 way */
  const struct opts *o;
  pfh_board *board; /* NULL: none */
};

/* Record a failure in j: status, exit code, the error line; print it if print. */
static int job_failed(struct job *j, const pf_entry *e, pf_status st, const char *detail,
                      int print) {
  const char *text = e->strerror(st);
  if (!text || !*text)
    text = "error";
  j->status = st;
  j->exit_code = exit_code(st);
  free(j->error);
  if (asprintf(&j->error, detail && *detail ? "%s: %s" : "%s", text, detail) < 0)
    j->error = NULL;
  if (print)
    report(e, st, detail);
  return j->exit_code;
}

/* The session's counters and what the probe learned, into j. */
static void job_snapshot(struct job *j, const pf_entry *e, pf_session *s) {
  memset(&j->stats, 0, sizeof j->stats);
  j->stats.struct_size = sizeof j->stats;
  if (e->get_stats(s, &j->stats) != PF_OK)
    j->stats.struct_size = 0;
  pf_info info = {.struct_size = sizeof info};
  if (e->get_info(s, &info) == PF_OK) {
    j->info = info;
    j->info.etag = j->info.last_modified = j->info.content_type = NULL;
    j->info.effective_url = NULL;
    free(j->effective_url);
    j->effective_url = info.effective_url ? strdup(info.effective_url) : NULL;
  }
}

/* Download one object on worker slot `slot`: open (on the client, if any),
 * run, commit, close. Returns j->exit_code. */
static int run_job(const struct run_ctx *c, struct job *j, size_t slot) {
  const pf_entry *e = c->e;
  const struct opts *o = c->o;
  int to_stdout = j->outpath == NULL;
  struct stdout_sink out = {.fd = STDOUT_FILENO};
  pf_sink sink = {.struct_size = sizeof sink,
                  .ctx = &out,
                  .flags = PF_SINK_IN_ORDER,
                  .write = stdout_write,
                  .read = NULL};
  pf_open_args args = {.struct_size = sizeof args,
                       .output_path = to_stdout ? NULL : j->outpath,
                       .sink = to_stdout ? &sink : NULL,
                       .checksum = j->checksum,
                       .flags = o->resume ? PF_OPEN_RESUME : 0u,
                       .log = o->verbose ? log_line : NULL,
                       .log_ctx = NULL,
                       .cancel_flag = &g_cancel,
                       .mirrors = j->mirrors};
  const char *headers[] = {j->auth, NULL}; /* credential headers: the URL's host only */
  if (j->auth)
    args.headers = headers;
  /* One URL reports a signal itself; several say it once, in the summary. */
  int single = c->client == NULL;

  j->started = 1;
  j->status = PF_OK;
  j->exit_code = EXIT_DONE;
  pf_session *s = NULL;
  pf_status st = c->client ? e->open_on(c->client, j->url, &args, &s)
                           : e->open(c->cfg, j->url, &args, &s);
  if (!s) { /* PF_E_NOMEM or PF_E_INVALID: nothing to close */
    if (st == PF_OK)
      st = PF_E_INTERNAL;
    return job_failed(j, e, st, "open", 1);
  }
  publish_session(slot, s);
  if (st == PF_OK && !g_signal) {
    pfh_progress *bar = NULL;
    if (!c->board && single && !o->quiet && isatty(STDERR_FILENO))
      bar = pfh_progress_start(e, s, STDERR_FILENO);
    pfh_board_attach(c->board, slot, j->name, s);
    st = e->run(s);
    pfh_progress_stop(bar, st == PF_OK && !g_signal);
  }
  job_snapshot(j, e, s);
  withdraw_session(slot);

  if (g_signal) {
    /* Without PF_CLOSE_DISCARD: a resumable side file stays for -C. */
    int sig = g_signal;
    pfh_board_detach(c->board, slot, 0, j->stats.bytes_written);
    e->close(s, 0);
    job_failed(j, e, PF_E_CANCELLED,
               sig == SIGINT ? "interrupted by SIGINT" : "terminated by SIGTERM", single);
    return j->exit_code = 128 + sig;
  }
  if (st != PF_OK && out.closed) {
    /* The reader of stdout went away (`| head -c N`): it wanted no more, so
     * no message, like a filter that SIGPIPE ends; exit 4 (local I/O) tells
     * a script that the output is not the whole object; --json's object
     * says so too (job_failed, not printed). */
    pfh_board_detach(c->board, slot, 0, j->stats.bytes_written);
    e->close(s, 0);
    return job_failed(j, e, PF_E_IO, "stdout: the reader went away (EPIPE)", 0);
  }
  if (st != PF_OK) {
    const char *m = e->errmsg(s);
    char *detail = strdup(m ? m : ""); /* errmsg dies with the session */
    pfh_board_detach(c->board, slot, 0, j->stats.bytes_written);
    e->close(s, 0); /* keeps a resumable side file for -C; never the output */
    job_failed(j, e, st, detail, 1);
    free(detail);
    return j->exit_code;
  }
  if (e->struct_size >= PF_SIZE_THROUGH(pf_entry, commit) && e->commit) {
    /* 1.0 plugins with commit(): verify and rename, keeping the detail */
    st = e->commit(s);
    pfh_board_detach(c->board, slot, st == PF_OK, j->stats.bytes_written);
    if (st != PF_OK) {
      const char *m = e->errmsg(s);
      char *detail = strdup(m && *m ? m : (to_stdout ? "stdout" : j->outpath));
      e->close(s, 0);
      job_failed(j, e, st, detail ? detail : "commit", 1);
      free(detail);
      return j->exit_code;
    }
    e->close(s, 0);
  } else {
    pfh_board_detach(c->board, slot, 1, j->stats.bytes_written);
    st = e->close(s, PF_CLOSE_COMMIT);
    if (st != PF_OK) /* close() frees the session, so its errmsg is gone: name the output. */
      return job_failed(j, e, st, to_stdout ? "stdout" : j->outpath, 1);
  }
  j->checksum_verified = j->checksum != NULL;
  return EXIT_DONE;
}

/* --json: the object of j, once it has ended; on f. Serialised: workers of
 * several downloads call it. Returns 0 or -1 (errno set). */
static pthread_mutex_t g_json_mu = PTHREAD_MUTEX_INITIALIZER;

static int job_json(const struct job *j, FILE *f) {
  struct pfh_report r = {.url = j->url,
                         .effective_url = j->effective_url,
                         .output = j->outpath ? j->outpath : "-",
                         .digest = j->checksum,
                         .status = j->status,
                         .cancelled = j->exit_code >= 128,
                         .exit_code = j->exit_code,
                         .error = j->exit_code == EXIT_DONE ? NULL : j->error};
  pfh_report_stats(&r, &j->stats); /* struct_size 0: no session, null counters */
  pthread_mutex_lock(&g_json_mu);
  int rc = pfh_report_write(&r, f);
  pthread_mutex_unlock(&g_json_mu);
  return rc;
}

/* --- several objects ------------------------------------------------------- */

/* The jobs still to start, taken by the workers in order. */
struct queue {
  pthread_mutex_t mu;
  struct job *jobs;
  size_t n, next; /* guarded by mu */
  int stop;       /* guarded by mu: a failure without --keep-going */
  const struct run_ctx *ctx;
  size_t finished; /* guarded by mu */
};

struct worker {
  struct queue *q;
  size_t slot;
  pthread_t thread;
};

/* Worse of two exit statuses: a signal's above all, else the higher code. */
static int worse(int a, int b) {
  if (a >= 128 || b >= 128)
    return a >= 128 ? a : b;
  return a > b ? a : b;
}

static void *worker_main(void *arg) {
  struct worker *w = arg;
  struct queue *q = w->q;
  const struct run_ctx *c = q->ctx;
  for (;;) {
    pthread_mutex_lock(&q->mu);
    struct job *j = NULL;
    if (!q->stop && !g_signal && q->next < q->n)
      j = &q->jobs[q->next++];
    pthread_mutex_unlock(&q->mu);
    if (!j)
      break;
    int rc = run_job(c, j, w->slot);
    if (c->o->json && job_json(j, stdout) != 0 && rc == EXIT_DONE) {
      say("--json: %s", strerror(errno));
      rc = j->exit_code = EXIT_LOCAL;
    }
    pthread_mutex_lock(&q->mu);
    size_t k = ++q->finished;
    if (rc != EXIT_DONE && !c->o->keep_going)
      q->stop = 1;
    pthread_mutex_unlock(&q->mu);
    if (rc == EXIT_DONE && !c->o->quiet) {
      char bytes[32], el[32];
      say("[%zu/%zu] done %s (%s in %s)", k, q->n, j->name,
          pfh_human_bytes(j->stats.bytes_written + j->stats.bytes_resumed, bytes, sizeof bytes),
          pfh_human_duration((double)j->stats.elapsed_ns / 1e9, el, sizeof el));
    }
  }
  return NULL;
}

static double wall_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The summary: counts, bytes and time, then each failure with its error. */
static void summary(const struct job *jobs, size_t n, double elapsed) {
  size_t done = 0, failed = 0, skipped = 0;
  uint64_t bytes = 0;
  for (size_t i = 0; i < n; i++) {
    if (!jobs[i].started)
      skipped++;
    else if (jobs[i].exit_code == EXIT_DONE)
      done++;
    else
      failed++;
    bytes += jobs[i].stats.bytes_written;
  }
  char b[32], el[32], rate[32];
  pfh_human_bytes(bytes, b, sizeof b);
  pfh_human_bytes(elapsed > 0 ? (uint64_t)((double)bytes / elapsed) : 0, rate, sizeof rate);
  say("%zu object%s: %zu done, %zu failed, %zu not started; %s in %s (%s/s)", n,
      n == 1 ? "" : "s", done, failed, skipped, b, pfh_human_duration(elapsed, el, sizeof el),
      rate);
  for (size_t i = 0; i < n; i++) {
    const struct job *j = &jobs[i];
    if (!j->started || j->exit_code == EXIT_DONE)
      continue;
    const char *err = j->error ? j->error : "error";
    if (strstr(err, j->url)) /* the error names the URL already */
      say("  failed: %s: %s", j->name, err);
    else
      say("  failed: %s (%s): %s", j->name, j->url, err);
  }
}

/* Run every job on one client, at most o->jobs at once. Returns the worst
 * exit status. */
static int run_all(const pf_entry *e, const pf_config *cfg, const struct opts *o,
                   struct job *jobs, size_t n) {
  if (e->struct_size < PF_SIZE_THROUGH(pf_entry, open_on) || !e->client_new || !e->open_on) {
    say("several downloads need a plugin of ABI 1.2 or later (one client for all); this one is "
        "ABI %u.%u",
        (unsigned)e->abi_major, (unsigned)e->abi_minor);
    return EXIT_USAGE;
  }
  pf_client *client = NULL;
  pf_status st = e->client_new(cfg, &client);
  if (st != PF_OK || !client) {
    report(e, st != PF_OK ? st : PF_E_INTERNAL, "client_new");
    return exit_code(st != PF_OK ? st : PF_E_INTERNAL);
  }
  size_t nw = o->jobs < n ? o->jobs : n;
  struct run_ctx ctx = {.e = e, .cfg = cfg, .client = client, .o = o, .board = NULL};
  if (!o->quiet && isatty(STDERR_FILENO))
    ctx.board = pfh_board_start(e, nw, n, STDERR_FILENO);
  g_board = ctx.board;
  struct queue q = {.jobs = jobs, .n = n, .ctx = &ctx};
  pthread_mutex_init(&q.mu, NULL);
  struct worker *w = calloc(nw, sizeof *w);
  double t0 = wall_s();
  size_t started = 0;
  /* Workers block every signal: the handlers run on the main thread. */
  for (size_t i = 0; w && i < nw; i++) {
    w[i] = (struct worker){.q = &q, .slot = i};
    if (pfh_thread_start_masked(&w[i].thread, worker_main, &w[i]) != 0)
      break;
    started++;
  }
  if (started == 0) {
    say("cannot start a download thread: %s", strerror(errno ? errno : EAGAIN));
    q.stop = 1;
  }
  for (size_t i = 0; i < started; i++)
    pthread_join(w[i].thread, NULL);
  free(w);
  pthread_mutex_destroy(&q.mu);
  pfh_board_stop(ctx.board);
  g_board = NULL;
  e->client_free(client);

  int rc = started ? EXIT_DONE : EXIT_LOCAL;
  for (size_t i = 0; i < n; i++)
    if (jobs[i].started)
      rc = worse(rc, jobs[i].exit_code);
  int sig = atomic_load(&g_signal);
  if (sig) {
    report(e, PF_E_CANCELLED, sig == SIGINT ? "interrupted by SIGINT" : "terminated by SIGTERM");
    rc = 128 + sig;
  }
  summary(jobs, n, wall_s() - t0);
  return rc;
}

/* --- main ------------------------------------------------------------------ */

/* The plugin to load: --plugin, else the config files' plugin:, else the
 * default. Returns a malloc'd path, or NULL after printing an error. */
static char *choose_plugin(const struct opts *o, const pfh_config_files *files) {
  if (o->plugin) {
    char *p = strdup(o->plugin);
    if (!p)
      say("out of memory");
    return p;
  }
  char err[2048];
  char *p = NULL;
  int r = pfh_config_plugin(files, &p, err, sizeof err);
  if (r < 0) {
    say("configuration error: %s", err);
    return NULL;
  }
  if (r > 0)
    return p;
  char path[4096];
  if (pfh_default_plugin_path(path, sizeof path) != 0) {
    say("cannot find the default plugin: path too long");
    return NULL;
  }
  p = strdup(path);
  if (!p)
    say("out of memory");
  return p;
}

/* config_new + config_load each file + config_set each flag. NULL after
 * printing an error; *rc is the exit status then. */
static pf_config *build_config(const pf_entry *e, const pfh_config_files *files,
                               const struct opts *o, int *rc) {
  pf_config *cfg = e->config_new();
  if (!cfg) {
    report(e, PF_E_NOMEM, "config_new");
    *rc = EXIT_LOCAL;
    return NULL;
  }
  for (size_t i = 0; i < files->count; i++) {
    pf_status st = e->config_load(cfg, files->paths[i]);
    if (st != PF_OK) {
      const char *m = e->config_error(cfg);
      if (m && *m)
        report(e, st, m);
      else
        report(e, st, files->paths[i]);
      e->config_free(cfg);
      *rc = st == PF_E_NOMEM ? EXIT_LOCAL : EXIT_USAGE;
      return NULL;
    }
  }
  for (size_t i = 0; i < o->nflags; i++) {
    const struct flag *f = &o->flags[i];
    pf_status st = e->config_set(cfg, f->key, f->value);
    if (st != PF_OK) {
      const char *m = e->config_error(cfg);
      char detail[2048];
      snprintf(detail, sizeof detail, "%s %s: %s", f->option, f->value, (m && *m) ? m : "rejected");
      report(e, st, detail);
      e->config_free(cfg);
      *rc = st == PF_E_NOMEM ? EXIT_LOCAL : EXIT_USAGE;
      return NULL;
    }
  }
  /* -n N asks for N connections to this one host: the budget (a politeness
   * cap for many downloads, 8 per host by default) is raised to N for this
   * download when it is lower, as curl's or aria2c's -x would */
  for (size_t i = 0; i < o->nflags; i++) {
    if (strcmp(o->flags[i].key, "streams") != 0)
      continue;
    static const char *const budget[] = {"max_connections_per_host", "max_connections"};
    const char *n = o->flags[i].value;
    for (size_t k = 0; k < 2; k++) {
      const char *have = e->config_get(cfg, budget[k]);
      if (have && strtoul(have, NULL, 10) < strtoul(n, NULL, 10) &&
          e->config_set(cfg, budget[k], n) != PF_OK) {
        report(e, PF_E_CONFIG, e->config_error(cfg));
        e->config_free(cfg);
        *rc = EXIT_USAGE;
        return NULL;
      }
    }
  }
  return cfg;
}

static int print_version(const pfh_plugin *pl) {
  const pf_entry *e = pl->entry;
  printf("plugin %s: %s %s (ABI %u.%u)\n", pl->path, e->name, e->version, (unsigned)e->abi_major,
         (unsigned)e->abi_minor);
  return fflush(stdout) == 0 ? EXIT_DONE : EXIT_LOCAL;
}

/* --- the list of objects ---------------------------------------------------- */

/* All of path ("-" = stdin) into *buf (malloc'd, *len bytes). 0, or -1 after
 * printing why. */
static int read_list(const char *path, char **buf, size_t *len) {
  enum { LIST_MAX = 64 << 20 };
  int is_stdin = strcmp(path, "-") == 0;
  FILE *f = is_stdin ? stdin : fopen(path, "rb");
  if (!f) {
    say("cannot read the input file %s: %s", path, strerror(errno));
    return -1;
  }
  size_t cap = 4096, n = 0;
  char *b = malloc(cap);
  int err = 0;
  while (b) {
    if (n == cap) {
      if (cap >= LIST_MAX) {
        say("the input file %s is larger than %d MiB", is_stdin ? "(stdin)" : path, LIST_MAX >> 20);
        free(b);
        b = NULL;
        err = -1;
        break;
      }
      char *g = realloc(b, cap * 2);
      if (!g) {
        free(b);
        b = NULL;
        break;
      }
      b = g;
      cap *= 2;
    }
    size_t r = fread(b + n, 1, cap - n, f);
    n += r;
    if (r == 0) {
      if (ferror(f)) {
        say("cannot read the input file %s: %s", is_stdin ? "(stdin)" : path, strerror(errno));
        free(b);
        b = NULL;
        err = -1;
      }
      break;
    }
  }
  if (!is_stdin)
    fclose(f);
  if (!b) {
    if (!err)
      say("out of memory");
    return -1;
  }
  *buf = b;
  *len = n;
  return 0;
}

/* dir/name (just name without dir, or when name is absolute). NULL on out
 * of memory. */
static char *join_path(const char *dir, const char *name) {
  char *p = NULL;
  if (!dir || name[0] == '/')
    return strdup(name);
  size_t dl = strlen(dir);
  if (asprintf(&p, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", name) < 0)
    return NULL;
  return p;
}

/* path with "." components and repeated '/' removed: the same file for
 * two such spellings gives the same string (symbolic links aside). */
static char *canonical(const char *path) {
  size_t n = strlen(path);
  char *c = malloc(n + 2);
  if (!c)
    return NULL;
  size_t o = 0;
  if (path[0] == '/')
    c[o++] = '/';
  for (const char *p = path; *p;) {
    size_t k = strcspn(p, "/");
    if (k > 0 && !(k == 1 && p[0] == '.')) {
      if (o > 0 && c[o - 1] != '/')
        c[o++] = '/';
      memcpy(c + o, p, k);
      o += k;
    }
    p += k;
    while (*p == '/')
      p++;
  }
  c[o] = '\0';
  return c;
}

struct named {
  char *canon;
  size_t index;
};

static int by_canon(const void *a, const void *b) {
  const struct named *x = a, *y = b;
  int r = strcmp(x->canon, y->canon);
  return r ? r : (x->index > y->index) - (x->index < y->index);
}

static int by_canon_only(const void *a, const void *b) {
  return strcmp(((const struct named *)a)->canon, ((const struct named *)b)->canon);
}

/* The side file next to an output until it is complete (plugin/entry.c). */
#define SIDE_SUFFIX ".pfpart"

/* Two jobs with one output path, or one whose output is another's side
 * file: refused (exit 2) naming both. */
static int check_collisions(struct job *jobs, size_t n) {
  struct named *v = calloc(n ? n : 1, sizeof *v);
  if (!v) {
    say("out of memory");
    return EXIT_LOCAL;
  }
  int rc = -1;
  for (size_t i = 0; i < n; i++) {
    v[i].index = i;
    if (!(v[i].canon = canonical(jobs[i].outpath))) {
      say("out of memory");
      rc = EXIT_LOCAL;
      goto out;
    }
  }
  qsort(v, n, sizeof *v, by_canon);
  for (size_t i = 1; i < n; i++) {
    if (strcmp(v[i - 1].canon, v[i].canon) == 0) {
      say("%s and %s have the same output %s: name one of them with out= in an input file (-i)",
          jobs[v[i - 1].index].url, jobs[v[i].index].url, v[i].canon);
      rc = EXIT_USAGE;
      goto out;
    }
  }
  /* nor the side file of another's (the plugin's OUTPUT.pfpart, README.md):
   * the one that ends first would fail, refusing to replace it */
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(v[i].canon), sl = strlen(SIDE_SUFFIX);
    if (len <= sl || strcmp(v[i].canon + len - sl, SIDE_SUFFIX) != 0)
      continue;
    struct named key = {.canon = strndup(v[i].canon, len - sl)};
    if (!key.canon) {
      say("out of memory");
      rc = EXIT_LOCAL;
      goto out;
    }
    const struct named *hit = bsearch(&key, v, n, sizeof *v, by_canon_only);
    free(key.canon);
    if (hit) {
      say("%s would write %s, the side file of %s's output %s: name one of them with out= in an "
          "input file (-i)",
          jobs[v[i].index].url, v[i].canon, jobs[hit->index].url, hit->canon);
      rc = EXIT_USAGE;
      goto out;
    }
  }
out:
  for (size_t i = 0; i < n; i++)
    free(v[i].canon);
  free(v);
  return rc;
}

/* The jobs of a run of several objects: the command line's URLs, then the
 * input file's objects, each named after its URL unless out= names it, in
 * its dir= or -d. Returns -1 to go on, or an exit status after a message. */
static int plan_jobs(const struct opts *o, pfh_input *in, struct job **out, size_t *count) {
  *out = NULL;
  *count = 0;
  if (o->input) {
    char *text = NULL;
    size_t len = 0;
    if (read_list(o->input, &text, &len) != 0)
      return EXIT_USAGE;
    char err[1024];
    int r = pfh_input_parse(text, len, strcmp(o->input, "-") == 0 ? "(stdin)" : o->input, in, err,
                            sizeof err);
    free(text);
    if (r != 0) {
      say("%s", err);
      return strcmp(err, "out of memory") == 0 ? EXIT_LOCAL : EXIT_USAGE;
    }
  }
  size_t n = o->nurls + in->count;
  if (n == 0)
    return usage_error("no URL given (%s lists none)", o->input);
  struct job *jobs = calloc(n, sizeof *jobs);
  if (!jobs) {
    say("out of memory");
    return EXIT_LOCAL;
  }
  *out = jobs;
  *count = n;
  for (size_t i = 0; i < n; i++) {
    struct job *j = &jobs[i];
    const pfh_input_item *it = i < o->nurls ? NULL : &in->items[i - o->nurls];
    j->url = it ? it->urls[0] : o->urls[i];
    j->mirrors = it && it->nurls > 1 ? (const char *const *)it->urls + 1 : NULL;
    j->checksum = it ? it->checksum : NULL;
    char *base = NULL;
    if (it && it->out) {
      base = strdup(it->out);
    } else {
      char why[256];
      if (!(base = name_from_url(j->url, why, sizeof why)))
        return usage_error("cannot name the output after %s: %s; name it with out= in an input "
                           "file (-i)",
                           j->url, why);
    }
    j->outpath = base ? join_path(it && it->dir ? it->dir : o->dir, base) : NULL;
    free(base);
    if (!j->outpath) {
      say("out of memory");
      return EXIT_LOCAL;
    }
    j->name = j->outpath;
  }
  return check_collisions(jobs, n);
}

static void wipe(char *secret) {
  if (secret) {
    explicit_bzero(secret, strlen(secret));
    free(secret);
  }
}

/* -u, --netrc, --netrc-file for url into *auth; -1 to go on, else an exit
 * status after a message. */
static int credentials_for(const struct opts *o, const char *url, char **auth) {
  char warn[1024], why[1024];
  int cr = pfh_credentials(o->user, o->netrc, o->netrc_file, url, auth, warn, sizeof warn, why,
                           sizeof why);
  if (*warn)
    say("%s", warn);
  if (cr == PFH_CRED_OK)
    return -1;
  return cr == PFH_CRED_USAGE   ? usage_error("%s", why)
         : cr == PFH_CRED_ERROR ? (say("%s", why), EXIT_USAGE)
                                : (say("out of memory"), EXIT_LOCAL);
}

/* shared: the header of -u that every job borrows (the opts own it). */
static void free_jobs(struct job *jobs, size_t n, const char *shared) {
  for (size_t i = 0; i < n; i++) {
    if (jobs[i].auth != shared)
      wipe(jobs[i].auth);
    free(jobs[i].outpath);
    free(jobs[i].error);
    free(jobs[i].effective_url);
  }
  free(jobs);
}

int main(int argc, char **argv) {
  struct opts o;
  int rc = parse_args(argc, argv, &o);
  if (rc >= 0) {
    free((char *)o.checksum);
    free(o.flags);
    free(o.mirrors);
    return rc;
  }
  /* One URL and no -i: the one-download path of old (open(), one progress
   * bar); anything else: several objects on one client. */
  int several = !o.version && (o.nurls > 1 || o.input);

  /* The output paths are settled before anything is loaded: a usage error
   * should not wait for a plugin. */
  pfh_input input = {0};
  struct job *jobs = NULL;
  size_t njobs = 0;
  struct job one = {0};
  if (several) {
    rc = plan_jobs(&o, &input, &jobs, &njobs);
    if (rc >= 0)
      goto out_jobs;
  } else if (!o.version) {
    int to_stdout = o.output && strcmp(o.output, "-") == 0;
    one.url = o.url;
    one.checksum = o.checksum;
    one.mirrors = o.nmirrors ? (const char *const *)o.mirrors : NULL;
    if (!to_stdout) {
      if (o.output) {
        one.outpath = join_path(o.dir, o.output);
      } else {
        char why[256];
        char *name = name_from_url(o.url, why, sizeof why);
        if (!name) {
          rc = usage_error("cannot name the output after %s: %s; use -o FILE", o.url, why);
          goto out_jobs;
        }
        one.outpath = join_path(o.dir, name);
        free(name);
      }
      if (!one.outpath) {
        say("out of memory");
        rc = EXIT_LOCAL;
        goto out_jobs;
      }
    }
    one.name = one.outpath ? one.outpath : "stdout";
  }

  if (o.version) { /* the host's own line, even if no plugin can be loaded */
    printf("parfetch %s (host, ABI %d.%d)\n", HOST_VERSION, PF_ABI_MAJOR, PF_ABI_MINOR);
    fflush(stdout);
  }

  /* -u, --netrc, --netrc-file: before anything is loaded (a prompt). -u is
   * one header for every object (asked for once); a netrc file is looked up
   * for each object's URL. */
  int have_auth = 0;
  if (!o.version && (o.user || o.netrc || o.netrc_file)) {
    if (!several || o.user) {
      rc = credentials_for(&o, several ? jobs[0].url : o.url, &o.auth);
      if (rc >= 0)
        goto out_jobs;
      one.auth = o.auth;
      for (size_t i = 0; i < njobs; i++)
        jobs[i].auth = o.auth;
      have_auth = o.auth != NULL;
    } else {
      for (size_t i = 0; i < njobs; i++) {
        rc = credentials_for(&o, jobs[i].url, &jobs[i].auth);
        if (rc >= 0)
          goto out_jobs;
        have_auth |= jobs[i].auth != NULL;
      }
    }
  }
  if (o.user) /* as curl: once read, the password leaves the command line (ps) */
    explicit_bzero((char *)o.user, strlen(o.user));

  pfh_config_files files = {0};
  char *plugin_path = NULL;
  pfh_plugin pl = {0};
  pf_config *cfg = NULL;
  char err[4096];

  if (pfh_discover(o.config, &files, err, sizeof err) != 0) {
    say("configuration error: %s", err);
    rc = EXIT_USAGE;
    goto out;
  }
  plugin_path = choose_plugin(&o, &files);
  if (!plugin_path) {
    rc = EXIT_USAGE;
    goto out;
  }
  if (pfh_load(plugin_path, &pl, err, sizeof err) != 0) {
    say("%s", err);
    rc = EXIT_USAGE;
    goto out;
  }
  if (o.version) {
    rc = print_version(&pl);
    goto out;
  }
  for (size_t i = 0; i < njobs; i++) {
    if (jobs[i].mirrors && pl.entry->abi_minor < 4) {
      say("%s has mirrors (TAB-separated URLs): they need a plugin of ABI 1.4 or later; %s is "
          "ABI %u.%u",
          jobs[i].url, pl.path, (unsigned)pl.entry->abi_major, (unsigned)pl.entry->abi_minor);
      rc = EXIT_USAGE;
      goto out;
    }
  }
  cfg = build_config(pl.entry, &files, &o, &rc);
  if (!cfg)
    goto out;

  if (have_auth && pl.entry->abi_minor < 3) {
    say("the plugin %s (ABI %u.%u) cannot send credentials (-u, --netrc): ABI 1.3 needed",
        pl.path, (unsigned)pl.entry->abi_major, (unsigned)pl.entry->abi_minor);
    rc = EXIT_USAGE;
    goto out;
  }

  if (o.nmirrors && pl.entry->abi_minor < 4) { /* 1.4 added pf_open_args.mirrors */
    say("%s (ABI %u.%u) does not take --mirror: it needs ABI 1.4", plugin_path,
        (unsigned)pl.entry->abi_major, (unsigned)pl.entry->abi_minor);
    rc = EXIT_USAGE;
    goto out;
  }
  g_entry = pl.entry;
  install_signals();
  if (several) {
    rc = run_all(pl.entry, cfg, &o, jobs, njobs);
  } else {
    struct run_ctx ctx = {.e = pl.entry, .cfg = cfg, .client = NULL, .o = &o, .board = NULL};
    rc = run_job(&ctx, &one, 0);
    /* --json: once, when the download has ended */
    if (o.json && job_json(&one, one.outpath ? stdout : stderr) != 0 && rc == EXIT_DONE) {
      say("--json: %s", strerror(errno));
      rc = EXIT_LOCAL;
    }
  }

out:
  if (cfg)
    pl.entry->config_free(cfg);
  pfh_unload(&pl);
  free(plugin_path);
  pfh_config_files_free(&files);
out_jobs:
  free_jobs(jobs, njobs, o.auth);
  free(one.outpath);
  free(one.error);
  free(one.effective_url);
  pfh_input_free(&input);
  free((char *)o.checksum);
  wipe(o.auth);
  free(o.flags);
  free(o.mirrors);
  return rc;
}
