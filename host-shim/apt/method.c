/*
 * method.c - the apt acquire method: apt starts it as .../methods/http (or
 * https) when /etc/apt/apt.conf.d swaps it in, and it downloads every URI
 * apt asks for through the parfetch plugin. docs/APT.md tells how to enable
 * it; ../shared/hosts/apt.md has the protocol.
 *
 * Flow: "100 Capabilities" (Pipeline, Send-Config, Send-URI-Encoded); the
 * "601 Configuration" is read into an apt_conf; then, before any thread
 * starts: auth.conf is read, the plugin is loaded and, when running as root
 * with APT::Sandbox::User set, privileges are dropped to that user. Every
 * "600 URI Acquire" is served on a thread of its own, at once (apt keeps up
 * to 10 in flight per process), on a client shared by every request with
 * the same settings (proxy, TLS, timeouts, rate), so connections are reused
 * and the per-host budget holds across requests. Replies go out in any
 * order, matched by URI: 200 URI Start, 102 Status, 201 URI Done with the
 * hashes of the stored bytes, 400 URI Failure with apt's FailReason.
 *
 * Files: the output is apt's Filename (partial/NAME). parfetch writes its
 * side file next to it (partial/NAME.pfpart, with the resume journal) and
 * renames it over Filename only when complete and verified, so Filename
 * never holds holes: it is either what apt gave us (a valid prefix, which
 * PF_OPEN_PREFIX takes) or the whole verified file.
 *
 * Threads: the main thread reads stdin and signals and starts request
 * threads; request threads call the plugin and write replies (out_mu
 * serialises stdout). SIGINT/SIGTERM and end of input set `stopping`, which
 * is also every session's cancel_flag: run() returns within a second, the
 * side files stay for the next run, and the process exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "apt_conf.h"
#include "apt_msg.h"
#include "apt_netrc.h"
#include "apt_proxy.h"
#include "apt_util.h"
#include "discover.h"
#include "loader.h"
#include "netrc.h" /* pfh_basic_auth */
#include "parfetch.h"

#define METHOD_UA "parfetch/" PF_VERSION " (apt method)"
#define MAX_MSG (1u << 20)  /* a 601 carries the whole config: tens of KiB */
#define MAX_REQUESTS 64     /* in flight at once; apt sends at most 10 per process */
#define STATUS_EVERY_NS (2ull * 1000000000ull)

/* Set by signal handlers and at end of input; every session's cancel_flag. */
static int stopping;
static int sig_pipe[2] = {-1, -1};

struct client_ent {
  char *key; /* the settings it was made with */
  pf_client *c;
  struct client_ent *next;
};

/* The keys a request's settings may change, with the YAML's own value to
 * go back to when apt says nothing. */
static const char *const client_keys[] = {
    "user_agent", "proxy",       "connect_timeout", "stall_timeout", "rate_limit",
    "tls.verify", "tls.verify_host", "tls.cacert",  "tls.cert",      "tls.key",
    "tls.crlfile", "tls.cacert_only", "max_redirects", "redirect_downgrade", "retries"};
#define NCLIENT_KEYS (sizeof client_keys / sizeof client_keys[0])

struct method {
  pfh_plugin pl;
  const pf_entry *e;
  pfh_config_files files;
  pf_config *base; /* the YAML config; settings are set on it per client (under mu) */
  char *base_vals[NCLIENT_KEYS];
  struct apt_conf *conf;
  struct apt_netrc *netrc;
  char **env; /* the proxy variables as the method was started with, name=value */
  size_t nenv;
  int ready; /* after the 601 (or the first 600): setup done */
  char binary[300]; /* "Binary::NAME", NAME the basename of argv[0] (http, https) */
  pthread_mutex_t out_mu;
  pthread_mutex_t mu; /* clients, active, base */
  pthread_cond_t idle;
  struct client_ent *clients;
  unsigned active;
  struct req *reqs; /* running requests */
};

static struct method M;

/* ---- output ---------------------------------------------------------------- */

