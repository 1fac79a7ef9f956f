/*
 * apt_proxy.h - which proxy a request uses, as apt 2.6's http method decides
 * (methods/http.cc HttpServerState::Open, methods/basehttp.cc Loop,
 * apt-pkg/contrib/strutl.cc CheckDomainList and URI::CopyFrom), and the
 * URI split both this and apt_netrc use.
 *
 * apt's order, for a request to scheme://host/...:
 *   1. Proxy::<host> through the method's names (apt_conf_find order:
 *      Acquire::https::<host>::Proxy::<host>, Acquire::http::<host>::Proxy::<host>,
 *      Acquire::https::Proxy::<host>, Acquire::http::Proxy::<host>), where the
 *      600 message's Proxy field, when not empty, is the value of
 *      Acquire::<scheme>::Proxy::<host> (apt's Loop stores it there before
 *      connecting; apt's worker sends it for http/https when that key exists
 *      or Proxy-Auto-Detect set it); "DIRECT" means no proxy;
 *   2. Proxy the same way (Acquire::https::Proxy, then Acquire::http::Proxy:
 *      an http proxy setting applies to https too unless https has its own);
 *   3. only when 1 and 2 are unset: $http_proxy, replaced for https by
 *      $https_proxy when that is set (even empty);
 *   4. then $no_proxy, whatever step chose the proxy (a configured one too):
 *      a ',' list; an entry matches when it is a suffix of the host (ASCII
 *      case-insensitive), so "example.com" matches "www.example.com" and
 *      "badexample.com", ".example.com" does not match "example.com", empty
 *      entries are skipped, no white space is trimmed and "*" is not special
 *      (apt's CheckDomainList; curl would treat "*" as every host).
 * Only lower-case environment names, as apt. A chosen value of "DIRECT" at
 * any step, or one without a host (apt then connects directly), is no proxy.
 * Checked against apt 2.6.2's own http and https methods (28 cases of config,
 * environment and 600 Proxy, on loopback). c is the 601 tree after
 * apt_conf_move_subtree(c, "Binary::<argv[0] name>", NULL), as apt's methods
 * do (a Binary::https::Acquire::... setting counts then).
 * A libcurl user must state the answer: CURLOPT_PROXY "" for a direct
 * connection and CURLOPT_NOPROXY "" (else libcurl reads http_proxy and
 * no_proxy itself, with its own rules).
 *
 * Threads: calls getenv_fn; no state. No globals.
 */
#ifndef PFH_APT_PROXY_H
#define PFH_APT_PROXY_H

#include "apt_conf.h"

/* The proxy URL for uri (malloc'd, as configured: credentials in it kept),
 * or NULL for a direct connection (also for a uri that does not split).
 * msg_proxy: the 600 Proxy field or NULL. getenv_fn NULL: getenv. */
char *apt_proxy_for(const struct apt_conf *c, const char *uri, const char *msg_proxy,
                    const char *(*getenv_fn)(const char *name));

/* apt's CheckDomainList(host, list): 1 when an entry of list matches. */
int apt_no_proxy_match(const char *host, const char *list);

/* A URI split as apt's URI class does for scheme://[user[:pass]@]host[:port]/path. */
struct apt_uri {
  char *scheme;   /* before the first ':' */
  char *user;     /* %-decoded; NULL when there is no userinfo */
  char *password; /* %-decoded; NULL when there is no ':' in the userinfo */
  char *host;     /* IPv6 without its brackets; as written (case kept) */
  int port;       /* 0 when none */
  char *path;     /* from the first '/' after the host; "/" when none */
};

/* 0 ok; -1 malformed (no "://", an empty host, an unclosed '[', a port that is
 * not 1..65535 digits) or OOM. Free with apt_uri_free (also after -1). */
int apt_uri_parse(const char *uri, struct apt_uri *u);
void apt_uri_free(struct apt_uri *u);

/* Split a URI: scheme, host (no brackets for IPv6), port (0 if none), path;
 * userinfo dropped. 0 ok, -1 malformed (as apt_uri_parse). Out strings
 * malloc'd (all NULL after -1). */
int apt_uri_split(const char *uri, char **scheme, char **host, int *port, char **path);

#endif /* PFH_APT_PROXY_H */
