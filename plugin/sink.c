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
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"

#define SCRATCH_SIZE (256 * 1024)
#define CATCH_UP_BUDGET (8ull * 1024 * 1024) /* digest read-back per store */
#define JOURNAL_EVERY (4ull * 1024 * 1024)   /* a record after this many bytes */
#define JOURNAL_PERIOD_MS 200                /* or after this long, if anything new */

static int file_read(int fd, uint64_t off, unsigned char *p, size_t len);
static int file_write(int fd, uint64_t off, const unsigned char *p, size_t len);

/* ---- journal ------------------------------------------------------------ */

/* Can a later run resume this download? A file, a known size and a
 * validator to prove it is the same object. */
static int resumable(const pf_session *s) {
  return s->out_path && s->size != PF_SIZE_UNKNOWN && s->size > 0 &&
         (s->etag || s->last_modified);
}

/* Flush the side file, then record what was stored before the flush. Only
 * the journal thread (or close, after joining it) calls this. */
static pf_status journal_checkpoint(pf_session *s) {
  pthread_mutex_lock(&s->mu);
  size_t n = s->written.n;
  if (n > s->journal_snap_cap) {
    pf_range *v = realloc(s->journal_snap, n * sizeof *v);
    if (!v) {
      pthread_mutex_unlock(&s->mu);
      pf_log(s, "out of memory for the journal of %s: not recorded this time", s->side_path);
      return PF_OK;
    }
    s->journal_snap = v;
    s->journal_snap_cap = n;
  }
  if (n)
    memcpy(s->journal_snap, s->written.v, n * sizeof *s->journal_snap);
  atomic_store(&s->unjournaled, 0);
  pthread_mutex_unlock(&s->mu);

  if (fdatasync(s->fd) != 0)
    return pf_fail(s, PF_E_IO, "cannot sync %s: %s", s->side_path, strerror(errno));
  pf_journal j = {s->journal_seq, s->size, s->url, s->etag, s->last_modified, s->journal_snap, n};
  size_t len = pf_journal_encode(&j, s->journal_buf, PF_JOURNAL_SLOT);
  if (len == 0)
    return PF_OK; /* a URL too long to record: not resumable, not an error */
  uint64_t at = pf_journal_offset(s->size) + (s->journal_seq % 2) * PF_JOURNAL_SLOT;
  int e = file_write(s->fd, at, s->journal_buf, len);
  if (e != 0)
    return pf_fail(s, PF_E_IO, "cannot write the journal of %s: %s", s->side_path, strerror(e));
  s->journal_seq++;
  return PF_OK;
}

static void *journal_main(void *arg) {
  pf_session *s = arg;
  uint64_t last = pf_now_ns();
  pthread_mutex_lock(&s->journal_mu);
  while (!s->journal_quit) {
    pf_cond_wait_ms(&s->journal_cv, &s->journal_mu, 100);
    uint64_t pending = atomic_load(&s->unjournaled);
    int due = pending >= JOURNAL_EVERY ||
              (pending > 0 && pf_now_ns() - last >= JOURNAL_PERIOD_MS * 1000000ull);
    if (!due || s->journal_quit)
      continue;
    pthread_mutex_unlock(&s->journal_mu);
    pf_status st = journal_checkpoint(s);
    last = pf_now_ns();
    pthread_mutex_lock(&s->journal_mu);
    if (st != PF_OK)
      break;
  }
  pthread_mutex_unlock(&s->journal_mu);
  return NULL;
}

static void journal_stop(pf_session *s) {
  if (!s->journal_started)
    return;
  pthread_mutex_lock(&s->journal_mu);
  s->journal_quit = 1;
  pthread_cond_signal(&s->journal_cv);
  pthread_mutex_unlock(&s->journal_mu);
  pthread_join(s->journal_th, NULL);
  s->journal_started = 0;
}

static pf_status journal_start(pf_session *s) {
  if (!s->journal_buf && !(s->journal_buf = malloc(PF_JOURNAL_SLOT)))
    return pf_fail(s, PF_E_NOMEM, "out of memory");
  s->journal_quit = 0;
  if (pthread_create(&s->journal_th, NULL, journal_main, s) != 0)
    return pf_fail(s, PF_E_INTERNAL, "cannot start the journal thread");
  s->journal_started = 1;
  return PF_OK;
}