static void put(struct apt_out *o) {
  size_t len = 0;
  char *text = apt_out_finish(o, &len);
  if (!text)
    return;
  pthread_mutex_lock(&M.out_mu);
  for (size_t done = 0; done < len;) {
    ssize_t w = write(STDOUT_FILENO, text + done, len - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      break; /* apt is gone: the read side sees EOF and stops us */
    done += (size_t)w;
  }
  pthread_mutex_unlock(&M.out_mu);
  free(text);
}

/* A message with only a Message field: 401 General Failure, 104 Warning. */
static void plain_message(int code, const char *text, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void plain_message(int code, const char *text, const char *fmt, va_list ap) {
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt, ap);
  struct apt_out *o = apt_out_new(code, text);
  apt_out_add(o, "Message", buf);
  put(o);
}

static void general_failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void general_failure(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  plain_message(401, "General Failure", fmt, ap);
  va_end(ap);
}

static void warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warning(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  plain_message(104, "Warning", fmt, ap);
  va_end(ap);
}

/* A 400 URI Failure, built (for a reply that goes out later) or sent. */
static struct apt_out *failure_msg(const char *uri, const char *reason, int transient,
                                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static struct apt_out *vfailure_msg(const char *uri, const char *reason, int transient,
                                    const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
static struct apt_out *vfailure_msg(const char *uri, const char *reason, int transient,
                                    const char *fmt, va_list ap) {
  char buf[2048];
  vsnprintf(buf, sizeof buf, fmt, ap);
  struct apt_out *o = apt_out_new(400, "URI Failure");
  apt_out_add(o, "URI", uri);
  apt_out_add(o, "Message", buf);
  apt_out_add(o, "FailReason", reason);
  if (transient)
    apt_out_add(o, "Transient-Failure", "true");
  return o;
}

static struct apt_out *failure_msg(const char *uri, const char *reason, int transient,
                                   const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  struct apt_out *o = vfailure_msg(uri, reason, transient, fmt, ap);
  va_end(ap);
  return o;
}

static void uri_failure(const char *uri, const char *reason, int transient, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void uri_failure(const char *uri, const char *reason, int transient, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  put(vfailure_msg(uri, reason, transient, fmt, ap));
  va_end(ap);
}

/* ---- settings and clients --------------------------------------------------- */

static const char *saved_env(const char *name) {
  size_t nl = strlen(name);
  for (size_t i = 0; i < M.nenv; i++)
    if (strncmp(M.env[i], name, nl) == 0 && M.env[i][nl] == '=')
      return M.env[i] + nl + 1;
  return NULL;
}

/* apt's option for scheme and host, Acquire::scheme::host::opt first. */
static const char *opt(const char *scheme, const char *host, const char *name) {
  return apt_conf_find(M.conf, scheme, host, name);
}

/* apt's StringToBool on an option's value: 1 only for a yes, a no, or
 * NULL for unset */
static int is_true(const char *v) {
  return apt_string_to_bool(v, 0) == 1;
}

static int is_false(const char *v) {
  return apt_string_to_bool(v, 1) == 0;
}

/* One value per client_keys[i]. */
struct setting {
  char value[1024];
  int set; /* else the YAML's own value */
};

/* The index of key in client_keys (one of them: a literal below). */
static size_t key_index(const char *key) {
  size_t i = 0;
  while (i + 1 < NCLIENT_KEYS && strcmp(client_keys[i], key) != 0)
    i++;
  return i;
}

static void set(struct setting *s, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set(struct setting *s, const char *key, const char *fmt, ...) {
  size_t i = key_index(key);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s[i].value, sizeof s[i].value, fmt, ap);
  va_end(ap);
  s[i].set = 1;
}

/* What apt's configuration says for a request to scheme://host. */
static void settings_for(const char *scheme, const char *host, const char *msg_proxy,
                         const char *uri, struct setting *s) {
  memset(s, 0, NCLIENT_KEYS * sizeof *s);
  const char *v;
  set(s, "user_agent", "%s", (v = opt(scheme, host, "User-Agent")) && *v ? v : METHOD_UA);
  char *proxy = apt_proxy_for(M.conf, uri, msg_proxy, saved_env);
  const char *pl = NULL, *pp = NULL;
  if (proxy && M.netrc && apt_netrc_find(M.netrc, proxy, &pl, &pp) == 1 && pl && *pl) {
    /* apt looks the proxy up in auth.conf too */
    char *with = apt_url_with_userinfo(proxy, pl, pp && *pp ? pp : NULL);
    if (with) {
      free(proxy);
      proxy = with;
    }
  }
  /* "" is no proxy at all: libcurl's own look at the environment is off
   * (the method cleared those variables; apt_proxy_for read them) */
  set(s, "proxy", "%s", proxy ? proxy : "");
  free(proxy);
  long long t = apt_conf_int(M.conf, "Acquire::http::Timeout", 30);
  if ((v = opt(scheme, host, "Timeout")))
    t = strtoll(v, NULL, 10);
  if (t >= 1 && t <= 86400) {
    set(s, "connect_timeout", "%llds", t);
    set(s, "stall_timeout", "%llds", t);
  }
  if ((v = opt(scheme, host, "Dl-Limit")) && strtoll(v, NULL, 10) > 0)
    set(s, "rate_limit", "%lldKiB", strtoll(v, NULL, 10));
  if (is_false(opt(scheme, host, "AllowRedirect")))
    set(s, "max_redirects", "0");
  set(s, "redirect_downgrade", "false"); /* apt: same scheme, or http -> https */
  /* apt retries a transient failure itself (Acquire::Retries): the engine's
   * own retries resume a part in place, a few times (3, or the config's
   * retries if fewer), not for minutes */
  const char *yaml = M.base_vals[key_index("retries")];
  long yaml_retries = yaml ? strtol(yaml, NULL, 10) : 3;
  set(s, "retries", "%ld", yaml_retries >= 1 && yaml_retries < 3 ? yaml_retries : 3L);
  /* https's TLS options, for an http URL too: a redirect may lead to https
   * (apt's own method hands that to its https method, which reads them) */
  const char *tls = "https";
  if (is_false(opt(tls, host, "Verify-Peer")))
    set(s, "tls.verify", "false");
  if (is_false(opt(tls, host, "Verify-Host")))
    set(s, "tls.verify_host", "false");
  if ((v = opt(tls, host, "CaInfo")) && *v) {
    /* apt loads CaInfo instead of the default store, not besides it */
    set(s, "tls.cacert", "%s", v);
    set(s, "tls.cacert_only", "true");
  }
  if ((v = opt(tls, host, "SslCert")) && *v)
    set(s, "tls.cert", "%s", v);
  if ((v = opt(tls, host, "SslKey")) && *v)
    set(s, "tls.key", "%s", v);
  if ((v = opt(tls, host, "CrlFile")) && *v)
    set(s, "tls.crlfile", "%s", v);
}

/* The client for these settings, made on first use. NULL with err set. */
static pf_client *client_for(const struct setting *s, char *err, size_t errlen) {
  size_t cap = 64;
  for (size_t i = 0; i < NCLIENT_KEYS; i++)
    cap += strlen(client_keys[i]) + strlen(s[i].value) + 4;
  char *key = malloc(cap);
  if (!key) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  size_t k = 0;
  for (size_t i = 0; i < NCLIENT_KEYS; i++)
    k += (size_t)snprintf(key + k, cap - k, "%s=%d:%s\n", client_keys[i], s[i].set, s[i].value);
  pthread_mutex_lock(&M.mu);
  for (struct client_ent *c = M.clients; c; c = c->next)
    if (strcmp(c->key, key) == 0) {
      pthread_mutex_unlock(&M.mu);
      free(key);
      return c->c;
    }
  pf_client *made = NULL;
  pf_status st = PF_OK;
  for (size_t i = 0; i < NCLIENT_KEYS && st == PF_OK; i++) {
    /* an unset YAML value (config_get's NULL: string keys only) is unset
     * again with "" */
    const char *v = s[i].set ? s[i].value : M.base_vals[i] ? M.base_vals[i] : "";
    st = M.e->config_set(M.base, client_keys[i], v);
    if (st != PF_OK)
      snprintf(err, errlen, "%s", M.e->config_error(M.base));
  }
  if (st == PF_OK && (st = M.e->client_new(M.base, &made)) != PF_OK)
    snprintf(err, errlen, "cannot make a client: %s", M.e->strerror(st));
  struct client_ent *ce = made ? calloc(1, sizeof *ce) : NULL;
  if (made && !ce) {
    M.e->client_free(made);
    made = NULL;
    snprintf(err, errlen, "out of memory");
  }
  if (ce) {
    ce->key = key;
    ce->c = made;
    ce->next = M.clients;
    M.clients = ce;
    key = NULL;
  }
  pthread_mutex_unlock(&M.mu);
  free(key);
  return made;
}

/* ---- one request -------------------------------------------------------------- */

struct req {
  struct apt_msg msg;
  const char *uri, *filename; /* in msg */
  pf_session *s;              /* while it runs (under M.mu): 102 Status reads it */
  uint64_t status_ns;         /* when the last 102 went out */
  struct req *next, **pprev;  /* M.reqs, under M.mu */
};

/* Hashes of the stored file, as apt reads them in 201. */
static int hash_file(const char *path, struct apt_out *o, int want_sha1, int want_md5,
                     uint64_t *size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  const EVP_MD *mds[4] = {EVP_sha256(), EVP_sha512(), want_sha1 ? EVP_sha1() : NULL,
                          want_md5 ? EVP_md5() : NULL};
  static const char *const names[4] = {"SHA256-Hash", "SHA512-Hash", "SHA1-Hash", "MD5Sum-Hash"};
  EVP_MD_CTX *ctx[4] = {0};
  int ok = 1;
  for (int i = 0; i < 4; i++)
    if (mds[i] && (!(ctx[i] = EVP_MD_CTX_new()) || EVP_DigestInit_ex(ctx[i], mds[i], NULL) != 1))
      ok = 0;
  size_t cap = 1 << 20;
  unsigned char *buf = ok ? malloc(cap) : NULL;
  uint64_t total = 0;
  for (;;) {
    ssize_t r = buf ? read(fd, buf, cap) : -1;
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      ok = ok && r == 0;
      break;
    }
    total += (uint64_t)r;
    for (int i = 0; i < 4; i++)
      if (ctx[i] && EVP_DigestUpdate(ctx[i], buf, (size_t)r) != 1)
        ok = 0;
  }
  close(fd);
  free(buf);
  for (int i = 0; i < 4; i++) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (ctx[i] && ok && EVP_DigestFinal_ex(ctx[i], md, &mdlen) == 1) {
      char hex[2 * EVP_MAX_MD_SIZE + 1];
      for (unsigned k = 0; k < mdlen; k++)
        snprintf(hex + 2 * k, 3, "%02x", md[k]);
      apt_out_add(o, names[i], hex);
    }
    EVP_MD_CTX_free(ctx[i]);
  }
  *size = total;
  return ok ? 0 : -1;
}

static void set_mtime(const char *path, const char *last_modified) {
  int64_t t = apt_time_parse(last_modified);
  if (t < 0)
    return;
  struct timespec ts[2] = {{(time_t)t, 0}, {(time_t)t, 0}};
  utimensat(AT_FDCWD, path, ts, 0);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The reply to a failed session, from what the engine says of it. */
static struct apt_out *fail_session(const struct req *r, pf_session *s, pf_status st) {
  pf_stats stats;
  memset(&stats, 0, sizeof stats);
  stats.struct_size = sizeof stats;
  if (!s || M.e->get_stats(s, &stats) != PF_OK)
    memset(&stats, 0, sizeof stats);
  char rbuf[32];
  int transient = 0;
  const char *reason =
      apt_fail_reason(st, stats.http_status, stats.net_error, &transient, rbuf, sizeof rbuf);
  const char *detail = s ? M.e->errmsg(s) : "";
  if (st == PF_E_CHECKSUM)
    return failure_msg(r->uri, reason, 0, "Hash Sum mismatch (%s)", detail);
  return failure_msg(r->uri, reason, transient, "%s%s%s", M.e->strerror(st),
                     *detail ? ": " : "", detail);
}

static void serve(struct req *r) {
  char err[2048];
  char *url = NULL, *user = NULL, *pass = NULL, *scheme = NULL, *host = NULL, *path = NULL;
  char *auth = NULL;
  pf_session *s = NULL;
  /* the answer that ends a session goes out once it is closed: apt may ask
   * for the same file again at once (Retries::Delay false), and that
   * request must not find this session's side file still locked */
  struct apt_out *reply = NULL;
  int port = 0;
  if (apt_uri_userinfo(r->uri, &url, &user, &pass) != 0) {
    uri_failure(r->uri, NULL, 0, "out of memory");
    goto out;
  }
  if (apt_uri_split(url, &scheme, &host, &port, &path) != 0) {
    uri_failure(r->uri, NULL, 0, "not a URI this method can read: %s", r->uri);
    goto out;
  }
  if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
    uri_failure(r->uri, NULL, 0, "the %s scheme is not served by this method (http and https are)",
                scheme);
    goto out;
  }
  for (char *p = scheme; *p; p++)
    *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);

  char sum[160];
  int has_sum = apt_expected_checksum(&r->msg, sum, sizeof sum, err, sizeof err);
  if (has_sum < 0) {
    uri_failure(r->uri, NULL, 0, "%s", err);
    goto out;
  }
  struct setting st_set[NCLIENT_KEYS];
  settings_for(scheme, host, apt_msg_get(&r->msg, "Proxy"), url, st_set);
  pf_client *c = client_for(st_set, err, sizeof err);
  if (!c) {
    uri_failure(r->uri, NULL, 0, "%s", err);
    goto out;
  }

  /* credentials: the URI's own, else auth.conf's; the engine sends them
   * only to this host, never to one a redirect names */
  const char *login = user, *password = pass;
  if (!login && M.netrc)
    apt_netrc_find(M.netrc, url, &login, &password);
  const char *headers[4];
  size_t nh = 0;
  if (login && !(auth = pfh_basic_auth(login, password ? password : ""))) {
    uri_failure(r->uri, NULL, 0, "out of memory");
    goto out;
  }
  if (auth)
    headers[nh++] = auth;
  /* apt's cache control: an index is always revalidated by a cache on the
   * way (Max-Age, default 0); No-Store for the rest */
  const char *v;
  char maxage[64];
  if (is_true(opt(scheme, host, "No-Cache"))) {
    headers[nh++] = "Cache-Control: no-cache";
    headers[nh++] = "Pragma: no-cache";
  } else if (is_true(apt_msg_get(&r->msg, "Index-File"))) {
    long age = (v = opt(scheme, host, "Max-Age")) ? strtol(v, NULL, 10) : 0;
    snprintf(maxage, sizeof maxage, "Cache-Control: max-age=%ld", age > 0 ? age : 0);
    headers[nh++] = maxage;
  } else if (is_true(opt(scheme, host, "No-Store"))) {
    headers[nh++] = "Cache-Control: no-store";
  }
  headers[nh] = NULL;

  pf_open_args a;
  memset(&a, 0, sizeof a);
  a.struct_size = sizeof a;
  a.output_path = r->filename;
  a.checksum = has_sum ? sum : NULL;
  /* no fsync at commit: apt's own method never syncs partial/, and apt
   * checks a file in archives/ by its hash before it uses it */
  a.flags = PF_OPEN_RESUME | PF_OPEN_PREFIX | PF_OPEN_NO_SYNC;
  a.cancel_flag = &stopping;
  a.headers = headers;
  const char *lm = apt_msg_get(&r->msg, "Last-Modified");
  int64_t ims = lm ? apt_time_parse(lm) : -1;
  a.if_modified_since = ims > 0 ? ims : 0;
  const char *mx = apt_msg_get(&r->msg, "Maximum-Size");
  a.max_size = mx ? strtoull(mx, NULL, 10) : 0;

  pf_status st = M.e->open_on(c, url, &a, &s);
  if (__atomic_load_n(&stopping, __ATOMIC_ACQUIRE))
    goto out; /* stopped: apt does not wait for answers */
  if (st == PF_E_NOT_MODIFIED) {
    /* what apt has is current: no partial file, and IMS-Hit */
    unlink(r->filename);
    reply = apt_out_new(201, "URI Done");
    apt_out_add(reply, "URI", r->uri);
    apt_out_add(reply, "Filename", r->filename);
    apt_out_add(reply, "IMS-Hit", "true");
    goto out;
  }
  if (st != PF_OK) {
    reply = fail_session(r, s, st);
    goto out;
  }
  pf_info info;
  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  M.e->get_info(s, &info);
  pf_stats stats;
  memset(&stats, 0, sizeof stats);
  stats.struct_size = sizeof stats;
  M.e->get_stats(s, &stats);
  struct apt_out *o = apt_out_new(200, "URI Start");
  apt_out_add(o, "URI", r->uri);
  if (info.size != PF_SIZE_UNKNOWN)
    apt_out_addf(o, "Size", "%llu", (unsigned long long)info.size);
  apt_out_add(o, "Last-Modified", info.last_modified);
  if (stats.bytes_resumed)
    apt_out_addf(o, "Resume-Point", "%llu", (unsigned long long)stats.bytes_resumed);
  put(o);

  pthread_mutex_lock(&M.mu);
  r->s = s;
  r->status_ns = now_ns();
  pthread_mutex_unlock(&M.mu);
  st = M.e->run(s);
  pthread_mutex_lock(&M.mu);
  r->s = NULL;
  pthread_mutex_unlock(&M.mu);
  if (st == PF_OK)
    st = M.e->commit(s);
  if (__atomic_load_n(&stopping, __ATOMIC_ACQUIRE))
    goto out;
  if (st != PF_OK) {
    reply = fail_session(r, s, st);
    goto out;
  }
  M.e->get_stats(s, &stats);
  /* what was stored: run() may have started over on a changed object */
  M.e->get_info(s, &info);
  set_mtime(r->filename, info.last_modified);
  o = apt_out_new(201, "URI Done");
  apt_out_add(o, "URI", r->uri);
  apt_out_add(o, "Filename", r->filename);
  struct stat fst;
  uint64_t size = stat(r->filename, &fst) == 0 ? (uint64_t)fst.st_size : stats.bytes_written;
  if (has_sum && (strncmp(sum, "sha512=", 7) == 0 || strncmp(sum, "sha256=", 7) == 0)) {
    /* the engine hashed the stored bytes as they were written and commit
     * found them equal to this: that digest is ours, and apt needs one
     * strong hash it expects to compare (HashStringList: one match, no
     * mismatch); no second read of the file */
    apt_out_add(o, sum[3] == '5' ? "SHA512-Hash" : "SHA256-Hash", strchr(sum, '=') + 1);
  } else if (hash_file(r->filename, o, apt_msg_get(&r->msg, "Expected-SHA1") != NULL,
                       apt_msg_get(&r->msg, "Expected-MD5Sum") != NULL, &size) != 0) {
    int e = errno;
    free(apt_out_finish(o, NULL));
    reply = failure_msg(r->uri, NULL, 0, "cannot read back %s: %s", r->filename, strerror(e));
    goto out;
  }
  apt_out_addf(o, "Size", "%llu", (unsigned long long)size);
  apt_out_addf(o, "Checksum-FileSize-Hash", "%llu", (unsigned long long)size);
  apt_out_add(o, "Last-Modified", info.last_modified);
  if (stats.bytes_resumed)
    apt_out_addf(o, "Resume-Point", "%llu", (unsigned long long)stats.bytes_resumed);
  reply = o;
out:
  if (s)
    M.e->close(s, 0);
  put(reply);
  if (auth) {
    OPENSSL_cleanse(auth, strlen(auth));
    free(auth);
  }
  free(url), free(user), free(pass), free(scheme), free(host), free(path);
}

static void *request_main(void *arg) {
  struct req *r = arg;
  serve(r);
  pthread_mutex_lock(&M.mu);
  *r->pprev = r->next;
  if (r->next)
    r->next->pprev = r->pprev;
  M.active--;
  pthread_cond_broadcast(&M.idle);
  pthread_mutex_unlock(&M.mu);
  apt_msg_free(&r->msg);
  free(r);
  return NULL;
}

/* 102 Status for each running download, every STATUS_EVERY_NS (main thread). */
static void status_tick(void) {
  uint64_t now = now_ns();
  pthread_mutex_lock(&M.mu);
  for (struct req *r = M.reqs; r; r = r->next) {
    if (!r->s || now - r->status_ns < STATUS_EVERY_NS)
      continue;
    r->status_ns = now;
    pf_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    if (M.e->get_stats(r->s, &st) != PF_OK)
      continue;
    struct apt_out *o = apt_out_new(102, "Status");
    apt_out_add(o, "URI", r->uri);
    if (st.size != PF_SIZE_UNKNOWN)
      apt_out_addf(o, "Message", "%.1f of %.1f MiB, %u streams",
                   (double)st.bytes_written / 1048576.0, (double)st.size / 1048576.0,
                   st.streams_active);
    else
      apt_out_addf(o, "Message", "%.1f MiB", (double)st.bytes_written / 1048576.0);
    put(o);
  }
  pthread_mutex_unlock(&M.mu);
}

/* ---- set-up: what needs root first, then drop it -------------------------------- */

static void on_signal(int sig) {
  __atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
  int e = errno;
  char c = (char)sig;
  if (write(sig_pipe[1], &c, 1) < 0) {
  }
  errno = e;
}

static int drop_privileges(char *err, size_t errlen) {
  const char *user = apt_conf_get(M.conf, "APT::Sandbox::User");
  if (getuid() != 0 || !user || !*user)
    return 0; /* not root, or apt blanked it: _apt could not write the destination */
  struct passwd *pw = getpwnam(user);
  if (!pw) {
    snprintf(err, errlen, "APT::Sandbox::User %s: no such user", user);
    return -1;
  }
  uid_t uid = pw->pw_uid;
  gid_t gid = pw->pw_gid;
  if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) {
    snprintf(err, errlen, "cannot become %s: %s", user, strerror(errno));
    return -1;
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
    return -1;
  }
  if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
    snprintf(err, errlen, "could become root again after dropping to %s", user);
    return -1;
  }
  return 0;
}

