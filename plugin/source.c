/*
 * source.c - the URLs of one object (ABI 1.4 mirrors): the primary URL,
 * which the probe asked, and the mirrors the host named. run() deals its
 * streams over them (pf_source_pick); fetch.c checks a mirror's replies
 * (pf_source_check) and run() drops a mirror that failed once.
 *
 * Identity across sources: the probe's size (every reply to a mirror is a
 * 206 whose Content-Range total is that size) and, when the host gave one,
 * the checksum over the whole file. Validators (ETag, Last-Modified) differ
 * between servers and are not compared across them; a mirror's own
 * validator, taken from its first reply, must stay the same in all its
 * replies (the primary's is the probe's, checked as before). Until that
 * first reply a mirror has one stream (pf_source_pick): with several
 * requests under way, a later version of an object that changes could
 * answer first and set the validator the earlier version is refused by.
 *
 * Pure: pf_source_pick, pf_source_slow, pf_source_pace (unit-tested). The
 * rest reads and writes pf_session's sources under s->src_mu (a leaf),
 * from the loop threads (fetch.c, run.c) and from run()'s thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* A source much slower than the best gets no new work: its in-flight range
 * is the thieves' (run.c). */
#define SLOW_RATIO 4.0
/* A source's rate: its requests' paces, the newest weighing this much. */
#define PACE_WEIGHT 0.5

int pf_source_slow(const pf_source_view *v, size_t n, size_t i) {
  double best = 0;
  for (size_t k = 0; k < n; k++)
    if (v[k].live && v[k].rate > best)
      best = v[k].rate;
  return v[i].rate > 0 && v[i].rate * SLOW_RATIO < best;
}

double pf_source_pace(double old, double pace) {
  return old > 0 ? old * (1 - PACE_WEIGHT) + pace * PACE_WEIGHT : pace;
}

/* Streams on host h in all (*all) and on the asking stream's lane (*lane). */
static void host_load(const pf_source_view *v, size_t n, unsigned h, unsigned *all,
                      unsigned *lane) {
  *all = *lane = 0;
  for (size_t k = 0; k < n; k++)
    if (v[k].host == h) {
      *all += v[k].streams;
      *lane += v[k].lane_streams;
    }
}

size_t pf_source_pick(const pf_source_view *v, size_t n, size_t cur, unsigned per_host,
                      unsigned lane_share) {
  size_t best = PF_NO_SOURCE;
  for (size_t i = 0; i < n; i++) {
    if (!v[i].live || pf_source_slow(v, n, i))
      continue;
    if (v[i].unproven && v[i].streams > 0)
      continue; /* its first reply sets its validator: until then, one request */
    unsigned all, lane;
    host_load(v, n, v[i].host, &all, &lane);
    if (all >= per_host || lane >= lane_share)
      continue; /* its host's budget (in all, or this lane's share of it) is full */
    if (i == cur)
      return i; /* its connection is open: stay */
    if (best == PF_NO_SOURCE || v[i].streams < v[best].streams ||
        (v[i].streams == v[best].streams && v[i].rate > v[best].rate))
      best = i;
  }
  return best;
}

/* ---- the session's sources ------------------------------------------------ */

pf_status pf_sources_init(pf_session *s, const char *const *mirrors) {
  size_t n = 1;
  while (mirrors && mirrors[n - 1])
    n++;
  s->src = calloc(n, sizeof *s->src);
  if (!s->src)
    return PF_E_NOMEM;
  s->nsrc = n;
  pthread_mutex_init(&s->src_mu, NULL);
  s->src_mu_init = 1;
  for (size_t i = 1; i < n; i++)
    if (!(s->src[i].url = strdup(mirrors[i - 1])))
      return PF_E_NOMEM;
  return PF_OK;
}

void pf_sources_free(pf_session *s) {
  for (size_t i = 0; i < s->nsrc; i++) {
    free(s->src[i].url);
    free(atomic_load(&s->src[i].moved));
    for (size_t k = 0; k < s->src[i].nretired; k++)
      free(s->src[i].retired[k]);
    free(s->src[i].retired);
    free(s->src[i].host);
    free(s->src[i].etag);
    free(s->src[i].last_modified);
  }
  free(s->src);
  s->src = NULL;
  s->nsrc = 0;
  if (s->src_mu_init)
    pthread_mutex_destroy(&s->src_mu);
  s->src_mu_init = 0;
}

const char *pf_source_url(const pf_session *s, size_t i) {
  if (i == 0 || i >= s->nsrc)
    return s->effective_url ? s->effective_url : s->url;
  char *moved = atomic_load(&((pf_session *)s)->src[i].moved);
  return moved ? moved : s->src[i].url;
}

/* The probe has run: the sources' hosts, and which of them get the
 * credential headers (the primary URL's host only). Returns the number of
 * distinct hosts, 0 on out of memory. */
size_t pf_sources_ready(pf_session *s) {
  size_t nhosts = 0;
  for (size_t i = 0; i < s->nsrc; i++) {
    pf_source *src = &s->src[i];
    free(src->host);
    if (!(src->host = pf_host_key(pf_source_url(s, i))))
      return 0;
    atomic_store(&src->creds, i == 0 ? !s->cross_host : pf_same_host(s->url, pf_source_url(s, i)));
    src->host_id = (unsigned)nhosts;
    for (size_t k = 0; k < i; k++)
      if (strcmp(s->src[k].host, src->host) == 0) {
        src->host_id = s->src[k].host_id;
        break;
      }
    if (src->host_id == nhosts)
      nhosts++;
  }
  return nhosts;
}