/* Read the side file's journal; if it describes this very object, take its
 * ranges as stored. Returns 1 if resumed, 0 if not. */
static int journal_load(pf_session *s) {
  struct stat st;
  uint64_t at = pf_journal_offset(s->size);
  if (fstat(s->fd, &st) != 0 || (uint64_t)st.st_size < at + 2 * PF_JOURNAL_SLOT)
    return 0;
  unsigned char *buf = malloc(PF_JOURNAL_SLOT);
  pf_journal_view *v = malloc(sizeof *v), *best = malloc(sizeof *best);
  int have = 0, ok = 0;
  unsigned char *bestbuf = malloc(PF_JOURNAL_SLOT);
  if (!buf || !v || !best || !bestbuf)
    goto out;
  for (int slot = 0; slot < 2; slot++) {
    if (file_read(s->fd, at + (uint64_t)slot * PF_JOURNAL_SLOT, buf, PF_JOURNAL_SLOT) != 0)
      continue;
    if (pf_journal_decode(buf, PF_JOURNAL_SLOT, v) != 0)
      continue;
    if (!have || v->seq > best->seq) {
      memcpy(bestbuf, buf, PF_JOURNAL_SLOT);
      *best = *v;
      best->ranges = bestbuf + (v->ranges - buf);
      have = 1;
    }
  }
  /* a journal of another object is never applied */
  if (!have || best->size != s->size || strcmp(best->url, s->url) != 0 ||
      strcmp(best->etag, s->etag ? s->etag : "") != 0 ||
      strcmp(best->last_modified, s->last_modified ? s->last_modified : "") != 0)
    goto out;
  for (uint32_t i = 0; i < best->nranges; i++) {
    uint64_t a, b;
    pf_journal_range(best, i, &a, &b);
    if (pf_rangeset_add(&s->written, a, b) != 0) {
      pf_rangeset_free(&s->written);
      goto out;
    }
  }
  atomic_store(&s->bytes_resumed, pf_rangeset_total(&s->written));
  s->journal_seq = best->seq + 1;
  ok = 1;
out:
  free(buf);
  free(v);
  free(best);
  free(bestbuf);
  return ok;
}

