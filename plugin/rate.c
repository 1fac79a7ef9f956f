/*
 * rate.c - rate_limit: a token bucket of body bytes per second, one per
 * session (its config's rate_limit) and one per client (its own config's,
 * for all its sessions together).
 *
 * Why a bucket with a debt: libcurl hands a write callback whatever one read
 * of the socket got, which must be taken whole or not at all (a pause). So a
 * transfer may take bytes while the bucket is not in debt, and takes all of
 * them, going into debt by at most one read; a transfer that finds a bucket
 * in debt pauses its reply (fetch.c: on_write returns CURL_WRITEFUNC_PAUSE,
 * libcurl keeps the bytes and reads no more, TCP's window holds the server
 * back) and sleeps the time the refill takes to pay the debt, then resumes.
 * Over any stretch the bytes taken are at most rate x time + one full bucket
 * (PF_RATE_BURST_NS worth) + one read per stream in flight; reads are kept
 * small under a limit (pf_rate_read_size) so that stays near the burst. No
 * stream waits behind another: whoever finds the debt paid goes first, and
 * every stream sleeps the same refill time.
 *
 * Pure apart from its mutex: the clock is passed in (unit-tested with a
 * fake one). Threads: any transfer thread of the session or client, at
 * once; mu is a leaf.
 */
#include <stdlib.h>

#include "rate.h"

pf_rate *pf_rate_new(uint64_t rate, uint64_t now_ns) {
  if (rate == 0)
    return NULL;
  pf_rate *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  pthread_mutex_init(&r->mu, NULL);
  r->rate = rate;
  r->burst = (double)rate * (double)PF_RATE_BURST_NS / 1e9;
  if (r->burst < 1)
    r->burst = 1;
  r->tokens = r->burst;
  r->last_ns = now_ns;
  return r;
}

void pf_rate_free(pf_rate *r) {
  if (!r)
    return;
  pthread_mutex_destroy(&r->mu);
  free(r);
}

/* Under mu: the tokens the time since last_ns brought, up to a full bucket.
 * A clock read before another thread's later one (now_ns < last_ns) adds
 * nothing. */
static void refill_locked(pf_rate *r, uint64_t now_ns) {
  if (now_ns <= r->last_ns)
    return;
  r->tokens += (double)r->rate * (double)(now_ns - r->last_ns) / 1e9;
  if (r->tokens > r->burst)
    r->tokens = r->burst;
  r->last_ns = now_ns;
}

uint64_t pf_rate_wait_ns(pf_rate *r, uint64_t now_ns) {
  pthread_mutex_lock(&r->mu);
  refill_locked(r, now_ns);
  double debt = -r->tokens;
  pthread_mutex_unlock(&r->mu);
  if (debt <= 0)
    return 0;
  uint64_t ns = (uint64_t)(debt * 1e9 / (double)r->rate) + 1;
  return ns;
}

void pf_rate_take(pf_rate *r, uint64_t n, uint64_t now_ns) {
  pthread_mutex_lock(&r->mu);
  refill_locked(r, now_ns);
  r->tokens -= (double)n;
  pthread_mutex_unlock(&r->mu);
}

long pf_rate_read_size(uint64_t rate, long unlimited) {
  /* a quarter of a full bucket, within libcurl's CURLOPT_BUFFERSIZE bounds
   * (1 KiB..) and never above the unlimited size */
  uint64_t want = (uint64_t)((double)rate * (double)PF_RATE_BURST_NS / 1e9 / 4);
  if (want < 1024)
    want = 1024;
  return want < (uint64_t)unlimited ? (long)want : unlimited;
}
