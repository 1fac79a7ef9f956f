/*
 * apt_proxy.c - apt's proxy choice for a request, and the URI split it and
 * apt_netrc.c use (rules in apt_proxy.h).
 *
 * Owns: nothing beyond the strings it returns.
 * Threads: the caller's; reads the environment through getenv_fn. No globals.
 */
#include "apt_proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void apt_uri_free(struct apt_uri *u) {
  if (!u)
    return;
  free(u->scheme);
  free(u->user);
  free(u->password);
  free(u->host);
  free(u->path);
  memset(u, 0, sizeof *u);
}

int apt_uri_parse(const char *uri, struct apt_uri *u) {
  memset(u, 0, sizeof *u);
  if (!uri)
    return -1;
  const char *colon = strchr(uri, ':');
  if (!colon || colon == uri || strncmp(colon, "://", 3) != 0)
    return -1;
  const char *auth = colon + 3, *slash = auth;
  int inb = 0;
  for (; *slash && (*slash != '/' || inb); slash++) { /* '/' inside [] is not the end */
    if (*slash == '[')
      inb = 1;
    else if (*slash == ']')
      inb = 0;
  }
  const char *hp = auth, *at = NULL;
  for (const char *p = auth; p < slash; p++)
    if (*p == '@')
      at = p;
  u->scheme = strndup(uri, (size_t)(colon - uri));
  u->path = *slash ? strdup(slash) : strdup("/");
  if (!u->scheme || !u->path)
    goto bad;
  if (at) {
    const char *c2 = memchr(auth, ':', (size_t)(at - auth));
    char *user = strndup(auth, (size_t)((c2 ? c2 : at) - auth));
    u->user = user ? apt_dequote(user) : NULL;
    free(user);
    if (!u->user)
      goto bad;
    if (c2) {
      char *pw = strndup(c2 + 1, (size_t)(at - c2 - 1));
      u->password = pw ? apt_dequote(pw) : NULL;
      free(pw);
      if (!u->password)
        goto bad;
    }
    hp = at + 1;
  }
  const char *hend, *portp = NULL;
  if (*hp == '[') {
    const char *rb = memchr(hp, ']', (size_t)(slash - hp));
    if (!rb)
      goto bad;
    u->host = strndup(hp + 1, (size_t)(rb - hp - 1));
    if (rb + 1 < slash) {
      if (rb[1] != ':')
        goto bad;
      portp = rb + 2;
    }
  } else {
    hend = slash;
    for (const char *p = hp; p < slash; p++)
      if (*p == ':')
        hend = p;
    u->host = strndup(hp, (size_t)(hend - hp));
    if (hend < slash)
      portp = hend + 1;
  }
  if (!u->host || !u->host[0] || memchr(u->host, '[', strlen(u->host)) ||
      memchr(u->host, ']', strlen(u->host)))
    goto bad;
  if (portp && portp < slash) {
    long port = 0;
    for (const char *p = portp; p < slash; p++) {
      if (*p < '0' || *p > '9' || port > 65535)
        goto bad;
      port = port * 10 + (*p - '0');
    }
    if (port < 1 || port > 65535)
      goto bad;
    u->port = (int)port;
  }
  return 0;
bad:
  apt_uri_free(u);
  return -1;
}

int apt_uri_split(const char *uri, char **scheme, char **host, int *port, char **path) {
  struct apt_uri u;
  *scheme = *host = *path = NULL;
  *port = 0;
  if (apt_uri_parse(uri, &u) < 0)
    return -1;
  *scheme = u.scheme;
  *host = u.host;
  *port = u.port;
  *path = u.path;
  free(u.user);
  free(u.password);
  return 0;
}

int apt_no_proxy_match(const char *host, const char *list) {
  if (!host || !list)
    return 0;
  size_t hl = strlen(host);
  const char *start = list;
  for (const char *cur = list;; cur++) {
    if (*cur && *cur != ',')
      continue;
    size_t n = (size_t)(cur - start);
    if (n != 0 && hl >= n && apt_ncasecmp(host + hl - n, start, n) == 0)
      return 1;
    if (!*cur)
      return 0;
    start = cur + 1;
  }
}

static const char *env(const char *(*getenv_fn)(const char *), const char *name) {
  return getenv_fn ? getenv_fn(name) : getenv(name);
}

/* aptmethod.h ConfigFind(opt) after setPostfixForMethodNames(host), opt
 * "Proxy::<host>" or "Proxy": apt_conf_find's order, with the 600 Proxy
 * field as the value of Acquire::<scheme>::Proxy::<host>. */
static const char *config_proxy(const struct apt_conf *c, const char *scheme, const char *host,
                                int per_host, const char *msg_proxy) {
  char *opt;
  if (asprintf(&opt, "Proxy%s%s", per_host ? "::" : "", per_host ? host : "") < 0)
    return NULL;
  const char *names[2] = {scheme, strcmp(scheme, "https") == 0 ? "http" : NULL}, *v = NULL;
  for (int pass = 0; pass < 2 && !v; pass++)
    for (int i = 0; i < 2 && names[i] && !v; i++) {
      if (pass == 1 && i == 0 && per_host && msg_proxy && *msg_proxy)
        v = msg_proxy;
      else
        v = apt_conf_find1(c, names[i], pass == 0 ? host : NULL, opt);
    }
  free(opt);
  return v;
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* A "scheme://" proxy URI without a host ("http://", "http://u@:8080"):
 * apt's URI gives an empty Host and http.cc then connects directly. A value
 * without "://" is returned as configured (apt would reject most of them as
 * an unsupported proxy; libcurl takes "host:port" as an http proxy). */
static int hostless(const char *proxy) {
  const char *a = strstr(proxy, "://");
  if (!a)
    return 0;
  a += 3;
  size_t n = strcspn(a, "/");
  const char *at = NULL;
  for (const char *p = a; p < a + n; p++)
    if (*p == '@')
      at = p;
  if (at) {
    n -= (size_t)(at + 1 - a);
    a = at + 1;
  }
  return n == 0 || a[0] == ':' || (n == 2 && a[0] == '[' && a[1] == ']');
}

char *apt_proxy_for(const struct apt_conf *c, const char *uri, const char *msg_proxy,
                    const char *(*getenv_fn)(const char *name)) {
  struct apt_uri u;
  if (apt_uri_parse(uri, &u) < 0)
    return NULL;
  int tls = strcmp(u.scheme, "https") == 0 || ends_with(u.scheme, "+https");
  const char *proxy = config_proxy(c, u.scheme, u.host, 1, msg_proxy);
  if (proxy) {
    if (strcmp(proxy, "DIRECT") == 0)
      proxy = NULL;
  } else if ((proxy = config_proxy(c, u.scheme, u.host, 0, NULL))) {
    /* the general Proxy */
  } else {
    proxy = env(getenv_fn, "http_proxy");
    if (tls) {
      const char *hp = env(getenv_fn, "https_proxy");
      if (hp)
        proxy = hp;
    }
  }
  const char *np = env(getenv_fn, "no_proxy");
  if (np && apt_no_proxy_match(u.host, np))
    proxy = NULL;
  char *out = NULL;
  if (proxy && *proxy && strcmp(proxy, "DIRECT") != 0 && !hostless(proxy))
    out = strdup(proxy);
  apt_uri_free(&u);
  return out;
}
