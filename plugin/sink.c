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
 * Durability of the side file, for -C (the journal; layout in journal.c):
 * - SIGKILL at any moment loses a few MiB at most: the chunks in flight and
 *   what was stored since the last record. Every JOURNAL_EVERY bytes or
 *   JOURNAL_PERIOD_MS the journal thread (started when the first record is
 *   due: journal_due) records the ranges that pwrite has
 *   stored ("written"), without a flush first. A dead process loses nothing
 *   that pwrite stored: the kernel's page cache holds it and writes it back.
 *   So the list stays true for as long as that kernel runs, and the record
 *   names it by its boot id: only a run of the same boot takes the written
 *   list.
 * - A power loss never makes -C produce wrong bytes. What it loses is the
 *   page cache, and pages reach the disk in any order, the record's own
 *   among them. A record's "durable" list holds only ranges that a flush
 *   (fdatasync returning 0) covered before the record was written; after a
 *   power loss the machine runs another boot (a new boot id each boot), and
 *   a run then takes the durable list alone and refetches the rest. A torn
 *   record fails its CRC and the other slot, older and as true, is used.
 * - The output is fsynced before it is renamed into place, and its
 *   directory after (commit); not with PF_OPEN_NO_SYNC, for hosts that
 *   check files by hash before they use them.
 * Flushes run every SYNC_PERIOD_MS or SYNC_EVERY bytes, in the journal
 * thread, never under s->mu; between them sync_file_range(WRITE) starts the
 * writeback of what is dirty without waiting for it, so that a flush (and
 * commit's fsync) has little left to write. The writer never waits for a
 * flush, and so neither does the network.
 * Writeback errors: Linux reports one once per file. After a failed flush,
 * journal_demote cuts both slots off and records the durable list alone (a
 * later run of the same boot could not tell that the written bytes were
 * lost). A run of the same boot flushes the side file before it trusts a
 * written list: an error that nobody has seen is reported to a new opener.
 * Left open, both needing a failing disk: a SIGKILL between a flush that
 * fails and the demotion (microseconds), or an error nobody saw, with the
 * file's inode evicted from memory before the next run.
 *
 * Threads: pf_sink_store runs in the writer thread (run) or in the host's
 * threads (write_sink, fetch_part); it holds s->mu, which guards the range
 * set, the digest and the sink. The journal thread takes s->mu only to copy
 * the range set. Commit and discard run in close() alone, after joining it.
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

#include <curl/curl.h>
#include <openssl/evp.h>

#include "journal.h"
#include "reorder.h"

#define SCRATCH_SIZE (256 * 1024)
#define CATCH_UP_BUDGET (8ull * 1024 * 1024) /* digest read-back per store */
#define JOURNAL_EVERY (4ull * 1024 * 1024)   /* a record after this many bytes */
#define JOURNAL_PERIOD_MS 200                /* or after this long, if anything new */
#define SYNC_EVERY (256ull * 1024 * 1024)    /* a flush after this many bytes */
#define SYNC_PERIOD_MS 2000                  /* or after this long */

static int file_read(int fd, uint64_t off, unsigned char *p, size_t len);
static int file_write(int fd, uint64_t off, const unsigned char *p, size_t len);

/* ---- journal ------------------------------------------------------------ */

/* Can a later run resume this download? A file, a known size and a
 * validator to prove it is the same object. */
static int resumable(const pf_session *s) {
  return s->out_path && s->size != PF_SIZE_UNKNOWN && s->size > 0 &&
         (s->etag || s->last_modified);
}

/* The running kernel's boot id into buf (PF_BOOT_ID_MAX), "" if unknown. */
/* The kernel's boot id, read once per process (a process never outlives
 * its boot): every download would otherwise open /proc for it. */
static char boot_id[PF_BOOT_ID_MAX];
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;

static void boot_id_once(void) {
  FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
  if (!f)
    return;
  if (!fgets(boot_id, sizeof boot_id, f))
    boot_id[0] = '\0';
  boot_id[strcspn(boot_id, "\n")] = '\0';
  fclose(f);
}

static void read_boot_id(char *buf) {
  pthread_once(&boot_once, boot_id_once);
  memcpy(buf, boot_id, PF_BOOT_ID_MAX);
}

/* Write a record claiming `durable` and `written` into the next slot. */
static pf_status journal_record(pf_session *s, const pf_range *durable, size_t ndurable,
                                const pf_range *written, size_t nwritten) {
  pf_journal j = {s->journal_seq, s->size, s->journal_url, s->etag, s->last_modified,
                  s->journal_boot[0] ? s->journal_boot : NULL,
                  durable, ndurable, written, nwritten};
  size_t len = pf_journal_encode(&j, s->journal_buf, PF_JOURNAL_SLOT);
  if (len == 0)
    return PF_OK; /* cannot happen: prepare checked that the strings fit */
  uint64_t at = pf_journal_offset(s->size) + (s->journal_seq % 2) * PF_JOURNAL_SLOT;
  int e = file_write(s->fd, at, s->journal_buf, len);
  if (e != 0)
    return pf_fail(s, PF_E_IO, "cannot write the journal of %s: %s", s->side_path, strerror(e));
  s->journal_seq++;
  s->journal_on_disk = 1;
  return PF_OK;
}

/* After a failed flush the bytes stored since the last good one may be
 * lost, and a run of this same boot could not tell (Linux reports a
 * writeback error once, and we have seen it): no record may claim them any
 * more. Cut both slots off, then record the durable ranges alone. */
static void journal_demote(pf_session *s) {
  uint64_t at = pf_journal_offset(s->size);
  s->journal_on_disk = 0;
  if (ftruncate(s->fd, (off_t)at) != 0 ||
      ftruncate(s->fd, (off_t)(at + 2 * PF_JOURNAL_SLOT)) != 0 || s->journal_ndurable == 0)
    return;
  journal_record(s, s->journal_durable, s->journal_ndurable, s->journal_durable,
                 s->journal_ndurable);
}

/* Record what is stored; flush first when `flush`, or when the last flush
 * is SYNC_EVERY bytes or SYNC_PERIOD_MS old. Between flushes, start the
 * writeback of what is dirty without waiting for it, so that a flush (and
 * commit's) has little left to do. Only the journal thread (or close, after
 * joining it) calls this; it never holds s->mu during I/O. After a failed
 * flush nothing more is recorded (journal_demote). */
static pf_status journal_checkpoint(pf_session *s, int flush) {
  if (s->sync_failed)
    return PF_E_IO;
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
  s->journal_unsynced += atomic_exchange(&s->unjournaled, 0);
  pthread_mutex_unlock(&s->mu);

  uint64_t now = pf_now_ns();
  if (!flush && s->journal_unsynced < SYNC_EVERY &&
      now - s->journal_synced_ns < SYNC_PERIOD_MS * 1000000ull) {
    /* an error here shows up at the next flush */
    sync_file_range(s->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    return journal_record(s, s->journal_durable, s->journal_ndurable, s->journal_snap, n);
  }
  if (fdatasync(s->fd) != 0) {
    int e = errno;
    s->sync_failed = 1;
    journal_demote(s);
    return pf_fail(s, PF_E_IO, "cannot sync %s: %s", s->side_path, strerror(e));
  }
  /* the snapshot is durable now: it becomes the durable list (swapped, not
   * copied) */
  pf_range *v = s->journal_durable;
  size_t cap = s->journal_durable_cap;
  s->journal_durable = s->journal_snap;
  s->journal_durable_cap = s->journal_snap_cap;
  s->journal_ndurable = n;
  s->journal_snap = v;
  s->journal_snap_cap = cap;
  s->journal_unsynced = 0;
  s->journal_synced_ns = now;
  return journal_record(s, s->journal_durable, n, s->journal_durable, n);
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
    pf_status st = journal_checkpoint(s, 0);
    last = pf_now_ns();
    pthread_mutex_lock(&s->journal_mu);
    if (st != PF_OK)
      break;
  }
  pthread_mutex_unlock(&s->journal_mu);
  return NULL;
}

static void journal_stop(pf_session *s) {
  if (atomic_load(&s->journal_started) != 1)
    return;
  pthread_mutex_lock(&s->journal_mu);
  s->journal_quit = 1;
  pthread_cond_signal(&s->journal_cv);
  pthread_mutex_unlock(&s->journal_mu);
  pthread_join(s->journal_th, NULL);
  atomic_store(&s->journal_started, 0);
}

static pf_status journal_start(pf_session *s) {
  s->journal_quit = 0;
  s->journal_unsynced = 0;
  s->journal_synced_ns = pf_now_ns();
  if (pthread_create(&s->journal_th, NULL, journal_main, s) != 0) {
    atomic_store(&s->journal_started, 0);
    return pf_fail(s, PF_E_INTERNAL, "cannot start the journal thread");
  }
  atomic_store(&s->journal_started, 1);
  return PF_OK;
}

/* The journal thread starts with the first store that finds a record due
 * (JOURNAL_EVERY bytes, or JOURNAL_PERIOD_MS since the side file was
 * prepared): a download over sooner needs none, and most small objects
 * never start one. Until then a SIGKILL loses less than JOURNAL_EVERY bytes
 * stored in less than JOURNAL_PERIOD_MS, as it may between records anyway.
 * Any storing thread may start it, once. */
static void journal_due(pf_session *s, uint64_t pending) {
  int state = atomic_load(&s->journal_started);
  if (state == 1) {
    if (pending >= JOURNAL_EVERY)
      pthread_cond_signal(&s->journal_cv);
    return;
  }
  int idle = 0;
  if (state == 0 &&
      (pending >= JOURNAL_EVERY ||
       pf_now_ns() - s->journal_armed_ns >= JOURNAL_PERIOD_MS * 1000000ull) &&
      atomic_compare_exchange_strong(&s->journal_started, &idle, 2))
    journal_start(s);
}

static uint64_t list_total(const pf_journal_list *l) {
  uint64_t t = 0;
  for (uint32_t i = 0; i < l->n; i++) {
    uint64_t a, b;
    pf_journal_range(l, i, &a, &b);
    t += b - a;
  }
  return t;
}

/* Read the side file's journal; if it describes this very object, take its
 * ranges as stored. Returns 1 if resumed, 0 if not. */
static int journal_load(pf_session *s) {
  struct stat st;
  uint64_t at = pf_journal_offset(s->size);
  /* A slot counts as far as the file holds it: a record is written at its
   * own length, and a file cut to its object's size by a commit that was
   * then refused holds only the record close() wrote after it. */
  if (fstat(s->fd, &st) != 0 || (uint64_t)st.st_size <= at)
    return 0;
  unsigned char *buf = malloc(2 * (size_t)PF_JOURNAL_SLOT);
  if (!buf)
    return 0;
  pf_journal_view v[2], *best = NULL;
  for (int slot = 0; slot < 2; slot++) {
    unsigned char *b = buf + (size_t)slot * PF_JOURNAL_SLOT;
    uint64_t off = at + (uint64_t)slot * PF_JOURNAL_SLOT;
    if ((uint64_t)st.st_size <= off)
      continue;
    size_t n = (uint64_t)st.st_size - off < PF_JOURNAL_SLOT ? (size_t)((uint64_t)st.st_size - off)
                                                              : PF_JOURNAL_SLOT;
    if (file_read(s->fd, off, b, n) != 0 || pf_journal_decode(b, n, &v[slot]) != 0)
      continue;
    if (!best || v[slot].seq > best->seq)
      best = &v[slot];
  }
  int ok = 0;
  /* a journal of another object is never applied */
  if (!best || best->size != s->size || !pf_journal_str_is(best->url, s->journal_url) ||
      !pf_journal_str_is(best->etag, s->etag) ||
      !pf_journal_str_is(best->last_modified, s->last_modified))
    goto out;
  /* the written list counts only on the boot that wrote it, and only once
   * a flush of ours proves no writeback of it failed (a new opener is told
   * of an error that nobody has seen) */
  const pf_journal_list *take = &best->durable;
  if (s->journal_boot[0] && pf_journal_str_is(best->boot, s->journal_boot) &&
      list_total(&best->written) > list_total(&best->durable)) {
    if (fdatasync(s->fd) == 0)
      take = &best->written;
    else
      pf_log(s, "cannot sync %s (%s): resuming from its last flush", s->side_path,
             strerror(errno));
  }
  for (uint32_t i = 0; i < take->n; i++) {
    uint64_t a, b;
    pf_journal_range(take, i, &a, &b);
    if (pf_rangeset_add(&s->written, a, b) != 0) {
      pf_rangeset_free(&s->written);
      goto out;
    }
  }
  /* all of it is durable now */
  s->journal_ndurable = 0;
  if (s->written.n > s->journal_durable_cap) {
    pf_range *d = realloc(s->journal_durable, s->written.n * sizeof *d);
    if (d) {
      s->journal_durable = d;
      s->journal_durable_cap = s->written.n;
    }
  }
  if (s->written.n <= s->journal_durable_cap) {
    if (s->written.n)
      memcpy(s->journal_durable, s->written.v, s->written.n * sizeof *s->journal_durable);
    s->journal_ndurable = s->written.n;
  }
  atomic_store(&s->bytes_resumed, pf_rangeset_total(&s->written));
  s->journal_seq = best->seq + 1;
  s->journal_on_disk = 1;
  ok = 1;
out:
  free(buf);
  return ok;
}

/* Does path name the file open as fd (same inode, still linked)? */
static int names_fd(const char *path, int fd) {
  struct stat a, b;
  return fstat(fd, &a) == 0 && a.st_nlink > 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

/* The mode a plain create gives, 0666 & ~umask. umask(2) cannot be read
 * without setting it (process-wide, under the host's other threads), so
 * read it from /proc; 022 where that is missing. */
static mode_t create_mode(void) {
  unsigned mask = 022;
  FILE *f = fopen("/proc/self/status", "re");
  if (f) {
    char line[256];
    while (fgets(line, sizeof line, f))
      if (sscanf(line, "Umask: %o", &mask) == 1)
        break;
    fclose(f);
  }
  return (mode_t)(0666 & ~mask);
}

/* How the journal names the URL: "sha256:" and the digest of the URL
 * without its password (text.c). So nothing secret is in the side file: no
 * password (not even hashed: a weak one could be guessed back from its
 * digest) and no signed query in clear; a URL of any length fits; and the
 * same URL with another password still resumes. NULL if out of memory. */
static char *journal_key(const char *url) {
  size_t len = strlen(url), cap = PF_TEXT_CLEAN_MAX(len);
  char *clean = malloc(cap), *key = malloc(sizeof "sha256:" + 64);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0;
  if (clean && key &&
      EVP_Digest(clean, pf_text_clean(clean, cap, url, len), md, &mdlen, EVP_sha256(), NULL) ==
          1 &&
      mdlen == 32) {
    memcpy(key, "sha256:", 7);
    for (unsigned i = 0; i < mdlen; i++)
      snprintf(key + 7 + 2 * i, 3, "%02x", md[i]);
  } else {
    free(key);
    key = NULL;
  }
  free(clean);
  return key;
}

#define OPEN_ATTEMPTS 5

/* Open and lock the side file, and make sure that what we locked is still
 * the file at that name: between our open and our flock another run may
 * have renamed it into place (commit) or removed it, and a lock on that
 * inode protects nothing. Then we open again (a bounded number of times).
 * Created 0600: nothing of the download is readable by others until commit. */
static pf_status open_side(pf_session *s) {
  for (int attempt = 1;; attempt++) {
    /* Not O_TRUNC: another run may own this side file. Lock it first; the
     * lock is held until the file is renamed into place or closed. */
    int fd = open(s->side_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
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
    struct stat st;
    if (names_fd(s->side_path, fd) && fstat(fd, &st) == 0) {
      if (!S_ISREG(st.st_mode)) {
        close(fd);
        return pf_fail(s, PF_E_IO, "%s is not a regular file", s->side_path);
      }
      if ((st.st_mode & 077) && fchmod(fd, 0600) != 0) /* a side file of an older version */
        pf_log(s, "cannot make %s private: %s", s->side_path, strerror(errno));
      s->fd = fd;
      s->side_owned = 1;
      return PF_OK;
    }
    close(fd);
    if (attempt == OPEN_ATTEMPTS)
      return pf_fail(s, PF_E_IO,
                     "%s was renamed or removed by another program each time it was locked "
                     "(%d attempts)",
                     s->side_path, OPEN_ATTEMPTS);
    pf_log(s, "%s changed between open and lock (another download committed it?): again",
           s->side_path);
  }
}

/* PF_OPEN_PREFIX: the file at out_path holds the object's first bytes (a
 * partial download of another program's), taken as stored when its mtime
 * is the server's Last-Modified, the rule of If-Range that such a program
 * would have resumed it under. The bytes are copied into the side file
 * (copy_file_range: within the kernel); the file itself is only read. */
static pf_status import_prefix(pf_session *s) {
  if (!s->out_existed || !s->ranges || s->size == PF_SIZE_UNKNOWN || !s->last_modified)
    return PF_OK;
  time_t lm = curl_getdate(s->last_modified, NULL);
  int in = open(s->out_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  if (in < 0 || fstat(in, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
      (uint64_t)st.st_size > s->size) {
    if (in >= 0)
      close(in);
    return PF_OK;
  }
  if (lm == -1 || st.st_mtime != lm) {
    pf_log(s, "%s: %lld bytes there, but its time is not the server's Last-Modified (%s): not "
              "taken",
           s->out_path, (long long)st.st_size, s->last_modified);
    close(in);
    return PF_OK;
  }
  uint64_t n = (uint64_t)st.st_size, done = 0;
  while (done < n) {
    loff_t from = (loff_t)done, to = (loff_t)done;
    ssize_t k = copy_file_range(in, &from, s->fd, &to, (size_t)(n - done), 0);
    if (k < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
      /* no in-kernel copy here: through a buffer */
      unsigned char buf[64 * 1024];
      size_t want = n - done < sizeof buf ? (size_t)(n - done) : sizeof buf;
      k = pread(in, buf, want, (off_t)done);
      if (k > 0 && file_write(s->fd, done, buf, (size_t)k) != 0)
        k = -1;
    }
    if (k <= 0) {
      int e = k < 0 ? errno : EIO;
      close(in);
      if (ftruncate(s->fd, 0) != 0)
        return pf_fail(s, PF_E_IO, "cannot truncate %s: %s", s->side_path, strerror(errno));
      pf_log(s, "cannot copy the first bytes of %s: %s: not taken", s->out_path, strerror(e));
      return PF_OK;
    }
    done += (uint64_t)k;
  }
  close(in);
  pthread_mutex_lock(&s->mu);
  int bad = pf_rangeset_add(&s->written, 0, n) != 0;
  pthread_mutex_unlock(&s->mu);
  if (bad)
    return pf_fail(s, PF_E_NOMEM, "out of memory");
  atomic_store(&s->bytes_resumed, n);
  pf_log(s, "%s holds the first %llu bytes: taken", s->out_path, (unsigned long long)n);
  return PF_OK;
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
  /* what commit may replace: this file, or nothing */
  s->out_existed = lstat(s->out_path, &st) == 0;
  s->out_dev = s->out_existed ? (uint64_t)st.st_dev : 0;
  s->out_ino = s->out_existed ? (uint64_t)st.st_ino : 0;

  s->journal_on = resumable(s);
  if (s->journal_on) {
    free(s->journal_url);
    s->journal_url = journal_key(s->url);
    if (!s->journal_url || (!s->journal_buf && !(s->journal_buf = malloc(PF_JOURNAL_SLOT))))
      return pf_fail(s, PF_E_NOMEM, "out of memory");
    read_boot_id(s->journal_boot);
    /* validators too long for a journal slot: not resumable, quietly */
    pf_journal j = {0, s->size, s->journal_url, s->etag, s->last_modified,
                    s->journal_boot, NULL, 0, NULL, 0};
    if (pf_journal_encode(&j, s->journal_buf, PF_JOURNAL_SLOT) == 0) {
      pf_log(s, "the validators are too long for the resume journal: not resumable");
      s->journal_on = 0;
    }
  }
  pf_status ps = open_side(s);
  if (ps != PF_OK)
    return ps;
  if (!(s->resume && s->journal_on && journal_load(s))) {
    if (ftruncate(s->fd, 0) != 0)
      return pf_fail(s, PF_E_IO, "cannot truncate %s: %s", s->side_path, strerror(errno));
    if (s->prefix && (ps = import_prefix(s)) != PF_OK)
      return ps;
  }
  /* the space is reserved by the writer as the transfers start (allocating
   * a large file can take tens of milliseconds: not on the critical path) */
  s->reserve_pending = s->size != PF_SIZE_UNKNOWN && s->size > 0;
  s->journal_armed_ns = pf_now_ns(); /* its thread starts when a record is due */
  return PF_OK;
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
  if (s->journal_on)
    journal_due(s, atomic_fetch_add(&s->unjournaled, len) + len);
  return st;
}

/* Why placing the side file at out_path is refused: another program put a
 * file there (or the target is a side file another run holds). The side
 * file stays (private again) for -C. */
static pf_status refuse(pf_session *s, const char *why) {
  fchmod(s->fd, 0600);
  s->place_refused = 1; /* close keeps it, resumable or not */
  return pf_fail(s, PF_E_IO, "%s %s; not replaced: the download stays in %s", s->out_path, why,
                 s->side_path);
}

static int same_file(const struct stat *st, uint64_t dev, uint64_t ino) {
  return (uint64_t)st->st_dev == dev && (uint64_t)st->st_ino == ino;
}

/* Rename the side file (locked by us) to out_path, replacing only what was
 * there when the run began: nothing (RENAME_NOREPLACE, or link + unlink),
 * or that very file (RENAME_EXCHANGE, then check what came back). Where
 * the file system has neither, a plain rename after the same checks. The
 * final file gets the mode a plain create would give. */
static pf_status place(pf_session *s) {
  if (!names_fd(s->side_path, s->fd))
    return pf_fail(s, PF_E_IO,
                   "%s was replaced or removed by another program during the download; "
                   "%s left alone",
                   s->side_path, s->out_path);
  struct stat now;
  int present = lstat(s->out_path, &now) == 0;
  int e = 0;
  if (present && !s->out_existed)
    return refuse(s, "was created by another program during the download");
  if (present && !same_file(&now, s->out_dev, s->out_ino))
    return refuse(s, "was replaced by another program during the download");
  int tfd = -1;
  if (present && S_ISREG(now.st_mode)) {
    /* a side file another run holds (its output is named like our side
     * file's target) is never taken from it; holding its lock also keeps
     * any other run from taking it while we replace it */
    tfd = open(s->out_path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (tfd >= 0 && flock(tfd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
      close(tfd);
      return refuse(s, "is locked by another download (it is that download's side file)");
    }
    struct stat t;
    if (tfd >= 0 && (fstat(tfd, &t) != 0 || !same_file(&t, s->out_dev, s->out_ino))) {
      close(tfd);
      return refuse(s, "was replaced by another program during the download");
    }
  }
  if (fchmod(s->fd, create_mode()) != 0) {
    e = errno;
    if (tfd >= 0)
      close(tfd);
    return pf_fail(s, PF_E_IO, "cannot set the mode of %s: %s", s->side_path, strerror(e));
  }
  pf_status st = PF_OK;
  if (!present) {
    if (renameat2(AT_FDCWD, s->side_path, AT_FDCWD, s->out_path, RENAME_NOREPLACE) == 0)
      return PF_OK;
    e = errno;
    if (e == EINVAL || e == ENOSYS || e == ENOTSUP) { /* no RENAME_NOREPLACE here */
      if (link(s->side_path, s->out_path) == 0) {
        if (names_fd(s->side_path, s->fd))
          unlink(s->side_path);
        return PF_OK;
      }
      e = errno;
      if (e != EEXIST && rename(s->side_path, s->out_path) == 0) /* nor hard links */
        return PF_OK;
      e = e == EEXIST ? EEXIST : errno;
    }
    if (e == EEXIST)
      return refuse(s, "was created by another program during the download");
  } else if (renameat2(AT_FDCWD, s->side_path, AT_FDCWD, s->out_path, RENAME_EXCHANGE) == 0) {
    /* the side file's name now holds what was at out_path: it must be the
     * file we recorded, else someone swapped it in between: swap back */
    struct stat back;
    if (lstat(s->side_path, &back) == 0 && same_file(&back, s->out_dev, s->out_ino)) {
      unlink(s->side_path);
    } else {
      renameat2(AT_FDCWD, s->side_path, AT_FDCWD, s->out_path, RENAME_EXCHANGE);
      st = refuse(s, "was replaced by another program during the download");
    }
    e = 0;
  } else if ((e = errno) == EINVAL || e == ENOSYS || e == ENOTSUP) {
    e = rename(s->side_path, s->out_path) == 0 ? 0 : errno; /* no RENAME_EXCHANGE here */
  }
  if (tfd >= 0)
    close(tfd);
  if (st == PF_OK && e != 0) {
    fchmod(s->fd, 0600);
    st = pf_fail(s, PF_E_IO, "cannot rename %s to %s: %s", s->side_path, s->out_path,
                 strerror(e));
  }
  return st;
}

pf_status pf_sink_store(pf_session *s, uint64_t offset, const void *buf, size_t len) {
  return store(s, offset, buf, len, 0);
}

pf_status pf_sink_store_host(pf_session *s, uint64_t offset, const void *buf, size_t len) {
  return store(s, offset, buf, len, 1);
}

/* A commit before every byte is stored is refused (PF_E_STATE), not a
 * session error: the host may fetch the rest and commit again. */
pf_status pf_sink_commit(pf_session *s) {
  uint64_t expected = s->size;
  if (expected == PF_SIZE_UNKNOWN) {
    if (!s->size_final)
      return pf_refuse(s, PF_E_STATE, "commit: the download has not finished");
    expected = s->end_seen;
  }
  uint64_t have = pf_rangeset_total(&s->written);
  if (have != expected || pf_rangeset_prefix(&s->written) != expected)
    return pf_refuse(s, PF_E_STATE, "commit: only %llu of %llu bytes are stored",
                     (unsigned long long)have, (unsigned long long)expected);
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
    if (!ok) {
      char from[1024]; /* with mirrors: which sources the bytes came from */
      pf_sources_describe(s, from, sizeof from);
      return pf_fail(s, PF_E_CHECKSUM, "%s of %s is %s, expected %s%s", pf_digest_algo(s->digest),
                     s->url, got, s->checksum_hex, from);
    }
  }
  if (s->fd < 0)
    return PF_OK;
  journal_stop(s);
  if (s->sync_failed)
    return pf_fail(s, PF_E_IO, "an earlier flush of %s failed", s->side_path);
  if (s->journal_on && ftruncate(s->fd, (off_t)expected) != 0) /* drop the journal */
    return pf_fail(s, PF_E_IO, "cannot truncate %s: %s", s->side_path, strerror(errno));
  s->journal_on_disk = 0;
  if (!s->no_sync && fsync(s->fd) != 0) {
    s->sync_failed = 1;
    return pf_fail(s, PF_E_IO, "cannot sync %s: %s", s->side_path, strerror(errno));
  }
  /* rename while the lock is held: no other run can take the side file in
   * between */
  pf_status st = place(s);
  if (st != PF_OK)
    return st;
  s->side_owned = 0;
  close(s->fd); /* after fsync; the bytes are in place whatever close says */
  s->fd = -1;
  /* make the rename itself durable */
  char *copy = s->no_sync ? NULL : strdup(s->out_path);
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
  /* a whole, checked download that commit refused to put in place is kept
   * even when it cannot be resumed: the refusal said where it is */
  keep = keep && s->fd >= 0 && (s->journal_on || s->place_refused) &&
         pf_rangeset_total(&s->written) > 0;
  /* after a failed flush, the records written before it are all a later
   * run may trust: keep the side file only if it holds one */
  if (keep && s->journal_on && !s->sync_failed)
    journal_checkpoint(s, 1);
  if (keep && s->journal_on)
    keep = s->journal_on_disk;
  /* unlink before close: the lock still guards the side file; and only if
   * the name is still ours (another program may have put a file there) */
  if (!keep && s->side_owned && names_fd(s->side_path, s->fd))
    unlink(s->side_path);
  s->side_owned = 0;
  if (s->fd >= 0)
    close(s->fd);
  s->fd = -1;
  free(s->journal_url);
  s->journal_url = NULL;
  free(s->journal_durable);
  s->journal_durable = NULL;
  s->journal_durable_cap = 0;
  s->journal_ndurable = 0;
}

pf_status pf_sink_reset(pf_session *s) {
  pf_sink_close(s, 0);
  pf_rangeset_free(&s->written);
  atomic_store(&s->bytes_resumed, 0);
  s->journal_seq = 0;
  s->journal_on_disk = 0;
  s->sync_failed = 0; /* a new side file */
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

/* In order: parts of pf_reorder_part_size from the first byte not stored
 * on, several to the window, fetched by every stream (run.c's window). */
static pf_status plan_in_order(pf_session *s, pf_part **parts, size_t *n) {
  const pf_config *c = s->cfg;
  uint64_t part = pf_reorder_part_size(c->stream_window, c->max_streams, c->chunk_size);
  pthread_mutex_lock(&s->mu);
  uint64_t from = s->size == PF_SIZE_UNKNOWN ? 0 : pf_rangeset_prefix(&s->written);
  pthread_mutex_unlock(&s->mu);
  size_t m = pf_reorder_plan(from, s->size, s->ranges, part, NULL, 0);
  if (s->size != PF_SIZE_UNKNOWN && s->size > 0 && from >= s->size)
    m = 0; /* all stored (an empty object keeps its one empty part, as pf_plan's) */
  *parts = calloc(m ? m : 1, sizeof **parts);
  if (!*parts)
    return pf_fail(s, PF_E_NOMEM, "out of memory");
  *n = pf_reorder_plan(from, s->size, s->ranges, part, *parts, m);
  if (m == 0)
    *n = 0;
  return PF_OK;
}

pf_status pf_sink_plan(pf_session *s, pf_part **parts, size_t *n) {
  const pf_config *c = s->cfg;
  if (s->in_order)
    return plan_in_order(s, parts, n);
  int ranges = s->ranges;
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
  *n = pf_plan_merge(left, m, c->min_part_size);
  return PF_OK;
}