static const char *const proxy_vars[] = {"http_proxy", "https_proxy", "HTTPS_PROXY", "no_proxy",
                                         "NO_PROXY",   "all_proxy",   "ALL_PROXY"};

static int load_plugin(char *err, size_t errlen);

static int setup(char *err, size_t errlen) {
  M.ready = 1;
  /* the plugin and the YAML config, as root: on the 601, not at start, so
   * that apt's first run of a method, only for its capabilities, is quick */
  if (load_plugin(err, errlen) != 0)
    return -1;
  /* auth.conf: read as root, before privileges go */
  char *file = apt_conf_file(M.conf, "Dir::Etc::netrc", NULL);
  char *parts = apt_conf_dir(M.conf, "Dir::Etc::netrcparts", NULL);
  M.netrc = apt_netrc_new();
  int rc = M.netrc ? apt_netrc_load(M.netrc, file, parts, err, errlen) : -1;
  free(file), free(parts);
  if (!M.netrc) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  /* what could be read is kept; a mistake in a file is apt's to show, not a
   * reason to fail every download (apt's own method ignores it) */
  if (rc != 0)
    warning("%s", err);
  /* the environment's proxies are apt_proxy_for's to weigh; libcurl must
   * not read them again behind its back (a DIRECT would not be) */
  for (size_t i = 0; i < sizeof proxy_vars / sizeof proxy_vars[0]; i++) {
    const char *v = getenv(proxy_vars[i]);
    if (!v)
      continue;
    char **grown = realloc(M.env, (M.nenv + 1) * sizeof *grown);
    if (!grown)
      return -1;
    M.env = grown;
    if (asprintf(&M.env[M.nenv], "%s=%s", proxy_vars[i], v) < 0)
      return -1;
    M.nenv++;
    unsetenv(proxy_vars[i]);
  }
  return drop_privileges(err, errlen);
}

