/*
 * sink.c - where the object's bytes go: the side file next to the output
 * (OUTPUT.pfpart), renamed into place only when every byte is stored,
 * flushed and verified; or a sink of the host's own.
 *
 * The digest is computed in order while the data is written: bytes that
 * arrive at the digest frontier are hashed from the buffer in hand; bytes
 * that arrived ahead of it (other parts) are read back from the side file
 * (still in the page cache) when the frontier reaches them, a bounded amount
 * per write so that the writer never stalls for long. There is no re-read of
 * the whole file after the download.
 *
 * Threads: pf_sink_store runs in the writer thread (run) or in the host's
 * threads (write_sink, fetch_part); it holds s->mu, which guards the range
 * set, the digest and the sink. Commit and discard run in close() alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define SCRATCH_SIZE (256 * 1024)
#define CATCH_UP_BUDGET (8ull * 1024 * 1024) /* digest read-back per store */

pf_status pf_sink_prepare(pf_session *s) {
  if (s->digest) {
    s->scratch = malloc(SCRATCH_SIZE);
    if (!s->scratch)
      return pf_fail(s, PF_E_NOMEM, "out of memory");
  }
  if (!s->out_path)
    return PF_OK;
  struct stat st;
  if (stat(s->out_path, &st) == 0 && S_ISDIR(st.st_mode))
    return pf_fail(s, PF_E_IO, "%s: is a directory", s->out_path);
  s->fd = open(s->side_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (s->fd < 0)
    return pf_fail(s, PF_E_IO, "cannot create %s: %s", s->side_path, strerror(errno));
  if (s->size != PF_SIZE_UNKNOWN && s->size > 0) {
    /* reserve the space now: a full disk is reported before the download */
    int e = posix_fallocate(s->fd, 0, (off_t)s->size);
    if (e == ENOSPC || e == EFBIG || e == EDQUOT)
      return pf_fail(s, PF_E_IO, "cannot reserve %llu bytes for %s: %s",
                     (unsigned long long)s->size, s->side_path, strerror(e));
    if (e != 0 && ftruncate(s->fd, (off_t)s->size) != 0)
      return pf_fail(s, PF_E_IO, "cannot size %s: %s", s->side_path, strerror(errno));
  }
  return PF_OK;
}

static int file_write(int fd, uint64_t off, const unsigned char *p, size_t len) {
  while (len > 0) {
    ssize_t n = pwrite(fd, p, len, (off_t)off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno;
    }
    if (n == 0)
      return EIO;
    p += n;
    off += (uint64_t)n;
    len -= (size_t)n;
  }
  return 0;
}

static int file_read(int fd, uint64_t off, unsigned char *p, size_t len) {
  while (len > 0) {
    ssize_t n = pread(fd, p, len, (off_t)off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno;
    }
    if (n == 0)
      return EIO; /* the file is shorter than what we wrote */
    p += n;
    off += (uint64_t)n;
    len -= (size_t)n;
  }
  return 0;
}

/* Advance the digest frontier: from buf where it covers the frontier, then
 * from storage up to the written prefix, at most `budget` bytes of reads.
 * Called with s->mu held. */
static pf_status digest_advance(pf_session *s, uint64_t off, const unsigned char *buf, size_t len,
                                uint64_t budget) {
  if (!s->digest)
    return PF_OK;
  if (buf && off <= s->digest_pos && s->digest_pos < off + len) {
    size_t skip = (size_t)(s->digest_pos - off);
    if (pf_digest_update(s->digest, buf + skip, len - skip) != 0)
      return pf_fail(s, PF_E_INTERNAL, "OpenSSL digest update failed");
    s->digest_pos = off + len;
  }
  uint64_t prefix = pf_rangeset_prefix(&s->written);
  while (s->digest_pos < prefix && budget > 0) {
    uint64_t n = prefix - s->digest_pos;
    if (n > SCRATCH_SIZE)
      n = SCRATCH_SIZE;
    if (n > budget)
      n = budget;
    int e;
    if (s->fd >= 0)
      e = file_read(s->fd, s->digest_pos, s->scratch, (size_t)n);
    else if (s->host_sink.read)
      e = s->host_sink.read(s->host_sink.ctx, s->digest_pos, s->scratch, (size_t)n);
    else
      return pf_fail(s, PF_E_INTERNAL, "digest frontier behind an in-order sink");
    if (e != 0)
      return pf_fail(s, PF_E_IO, "cannot read back %s at offset %llu: %s",
                     s->side_path ? s->side_path : "the sink", (unsigned long long)s->digest_pos,
                     strerror(e));
    if (pf_digest_update(s->digest, s->scratch, (size_t)n) != 0)
      return pf_fail(s, PF_E_INTERNAL, "OpenSSL digest update failed");
    s->digest_pos += n;
    budget -= n;
  }
  return PF_OK;
}

pf_status pf_sink_store(pf_session *s, uint64_t offset, const void *buf, size_t len) {
  if (len == 0)
    return PF_OK;
  pf_status st = PF_OK;
  pthread_mutex_lock(&s->mu);
  if (s->size != PF_SIZE_UNKNOWN && (offset > s->size || len > s->size - offset)) {
    pthread_mutex_unlock(&s->mu);
    return pf_fail(s, PF_E_INVALID, "bytes %llu-%llu are past the end of the object (%llu bytes)",
                   (unsigned long long)offset, (unsigned long long)(offset + len - 1),
                   (unsigned long long)s->size);
  }
  int r = pf_rangeset_add(&s->written, offset, offset + len);
  if (r != 0) {
    pthread_mutex_unlock(&s->mu);
    if (r < 0)
      return pf_fail(s, PF_E_NOMEM, "out of memory");
    return pf_fail(s, PF_E_INVALID, "bytes %llu-%llu were already written",
                   (unsigned long long)offset, (unsigned long long)(offset + len - 1));
  }
  int e = s->fd >= 0 ? file_write(s->fd, offset, buf, len)
                     : s->host_sink.write(s->host_sink.ctx, offset, buf, len);
  if (e != 0) {
    pthread_mutex_unlock(&s->mu);
    return pf_fail(s, PF_E_IO, "cannot write %s at offset %llu: %s",
                   s->side_path ? s->side_path : "to the sink", (unsigned long long)offset,
                   strerror(e));
  }
  atomic_fetch_add(&s->bytes_written, len);
  st = digest_advance(s, offset, buf, len, CATCH_UP_BUDGET);
  pthread_mutex_unlock(&s->mu);
  return st;
}

pf_status pf_sink_commit(pf_session *s) {
  uint64_t expected = s->size;
  if (expected == PF_SIZE_UNKNOWN) {
    if (!s->size_final)
      return pf_fail(s, PF_E_STATE, "the download has not finished");
    expected = s->end_seen;
  }
  uint64_t have = pf_rangeset_total(&s->written);
  if (have != expected || pf_rangeset_prefix(&s->written) != expected)
    return pf_fail(s, PF_E_STATE, "only %llu of %llu bytes are stored", (unsigned long long)have,
                   (unsigned long long)expected);
  if (s->digest) {
    pthread_mutex_lock(&s->mu);
    pf_status st = digest_advance(s, 0, NULL, 0, UINT64_MAX);
    pthread_mutex_unlock(&s->mu);
    if (st != PF_OK)
      return st;
    char got[2 * 64 + 1];
    int ok = pf_digest_verify(s->digest, got, sizeof got);
    if (ok < 0)
      return pf_fail(s, PF_E_INTERNAL, "OpenSSL digest final failed");
    if (!ok)
      return pf_fail(s, PF_E_CHECKSUM, "%s of %s is %s, expected %s", pf_digest_algo(s->digest),
                     s->url, got, s->checksum_hex);
  }
  if (s->fd < 0)
    return PF_OK;
  if (fsync(s->fd) != 0)
    return pf_fail(s, PF_E_IO, "cannot sync %s: %s", s->side_path, strerror(errno));
  if (close(s->fd) != 0) {
    s->fd = -1;
    return pf_fail(s, PF_E_IO, "cannot close %s: %s", s->side_path, strerror(errno));
  }
  s->fd = -1;
  if (rename(s->side_path, s->out_path) != 0)
    return pf_fail(s, PF_E_IO, "cannot rename %s to %s: %s", s->side_path, s->out_path,
                   strerror(errno));
  /* make the rename itself durable */
  char *copy = strdup(s->out_path);
  if (copy) {
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
    free(copy);
  }
  return PF_OK;
}

void pf_sink_discard(pf_session *s) {
  if (s->fd >= 0) {
    close(s->fd);
    s->fd = -1;
    unlink(s->side_path);
  }
}