/* Is a reply of mirror i the object it proved to be? Its first reply sets
 * its validator (a strong ETag, else Last-Modified); every later one must
 * carry the same. Returns 0 if so; else fills why. */
int pf_source_check(pf_session *s, size_t i, const char *etag, const char *last_modified,
                    char *why, size_t whylen) {
  pf_source *src = &s->src[i];
  int bad = 0;
  if (etag && strncmp(etag, "W/", 2) == 0)
    etag = NULL; /* a weak one promises nothing */
  pthread_mutex_lock(&s->src_mu);
  if (!src->proven) {
    src->proven = 1;
    src->etag = etag && etag[0] ? strdup(etag) : NULL;
    src->last_modified = !src->etag && last_modified && last_modified[0] ? strdup(last_modified)
                                                                          : NULL;
  } else if (src->etag) {
    bad = !etag || strcmp(etag, src->etag) != 0;
    if (bad)
      snprintf(why, whylen, "%s changed: ETag %.100s, now %.100s", src->url, src->etag,
               etag ? etag : "none");
  } else if (src->last_modified) {
    bad = !last_modified || strcmp(last_modified, src->last_modified) != 0;
    if (bad)
      snprintf(why, whylen, "%s changed: Last-Modified %.100s, now %.100s", src->url,
               src->last_modified, last_modified ? last_modified : "none");
  }
  pthread_mutex_unlock(&s->src_mu);
  return bad ? -1 : 0;
}

/* Mirror i's request to from was answered with a redirect to location:
 * its next requests go there, by the session's rules (at most
 * max_redirects, https to http only with redirect_downgrade; credentials
 * only if it leads to the primary URL's host). Returns 0 if so (also when
 * another stream followed it already); else why says why not. */
int pf_source_redirect(pf_session *s, size_t i, const char *from, long status,
                       const char *location, char *why, size_t whylen) {
  pf_source *src = &s->src[i];
  int st = -1;
  char *loc = NULL;
  pthread_mutex_lock(&s->src_mu);
  if (strcmp(pf_source_url(s, i), from) != 0) {
    st = 0; /* followed already */
  } else if (!(loc = pf_http_resolve_location(from, location))) {
    snprintf(why, whylen, "%s: redirect to a malformed URL \"%s\"", from, location);
  } else if (!s->cfg->redirect_downgrade && strncasecmp(from, "https:", 6) == 0 &&
             strncasecmp(loc, "https:", 6) != 0) {
    snprintf(why, whylen, "%s: redirect from https to %s refused (redirect_downgrade)", from, loc);
  } else if (src->hops >= s->cfg->max_redirects) {
    snprintf(why, whylen, "%s: more than %u redirects", src->url, s->cfg->max_redirects);
  } else {
    char *old = atomic_load(&src->moved);
    char **r = old ? realloc(src->retired, (src->nretired + 1) * sizeof *r) : src->retired;
    if (!old || r) {
      if (old)
        (src->retired = r)[src->nretired++] = old; /* another thread may still read it */
      src->hops++;
      int creds = pf_same_host(s->url, loc);
      atomic_store(&src->creds, creds);
      atomic_store(&src->moved, loc);
      pf_log(s, "mirror %s: redirect %ld to %s%s", src->url, status, loc,
             creds ? "" : " (another host: credentials withheld)");
      loc = NULL;
      st = 0;
    } else {
      snprintf(why, whylen, "out of memory");
    }
  }
  pthread_mutex_unlock(&s->src_mu);
  free(loc);
  return st;
}

/* Source i failed: no stream takes it again, unless it is the last live
 * one (then the caller fails the session, or keeps it). Under src_mu: of
 * two sources failing at once, one stays. 1: this call dropped it (the
 * caller says why, once); 0: dropped already; -1: the last. */
int pf_source_drop(pf_session *s, size_t i) {
  if (i >= s->nsrc)
    return 0;
  pthread_mutex_lock(&s->src_mu);
  int rc = atomic_load(&s->src[i].dropped) ? 0 : -1;
  for (size_t k = 0; rc < 0 && k < s->nsrc; k++)
    if (k != i && !atomic_load(&s->src[k].dropped))
      rc = 1;
  if (rc > 0)
    atomic_store(&s->src[i].dropped, 1);
  pthread_mutex_unlock(&s->src_mu);
  return rc;
}

void pf_source_add_bytes(pf_session *s, size_t i, uint64_t n) {
  if (i < s->nsrc)
    atomic_fetch_add(&s->src[i].bytes, n);
}

/* Which sources delivered how many bytes, for a checksum mismatch's
 * message: " (bytes from URL: N, URL: M)", or "" with one source. */
void pf_sources_describe(const pf_session *s, char *out, size_t len) {
  out[0] = '\0';
  if (s->nsrc < 2 || len == 0)
    return;
  size_t at = (size_t)snprintf(out, len, " (bytes from");
  for (size_t i = 0; i < s->nsrc && at < len; i++) {
    uint64_t b = atomic_load(&s->src[i].bytes);
    if (b)
      at += (size_t)snprintf(out + at, len - at, "%s %s: %llu", at > 12 ? "," : "",
                             pf_source_url(s, i), (unsigned long long)b);
  }
  if (at < len)
    snprintf(out + at, len - at, ")");
}