/* The plugin and the YAML config, before anything else (as root). */
static int load_plugin(char *err, size_t errlen) {
  if (pfh_discover(NULL, &M.files, err, errlen) != 0)
    return -1;
  char *path = NULL;
  int r = pfh_config_plugin(&M.files, &path, err, errlen);
  if (r < 0)
    return -1;
  char def[4096];
  if (r == 0 || !path || !*path) {
    free(path);
    path = NULL;
    if (pfh_default_plugin_path(def, sizeof def) != 0) {
      snprintf(err, errlen, "cannot find the plugin: path too long");
      return -1;
    }
  }
  int lr = pfh_load(path ? path : def, &M.pl, err, errlen);
  free(path);
  if (lr != 0)
    return -1;
  M.e = M.pl.entry;
  if (M.e->struct_size < PF_SIZE_THROUGH(pf_entry, open_on) || M.e->abi_minor < 3) {
    snprintf(err, errlen, "%s: ABI %u.%u, the apt method needs 1.3", M.pl.path, M.e->abi_major,
             M.e->abi_minor);
    return -1;
  }
  if (!(M.base = M.e->config_new())) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < M.files.count; i++)
    if (M.e->config_load(M.base, M.files.paths[i]) != PF_OK) {
      snprintf(err, errlen, "%s", M.e->config_error(M.base));
      return -1;
    }
  for (size_t i = 0; i < NCLIENT_KEYS; i++) {
    const char *v = M.e->config_get(M.base, client_keys[i]);
    M.base_vals[i] = v ? strdup(v) : NULL;
  }
  return 0;
}

