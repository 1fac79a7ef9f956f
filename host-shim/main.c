/*
 * main.c - `parfetch`, the reference host: the CLI of DESIGN.md ("Reference
 * CLI contract"). It parses flags, discovers config files, loads the plugin,
 * and drives one download through the ABI: config_new, config_load for each
 * file, config_set for each flag (flags win), open, run, close.
 *
 * Credentials (-u, --netrc, --netrc-file; credentials.c) become one Authorization
 * header in pf_open_args.headers: the plugin sends it to the URL's host only.
 * With --json, one object (report.c) is written when the download has ended.
 *
 * Exit status: 0 done and verified; 1 remote or network failure; 2 usage,
 * config or plugin-load error; 3 integrity failure; 4 local I/O error;
 * 130/143 after SIGINT/SIGTERM. Errors are one line on stderr:
 * "parfetch: <strerror>: <detail>".
 *
 * Threads: the main thread does all of the above. While it blocks in run(),
 * the plugin's threads work and the progress thread (progress.c) polls
 * get_stats(). SIGINT/SIGTERM handlers may run on any thread that does not
 * block them: they only record the signal and call entry->cancel(), which is
 * [signal-safe]; the session pointer they read is published and withdrawn
 * with atomics so close() never races a handler. The stdout sink is called by
 * the plugin's writer thread only (never concurrently with itself).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
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
  const char *checksum;
  int resume, quiet, version, verbose;
  int json;               /* --json */
  const char *user;       /* -u user[:password] */
  int netrc;              /* --netrc */
  const char *netrc_file; /* --netrc-file */
  char *auth;             /* the Authorization header -u or the netrc file made, or NULL */
  const char *url;
  struct flag *flags;
  size_t nflags;
  const char **mirrors; /* --mirror, NULL-terminated (args.mirrors) */
  size_t nmirrors;
};

