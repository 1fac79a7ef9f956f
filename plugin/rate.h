/*
 * rate.h - a token bucket of body bytes per second (rate_limit), shared by
 * every transfer of a session, or of a client's sessions. See rate.c.
 */
#ifndef PF_RATE_H
#define PF_RATE_H

#include <pthread.h>
#include <stdint.h>

typedef struct pf_rate {
  pthread_mutex_t mu; /* a leaf: nothing is called under it */
  uint64_t rate;      /* bytes per second, > 0 */
  double burst;       /* the most tokens it holds: PF_RATE_BURST_NS worth */
  double tokens;      /* bytes that may go now; below 0: a debt */
  uint64_t last_ns;   /* when tokens was last brought up to date */
} pf_rate;

/* A full bucket holds this long's worth of bytes: the largest burst. */
#define PF_RATE_BURST_NS 125000000ull

/* A bucket of rate bytes per second (> 0), full at now_ns. NULL on out of
 * memory. */
pf_rate *pf_rate_new(uint64_t rate, uint64_t now_ns);
void pf_rate_free(pf_rate *r);
/* How long from now_ns until bytes may go again: 0 if they may now (the
 * bucket is not in debt), else the time its refill takes to pay the debt. */
uint64_t pf_rate_wait_ns(pf_rate *r, uint64_t now_ns);
/* n bytes went: take them, into debt if there are fewer tokens. */
void pf_rate_take(pf_rate *r, uint64_t n, uint64_t now_ns);
/* The largest read a transfer under a bucket of `rate` should take from its
 * socket at once (CURLOPT_BUFFERSIZE): what one goes into debt by is that
 * read, so several streams together overshoot by at most a few of them. */
long pf_rate_read_size(uint64_t rate, long unlimited);

#endif /* PF_RATE_H */