/* ---- the message loop --------------------------------------------------------- */

static void acquire(struct apt_msg *m) {
  const char *uri = apt_msg_get(m, "URI"), *filename = apt_msg_get(m, "Filename");
  if (!uri || !*uri) {
    general_failure("600 URI Acquire without a URI");
    apt_msg_free(m);
    return;
  }
  if (!filename || !*filename) {
    uri_failure(uri, NULL, 0, "600 URI Acquire without a Filename");
    apt_msg_free(m);
    return;
  }
  struct req *r = calloc(1, sizeof *r);
  if (!r) {
    uri_failure(uri, NULL, 1, "out of memory");
    apt_msg_free(m);
    return;
  }
  r->msg = *m;
  memset(m, 0, sizeof *m);
  r->uri = apt_msg_get(&r->msg, "URI");
  r->filename = apt_msg_get(&r->msg, "Filename");
  pthread_mutex_lock(&M.mu);
  while (M.active >= MAX_REQUESTS)
    pthread_cond_wait(&M.idle, &M.mu);
  M.active++;
  r->next = M.reqs;
  if (M.reqs)
    M.reqs->pprev = &r->next;
  r->pprev = &M.reqs;
  M.reqs = r;
  pthread_mutex_unlock(&M.mu);
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  pthread_t th;
  int e = pthread_create(&th, &at, request_main, r);
  pthread_attr_destroy(&at);
  if (e != 0) {
    uri_failure(r->uri, NULL, 1, "cannot start a thread: %s", strerror(e));
    pthread_mutex_lock(&M.mu);
    *r->pprev = r->next;
    if (r->next)
      r->next->pprev = r->pprev;
    M.active--;
    pthread_mutex_unlock(&M.mu);
    apt_msg_free(&r->msg);
    free(r);
  }
}

