/*
 * digest.c - expected checksums ("ALGO=HEX") and OpenSSL EVP digests. The
 * sink feeds it the object's bytes in order; verification compares the
 * final digest with the expected one. One owner at a time (the session's
 * mutex).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "internal.h"

struct pf_digest {
  EVP_MD_CTX *ctx;
  const char *algo;
  unsigned char want[EVP_MAX_MD_SIZE];
  unsigned want_len;
};

static const struct {
  const char *name;
  const EVP_MD *(*md)(void);
} algos[] = {
    {"sha1", EVP_sha1}, {"sha256", EVP_sha256}, {"sha512", EVP_sha512}, {"md5", EVP_md5}};

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = tolower(c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

pf_digest *pf_digest_new(const char *spec, char *err, size_t errlen) {
  const char *eq = strchr(spec, '=');
  if (!eq) {
    snprintf(err, errlen, "checksum \"%s\": expected ALGO=HEX (sha1, sha256, sha512 or md5)", spec);
    return NULL;
  }
  size_t nlen = (size_t)(eq - spec);
  const EVP_MD *md = NULL;
  const char *algo = NULL;
  for (size_t i = 0; i < sizeof algos / sizeof algos[0]; i++) {
    if (strlen(algos[i].name) == nlen && strncasecmp(spec, algos[i].name, nlen) == 0) {
      md = algos[i].md();
      algo = algos[i].name;
    }
  }
  if (!md) {
    snprintf(err, errlen, "checksum \"%.*s\": unknown algorithm (sha1, sha256, sha512 or md5)",
             (int)nlen, spec);
    return NULL;
  }
  const char *hex = eq + 1;
  size_t want = (size_t)EVP_MD_get_size(md), hlen = strlen(hex);
  if (hlen != 2 * want) {
    snprintf(err, errlen, "checksum %s: expected %zu hex digits, got %zu", algo, 2 * want, hlen);
    return NULL;
  }
  pf_digest *d = calloc(1, sizeof *d);
  if (!d) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  for (size_t i = 0; i < want; i++) {
    int hi = hexval((unsigned char)hex[2 * i]), lo = hexval((unsigned char)hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      snprintf(err, errlen, "checksum %s: \"%s\" is not hexadecimal", algo, hex);
      free(d);
      return NULL;
    }
    d->want[i] = (unsigned char)(hi << 4 | lo);
  }
  d->want_len = (unsigned)want;
  d->algo = algo;
  d->ctx = EVP_MD_CTX_new();
  if (!d->ctx || EVP_DigestInit_ex(d->ctx, md, NULL) != 1) {
    snprintf(err, errlen, "checksum %s: OpenSSL cannot initialise the digest", algo);
    pf_digest_free(d);
    return NULL;
  }
  return d;
}

void pf_digest_free(pf_digest *d) {
  if (!d)
    return;
  EVP_MD_CTX_free(d->ctx);
  free(d);
}

int pf_digest_update(pf_digest *d, const void *buf, size_t len) {
  return EVP_DigestUpdate(d->ctx, buf, len) == 1 ? 0 : -1;
}

int pf_digest_verify(pf_digest *d, char *got_hex, size_t got_len) {
  unsigned char got[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  if (EVP_DigestFinal_ex(d->ctx, got, &n) != 1)
    return -1;
  if (got_hex && got_len > 0) {
    got_hex[0] = '\0';
    for (unsigned i = 0; i < n && 2 * i + 2 < got_len; i++)
      snprintf(got_hex + 2 * i, 3, "%02x", got[i]);
  }
  return n == d->want_len && memcmp(got, d->want, n) == 0;
}

const char *pf_digest_algo(const pf_digest *d) {
  return d->algo;
}