/* --- messages ------------------------------------------------------------ */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Every line this host prints to stderr: control characters escaped, URL
 * passwords redacted (the same filter as the plugin's messages). */
static void vsay(const char *tail, const char *fmt, va_list ap) {
  char line[8192];
  pf_text_vformat(line, sizeof line, fmt, ap);
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
  fputs("Usage: parfetch [options] URL\n"
        "Download URL over parallel HTTP(S) range requests.\n"
        "\n"
        "  -o, --output FILE        write to FILE (\"-\" = stdout, in order)\n"
        "  -O, --remote-name        name the file after the URL's last path segment\n"
        "                           (also the default when neither -o nor -O is given)\n"
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
        "bad range reply); 4 local I/O error; 130/143 interrupted.\n",
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

static int is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* ALGO=HEX. Known algorithms must have their digest length; an unknown one
 * is passed on (a newer plugin may know it; open() refuses it otherwise). */
static int check_checksum(const char *spec, char *why, size_t whylen) {
  static const struct {
    const char *name;
    size_t hexlen;
  } algos[] = {{"md5", 32}, {"sha1", 40}, {"sha256", 64}, {"sha512", 128}};
  const char *eq = strchr(spec, '=');
  if (!eq || eq == spec) {
    snprintf(why, whylen, "expected ALGO=HEX, e.g. sha256=<64 hex digits>");
    return -1;
  }
  size_t alen = (size_t)(eq - spec);
  for (size_t i = 0; i < alen; i++) {
    char c = spec[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_')) {
      snprintf(why, whylen, "bad algorithm name '%.*s'", (int)alen, spec);
      return -1;
    }
  }
  const char *hex = eq + 1;
  size_t hlen = strlen(hex);
  for (size_t i = 0; i < hlen; i++) {
    if (!is_hex(hex[i])) {
      snprintf(why, whylen, "'%s' is not a hex digest", hex);
      return -1;
    }
  }
  for (size_t i = 0; i < sizeof algos / sizeof algos[0]; i++) {
    if (strlen(algos[i].name) == alen && strncasecmp(spec, algos[i].name, alen) == 0) {
      if (hlen == algos[i].hexlen)
        return 0;
      snprintf(why, whylen, "a %s digest has %zu hex digits, not %zu", algos[i].name,
               algos[i].hexlen, hlen);
      return -1;
    }
  }
  if (hlen == 0 || hlen % 2) {
    snprintf(why, whylen, "the digest needs an even, non-zero number of hex digits");
    return -1;
  }
  return 0;
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
  OPT_JSON,
  OPT_NETRC,
  OPT_NETRC_FILE,
  OPT_MIRROR
};

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
    int c = getopt_long(argc, argv, ":o:Oc:n:H:u:CqvhV", long_opts, &long_index);
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
    case OPT_CHECKSUM:
      if (check_checksum(optarg, why, sizeof why) != 0)
        return usage_error("invalid --checksum '%s': %s", optarg, why);
      o->checksum = optarg;
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
  if (optind >= argc)
    return usage_error("no URL given");
  if (optind + 1 < argc)
    return usage_error("one URL at a time (got '%s' and '%s')", argv[optind], argv[optind + 1]);
  o->url = argv[optind];
  if (!*o->url)
    return usage_error("the URL is empty");
  if (o->output && o->remote_name)
    return usage_error("-o and -O exclude each other");
  if (o->resume && o->output && strcmp(o->output, "-") == 0)
    return usage_error("-C cannot resume a download to stdout");
  return -1;
}

/* --- signals -------------------------------------------------------------- */

/* Handlers touch only lock-free atomics and sig_atomic_t: async-signal-safe. */
_Static_assert(ATOMIC_POINTER_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
               "the signal handler needs lock-free atomics");

static const pf_entry *g_entry;         /* set before the handlers are installed */
static _Atomic(pf_session *) g_session; /* the session a handler may cancel, or NULL */
static atomic_int g_in_handler;         /* handlers running now */
static volatile sig_atomic_t g_signal;  /* the first SIGINT/SIGTERM received, or 0 */
static int g_cancel;                    /* open()'s cancel_flag: atomic stores only */

static void on_signal(int sig) {
  int saved = errno;
  atomic_fetch_add(&g_in_handler, 1);
  if (!g_signal)
    g_signal = sig;
  __atomic_store_n(&g_cancel, 1, __ATOMIC_RELEASE);
  pf_session *s = atomic_load(&g_session);
  if (s)
    g_entry->cancel(s);
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

static void publish_session(pf_session *s) {
  atomic_store(&g_session, s);
}

/* After this returns no handler can still be using the session. */
static void withdraw_session(void) {
  atomic_store(&g_session, NULL);
  while (atomic_load(&g_in_handler) > 0)
    sched_yield();
}

/* --- the stdout sink -------------------------------------------------------- */

struct stdout_sink {
  int fd;
  uint64_t next; /* the offset the next write must have */
};

/* [writer thread] Write len bytes at offset to fd, in order. */
static int stdout_write(void *ctx, uint64_t offset, const void *buf, size_t len) {
  struct stdout_sink *o = ctx;
  if (offset != o->next)
    return EINVAL; /* the engine broke PF_SINK_IN_ORDER */
  const char *p = buf;
  while (len > 0) {
    ssize_t w = write(o->fd, p, len);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) { /* a non-blocking stdout */
        struct pollfd pfd = {.fd = o->fd, .events = POLLOUT};
        poll(&pfd, 1, 1000);
        continue;
      }
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

/* The last error line's text, without "parfetch: ": --json's "error". */
static char g_error[4096];

static void report(const pf_entry *e, pf_status st, const char *detail) {
  const char *text = e->strerror(st);
  if (!text || !*text)
    text = "error";
  if (detail && *detail)
    snprintf(g_error, sizeof g_error, "%s: %s", text, detail);
  else
    snprintf(g_error, sizeof g_error, "%s", text);
  say("%s", g_error); /* cut at 4 KiB as say() would */
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

/* --json: what the session knows, before close() frees it. */
static void snapshot(const pf_entry *e, pf_session *s, struct pfh_report *r, char **effective) {
  pf_stats st = {.struct_size = sizeof st};
  if (e->get_stats(s, &st) == PF_OK)
    pfh_report_stats(r, &st);
  pf_info info = {.struct_size = sizeof info};
  if (e->get_info(s, &info) == PF_OK && info.effective_url)
    r->effective_url = *effective = strdup(info.effective_url);
}

/* Runs the download; with rep (--json), fills in what it did (status, the
 * counters; *effective is the malloc'd effective URL or NULL). */
static int download(const pf_entry *e, const pf_config *cfg, const struct opts *o,
                    const char *outpath, struct pfh_report *rep, char **effective) {
  int to_stdout = outpath == NULL;
  struct stdout_sink out = {.fd = STDOUT_FILENO};
  pf_sink sink = {.struct_size = sizeof sink,
                  .ctx = &out,
                  .flags = PF_SINK_IN_ORDER,
                  .write = stdout_write,
                  .read = NULL};
  pf_open_args args = {.struct_size = sizeof args,
                       .output_path = to_stdout ? NULL : outpath,
                       .sink = to_stdout ? &sink : NULL,
                       .checksum = o->checksum,
                       .flags = o->resume ? PF_OPEN_RESUME : 0u,
                       .log = o->verbose ? log_line : NULL,
                       .log_ctx = NULL,
                       .cancel_flag = &g_cancel,
                       .mirrors = o->nmirrors ? o->mirrors : NULL};
  const char *headers[] = {o->auth, NULL}; /* credential headers: the URL's host only */
  if (o->auth)
    args.headers = headers;
  struct pfh_report ignored;
  if (!rep)
    rep = &ignored;

  pf_session *s = NULL;
  pf_status st = e->open(cfg, o->url, &args, &s);
  if (!s) { /* PF_E_NOMEM or PF_E_INVALID: nothing to close */
    if (st == PF_OK)
      st = PF_E_INTERNAL;
    report(e, st, "open");
    rep->status = st;
    return exit_code(st);
  }
  publish_session(s);
  if (st == PF_OK && !g_signal) {
    pfh_progress *bar = NULL;
    if (!o->quiet && isatty(STDERR_FILENO))
      bar = pfh_progress_start(e, s, STDERR_FILENO);
    st = e->run(s);
    pfh_progress_stop(bar, st == PF_OK && !g_signal);
  }
  withdraw_session();
  if (rep != &ignored)
    snapshot(e, s, rep, effective);
  rep->status = st;

  if (g_signal) {
    /* Without PF_CLOSE_DISCARD: a resumable side file stays for -C. */
    int sig = g_signal;
    e->close(s, 0);
    report(e, PF_E_CANCELLED, sig == SIGINT ? "interrupted by SIGINT" : "terminated by SIGTERM");
    rep->cancelled = 1;
    return 128 + sig;
  }
  if (st != PF_OK) {
    const char *m = e->errmsg(s);
    char *detail = strdup(m ? m : ""); /* errmsg dies with the session */
    e->close(s, 0);                    /* keeps a resumable side file for -C; never the output */
    report(e, st, detail);
    free(detail);
    return exit_code(st);
  }
  if (e->struct_size >= PF_SIZE_THROUGH(pf_entry, commit) && e->commit) {
    /* 1.0 plugins with commit(): verify and rename, keeping the detail */
    st = e->commit(s);
    rep->status = st;
    if (st != PF_OK) {
      const char *m = e->errmsg(s);
      char *detail = strdup(m && *m ? m : (to_stdout ? "stdout" : outpath));
      e->close(s, 0);
      report(e, st, detail ? detail : "commit");
      free(detail);
      return exit_code(st);
    }
    e->close(s, 0);
    return EXIT_DONE;
  }
  st = e->close(s, PF_CLOSE_COMMIT);
  rep->status = st;
  if (st != PF_OK) {
    /* close() frees the session, so its errmsg is gone: name the output. */
    report(e, st, to_stdout ? "stdout" : outpath);
    return exit_code(st);
  }
  return EXIT_DONE;
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

int main(int argc, char **argv) {
  struct opts o;
  int rc = parse_args(argc, argv, &o);
  if (rc >= 0) {
    free(o.flags);
    free(o.mirrors);
    return rc;
  }

  /* The output path is settled before anything is loaded: a usage error
   * should not wait for a plugin. */
  char *outpath = NULL;
  int to_stdout = o.output && strcmp(o.output, "-") == 0;
  if (!o.version && !to_stdout) {
    if (o.output) {
      outpath = strdup(o.output);
    } else {
      char why[256];
      outpath = name_from_url(o.url, why, sizeof why);
      if (!outpath) {
        free(o.flags);
        free(o.mirrors);
        return usage_error("cannot name the output after %s: %s; use -o FILE", o.url, why);
      }
    }
    if (!outpath) {
      free(o.flags);
      free(o.mirrors);
      say("out of memory");
      return EXIT_LOCAL;
    }
  }

  if (o.version) { /* the host's own line, even if no plugin can be loaded */
    printf("parfetch %s (host, ABI %d.%d)\n", HOST_VERSION, PF_ABI_MAJOR, PF_ABI_MINOR);
    fflush(stdout);
  }

  if (!o.version) { /* -u, --netrc, --netrc-file: before anything is loaded (a prompt) */
    char warn[1024], why[1024];
    int cr = pfh_credentials(o.user, o.netrc, o.netrc_file, o.url, &o.auth, warn, sizeof warn,
                             why, sizeof why);
    if (o.user) /* as curl: once read, the password leaves the command line (ps) */
      explicit_bzero((char *)o.user, strlen(o.user));
    if (*warn)
      say("%s", warn);
    if (cr != PFH_CRED_OK) {
      rc = cr == PFH_CRED_USAGE   ? usage_error("%s", why)
           : cr == PFH_CRED_ERROR ? (say("%s", why), EXIT_USAGE)
                                  : (say("out of memory"), EXIT_LOCAL);
      free(outpath);
      free(o.flags);
      free(o.mirrors);
      return rc;
    }
  }

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
  cfg = build_config(pl.entry, &files, &o, &rc);
  if (!cfg)
    goto out;

  if (o.auth && pl.entry->abi_minor < 3) {
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
  struct pfh_report rep = {.url = o.url,
                           .output = to_stdout ? "-" : outpath,
                           .digest = o.checksum};
  char *effective = NULL;
  rc = download(pl.entry, cfg, &o, outpath, o.json ? &rep : NULL, &effective);
  if (o.json) { /* once, when the download has ended */
    rep.exit_code = rc;
    rep.error = rc == EXIT_DONE ? NULL : g_error;
    if (pfh_report_write(&rep, to_stdout ? stderr : stdout) != 0 && rc == EXIT_DONE) {
      say("--json: %s", strerror(errno));
      rc = EXIT_LOCAL;
    }
  }
  free(effective);

out:
  if (cfg)
    pl.entry->config_free(cfg);
  pfh_unload(&pl);
  free(plugin_path);
  pfh_config_files_free(&files);
  free(outpath);
  if (o.auth)
    explicit_bzero(o.auth, strlen(o.auth));
  free(o.auth);
  free(o.flags);
  free(o.mirrors);
  return rc;
}