static void handle(struct apt_msg *m) {
  char err[1024];
  switch (m->code) {
  case 601:
    if (M.ready) {
      general_failure("a second 601 Configuration: ignored");
      break;
    }
    if (apt_conf_from_msg(M.conf, m, err, sizeof err) != 0) {
      general_failure("601 Configuration: %s", err);
      break;
    }
    /* as apt's methods: Binary::<our name>::X is X for us */
    if (apt_conf_move_subtree(M.conf, M.binary, NULL) != 0) {
      general_failure("out of memory");
      break;
    }
    if (setup(err, sizeof err) != 0) {
      general_failure("%s", err);
      __atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
    }
    break;
  case 600:
    if (!M.ready && setup(err, sizeof err) != 0) {
      general_failure("%s", err);
      __atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
      break;
    }
    if (__atomic_load_n(&stopping, __ATOMIC_ACQUIRE))
      break; /* set-up failed (privileges kept?) or we stop: serve nothing */
    acquire(m);
    break;
  default: {
    const char *uri = apt_msg_get(m, "URI");
    if (uri)
      uri_failure(uri, NULL, 0, "message %d (%s) is not one this method knows", m->code,
                  m->text ? m->text : "");
    else
      general_failure("message %d (%s) is not one this method knows", m->code,
                      m->text ? m->text : "");
  }
  }
  apt_msg_free(m);
}