pf_status pf_sink_prepare(pf_session *s) {
  if (s->digest && !s->scratch) {
    s->scratch = malloc(SCRATCH_SIZE);
    if (!s->scratch)
      return pf_fail(s, PF_E_NOMEM, "out of memory");
  }
  if (!s->out_path)
    return PF_OK;
  struct stat st;
  if (stat(s->out_path, &st) == 0 && S_ISDIR(st.st_mode))
    return pf_fail(s, PF_E_IO, "%s: is a directory", s->out_path);
  s->journal_on = resumable(s);
  /* Not O_TRUNC: another run may own this side file. Lock it first; the
   * lock is held until the file is renamed into place or closed. */
  int fd = open(s->side_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (fd < 0)
    return pf_fail(s, PF_E_IO, "cannot create %s: %s", s->side_path, strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    close(fd);
    if (e == EWOULDBLOCK)
      return pf_fail(s, PF_E_IO, "%s is in use by another download to %s", s->side_path,
                     s->out_path);
    return pf_fail(s, PF_E_IO, "cannot lock %s: %s", s->side_path, strerror(e));
  }
  s->fd = fd;
  s->side_owned = 1;
  if (!(s->resume && s->journal_on && journal_load(s)) && ftruncate(fd, 0) != 0)
    return pf_fail(s, PF_E_IO, "cannot truncate %s: %s", s->side_path, strerror(errno));
  /* the space is reserved by the writer as the transfers start (allocating
   * a large file can take tens of milliseconds: not on the critical path) */
  s->reserve_pending = s->size != PF_SIZE_UNKNOWN && s->size > 0;
  return s->journal_on ? journal_start(s) : PF_OK;
}

/* Reserve the whole object (and the journal's slots) before the first byte
 * is stored, so that a full disk is reported at once. Caller holds s->mu. */
static pf_status reserve_locked(pf_session *s) {
  if (!s->reserve_pending || s->fd < 0)
    return PF_OK;
  s->reserve_pending = 0;
  uint64_t total = s->journal_on ? pf_journal_offset(s->size) + 2 * PF_JOURNAL_SLOT : s->size;
  int e;
  struct statfs sf;
  if (fstatfs(s->fd, &sf) == 0 && sf.f_type == TMPFS_MAGIC) {
    /* tmpfs: fallocate would zero every page that the writes then fill, at
     * a third of the whole download's CPU time; check for room instead and
     * let the writes allocate */
    struct statvfs vf;
    struct stat st;
    uint64_t have = fstat(s->fd, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
    uint64_t need = total > have ? total - have : 0; /* a resumed side file holds some */
    /* f_blocks 0: a tmpfs without a size limit */
    e = fstatvfs(s->fd, &vf) == 0 && vf.f_blocks > 0 && (uint64_t)vf.f_bavail * vf.f_frsize < need
            ? ENOSPC
            : EOPNOTSUPP;
  } else {
    e = posix_fallocate(s->fd, 0, (off_t)total);
  }
  if (e == ENOSPC || e == EFBIG || e == EDQUOT)
    return pf_fail_locked(s, PF_E_IO, "cannot reserve %llu bytes for %s: %s",
                          (unsigned long long)total, s->side_path, strerror(e));
  if (e != 0 && ftruncate(s->fd, (off_t)total) != 0)
    return pf_fail_locked(s, PF_E_IO, "cannot size %s: %s", s->side_path, strerror(errno));
  return PF_OK;
}

pf_status pf_sink_reserve(pf_session *s) {
  pthread_mutex_lock(&s->mu);
  pf_status st = reserve_locked(s);
  pthread_mutex_unlock(&s->mu);
  return st;
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
      return pf_fail_locked(s, PF_E_INTERNAL, "OpenSSL digest update failed");
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
    else /* store() keeps such a sink's bytes in order: the frontier never lags */
      return pf_fail_locked(s, PF_E_INTERNAL, "digest frontier behind a sink without read()");
    if (e != 0)
      return pf_fail_locked(s, PF_E_IO, "cannot read back %s at offset %llu: %s",
                     s->side_path ? s->side_path : "the sink", (unsigned long long)s->digest_pos,
                     strerror(e));
    if (pf_digest_update(s->digest, s->scratch, (size_t)n) != 0)
      return pf_fail_locked(s, PF_E_INTERNAL, "OpenSSL digest update failed");
    s->digest_pos += n;
    budget -= n;
  }
  return PF_OK;
}

/* Bytes from the engine (run's writer) that fail the checks are a bug: the
 * session fails. Bytes from the host are refused, and the session goes on. */
static pf_status store(pf_session *s, uint64_t offset, const void *buf, size_t len, int from_host) {
  if (len == 0)
    return PF_OK;
  pf_status st = PF_OK;
  pthread_mutex_lock(&s->mu);
  if (s->reserve_pending && (st = reserve_locked(s)) != PF_OK) {
    pthread_mutex_unlock(&s->mu);
    return st;
  }
  pf_status (*reject)(pf_session *, pf_status, const char *, ...) =
      from_host ? pf_refuse : pf_fail_locked;
  uint64_t next = pf_rangeset_prefix(&s->written);
  if (offset > UINT64_MAX - len ||
      (s->size != PF_SIZE_UNKNOWN && (offset > s->size || len > s->size - offset))) {
    st = reject(s, PF_E_INVALID, "bytes %llu+%zu are past the end of the object",
                (unsigned long long)offset, len);
  } else if (pf_rangeset_overlaps(&s->written, offset, offset + len)) {
    st = reject(s, PF_E_INVALID, "bytes %llu-%llu were already written", (unsigned long long)offset,
                (unsigned long long)(offset + len - 1));
  } else if (s->in_order && offset != next) {
    /* a PF_SINK_IN_ORDER sink, or one without read() under a checksum */
    st = reject(s, PF_E_INVALID, "the sink takes bytes in order: expected offset %llu, got %llu",
                (unsigned long long)next, (unsigned long long)offset);
  }
  if (st != PF_OK) {
    pthread_mutex_unlock(&s->mu);
    return st;
  }
  int e = s->fd >= 0 ? file_write(s->fd, offset, buf, len)
                     : s->host_sink.write(s->host_sink.ctx, offset, buf, len);
  /* recorded only once stored: the journal must never claim a failed write */
  if (e != 0) {
    st = pf_fail_locked(s, PF_E_IO, "cannot write %s at offset %llu: %s",
                        s->side_path ? s->side_path : "to the sink", (unsigned long long)offset,
                        strerror(e));
    pthread_mutex_unlock(&s->mu);
    return st;
  }
  if (pf_rangeset_add(&s->written, offset, offset + len) != 0) {
    st = pf_fail_locked(s, PF_E_NOMEM, "out of memory");
    pthread_mutex_unlock(&s->mu);
    return st;
  }
  atomic_fetch_add(&s->bytes_written, len);
  st = digest_advance(s, offset, buf, len, CATCH_UP_BUDGET);
  pthread_mutex_unlock(&s->mu);
  if (s->journal_on && atomic_fetch_add(&s->unjournaled, len) + len >= JOURNAL_EVERY)
    pthread_cond_signal(&s->journal_cv);
  return st;
}

pf_status pf_sink_store(pf_session *s, uint64_t offset, const void *buf, size_t len) {
  return store(s, offset, buf, len, 0);
}

pf_status pf_sink_store_host(pf_session *s, uint64_t offset, const void *buf, size_t len) {
  return store(s, offset, buf, len, 1);
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
  journal_stop(s);
  if (s->journal_on && ftruncate(s->fd, (off_t)expected) != 0) /* drop the journal */
    return pf_fail(s, PF_E_IO, "cannot truncate %s: %s", s->side_path, strerror(errno));
  if (fsync(s->fd) != 0)
    return pf_fail(s, PF_E_IO, "cannot sync %s: %s", s->side_path, strerror(errno));
  /* rename while the lock is held: no other run can take the side file in
   * between */
  if (rename(s->side_path, s->out_path) != 0)
    return pf_fail(s, PF_E_IO, "cannot rename %s to %s: %s", s->side_path, s->out_path,
                   strerror(errno));
  s->side_owned = 0;
  close(s->fd); /* after fsync; the bytes are in place whatever close says */
  s->fd = -1;
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

void pf_sink_close(pf_session *s, int keep) {
  journal_stop(s);
  keep = keep && s->fd >= 0 && s->journal_on && pf_rangeset_total(&s->written) > 0;
  if (keep && journal_checkpoint(s) != PF_OK)
    keep = 0;
  /* unlink before close: the lock still guards the side file */
  if (!keep && s->side_owned)
    unlink(s->side_path);
  s->side_owned = 0;
  if (s->fd >= 0)
    close(s->fd);
  s->fd = -1;
}

pf_status pf_sink_reset(pf_session *s) {
  pf_sink_close(s, 0);
  pf_rangeset_free(&s->written);
  atomic_store(&s->bytes_resumed, 0);
  s->journal_seq = 0;
  s->digest_pos = 0;
  s->end_seen = 0;
  s->size_final = 0;
  atomic_store(&s->bytes_written, 0);
  atomic_store(&s->unjournaled, 0);
  if (s->digest) {
    char err[256];
    pf_digest_free(s->digest);
    s->digest = pf_digest_new(s->checksum, err, sizeof err);
    if (!s->digest)
      return pf_fail(s, PF_E_INTERNAL, "%s", err);
  }
  return PF_OK;
}

pf_status pf_sink_plan(pf_session *s, pf_part **parts, size_t *n) {
  const pf_config *c = s->cfg;
  int ranges = s->ranges && !s->in_order;
  size_t nfull = pf_plan(s->size, ranges, c->min_part_size, c->max_streams, NULL, 0);
  pf_part *full = calloc(nfull, sizeof *full);
  if (!full)
    return pf_fail(s, PF_E_NOMEM, "out of memory");
  pf_plan(s->size, ranges, c->min_part_size, c->max_streams, full, nfull);
  pthread_mutex_lock(&s->mu);
  if (s->written.n == 0 || s->size == PF_SIZE_UNKNOWN) {
    pthread_mutex_unlock(&s->mu);
    *parts = full;
    *n = nfull;
    return PF_OK;
  }
  size_t m = pf_plan_missing(full, nfull, s->written.v, s->written.n, NULL, 0);
  pf_part *left = calloc(m ? m : 1, sizeof *left);
  if (left)
    pf_plan_missing(full, nfull, s->written.v, s->written.n, left, m);
  pthread_mutex_unlock(&s->mu);
  free(full);
  if (!left)
    return pf_fail(s, PF_E_NOMEM, "out of memory");
  *parts = left;
  *n = m;
  return PF_OK;
}