int main(int argc, char **argv) {
  char err[2048];
  const char *name = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;
  name = name ? name + 1 : argc > 0 && argv[0] ? argv[0] : "parfetch";
  snprintf(M.binary, sizeof M.binary, "Binary::%s", name);
  pthread_mutex_init(&M.out_mu, NULL);
  pthread_mutex_init(&M.mu, NULL);
  pthread_cond_init(&M.idle, NULL);
  signal(SIGPIPE, SIG_IGN);
  if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
    return 100;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  struct apt_out *o = apt_out_new(100, "Capabilities");
  apt_out_add(o, "Version", "1.2");
  apt_out_add(o, "Pipeline", "true");
  apt_out_add(o, "Send-Config", "true");
  apt_out_add(o, "Send-URI-Encoded", "true");
  put(o);

  M.conf = apt_conf_new();
  struct apt_reader *rd = apt_reader_new(MAX_MSG);
  if (!M.conf || !rd)
    return 100;
  int status = 0;
  while (!__atomic_load_n(&stopping, __ATOMIC_ACQUIRE)) {
    struct pollfd p[2] = {{STDIN_FILENO, POLLIN, 0}, {sig_pipe[0], POLLIN, 0}};
    int n = poll(p, 2, 1000);
    if (n < 0 && errno != EINTR)
      break;
    status_tick();
    if (n <= 0 || !(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
      continue;
    char buf[65536];
    ssize_t got = read(STDIN_FILENO, buf, sizeof buf);
    if (got < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (got <= 0) {
      if (apt_reader_eof(rd, err, sizeof err))
        general_failure("input ended inside a message: %s", err);
      break; /* apt is done with us */
    }
    if (apt_reader_feed(rd, buf, (size_t)got) != 0) {
      general_failure("out of memory");
      status = 100;
      break;
    }
    for (;;) {
      struct apt_msg m;
      memset(&m, 0, sizeof m);
      int r = apt_reader_next(rd, &m, err, sizeof err);
      if (r == 0)
        break;
      if (r == -2) {
        general_failure("out of memory reading apt's messages");
        status = 100;
        __atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
        break;
      }
      if (r < 0) {
        general_failure("malformed message from apt: %s", err);
        continue;
      }
      handle(&m);
    }
  }
  /* stop what runs: every session polls `stopping` */
  __atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
  pthread_mutex_lock(&M.mu);
  while (M.active > 0)
    pthread_cond_wait(&M.idle, &M.mu);
  pthread_mutex_unlock(&M.mu);
  for (struct client_ent *c = M.clients, *next; c; c = next) {
    next = c->next;
    M.e->client_free(c->c);
    free(c->key);
    free(c);
  }
  if (M.e && M.base)
    M.e->config_free(M.base);
  for (size_t i = 0; i < NCLIENT_KEYS; i++)
    free(M.base_vals[i]);
  for (size_t i = 0; i < M.nenv; i++)
    free(M.env[i]);
  free(M.env);
  apt_reader_free(rd);
  apt_conf_free(M.conf);
  apt_netrc_free(M.netrc);
  pfh_config_files_free(&M.files);
  pfh_unload(&M.pl);
  return status;
}
