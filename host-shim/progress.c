/*
 * progress.c - the terminal progress bar (see progress.h).
 *
 * Threads: the caller's thread runs start()/stop(); one progress thread of our
 * own polls get_stats() every POLL_MS and redraws at most every DRAW_MS. The
 * only shared state is `stop`, guarded by `mu` and signalled through `cv`;
 * everything else in struct pfh_progress belongs to the progress thread while
 * it runs and to the caller after the join.
 */
#include "progress.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 100
#define DRAW_MS 200 /* at most 5 redraws a second */
#define RING 32     /* samples for the rate: about 3 s at POLL_MS */
#define MIN_RATE_SPAN 0.5
#define MAX_BAR 40
#define TAIL_BUDGET 56

struct sample {
  double t;
  uint64_t bytes;
};

struct pfh_progress {
  const pf_entry *entry;
  pf_session *s;
  int fd;

  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int stop; /* guarded by mu */

  /* Owned by the progress thread while it runs. */
  struct sample ring[RING];
  size_t nsamples, head; /* head: next slot */
  double start, last_draw;
  uint64_t base; /* bytes already stored at start (a resumed download) */
  int drawn;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A condition variable timed on CLOCK_MONOTONIC. 0 or -1. */
static int cond_init_monotonic(pthread_cond_t *cv) {
  pthread_condattr_t ca;
  if (pthread_condattr_init(&ca) != 0)
    return -1;
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  int ok = pthread_cond_init(cv, &ca) == 0;
  pthread_condattr_destroy(&ca);
  return ok ? 0 : -1;
}

/* Wait (mu held) until *stop is set or ms have passed; returns *stop. */
static int wait_or_stop(pthread_cond_t *cv, pthread_mutex_t *mu, const int *stop, long ms) {
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_nsec += ms * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  int rc = 0;
  while (!*stop && rc != ETIMEDOUT)
    rc = pthread_cond_timedwait(cv, mu, &deadline);
  return *stop;
}

int pfh_thread_start_masked(pthread_t *t, void *(*fn)(void *), void *arg) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(t, NULL, fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc;
}

char *pfh_human_bytes(uint64_t n, char *buf, size_t len) {
  static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (n < 1024) {
    snprintf(buf, len, "%" PRIu64 " B", n);
    return buf;
  }
  double v = (double)n / 1024.0;
  size_t u = 0;
  while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
    v /= 1024.0;
    u++;
  }
  snprintf(buf, len, "%.1f %s", v, units[u]);
  return buf;
}

char *pfh_human_duration(double seconds, char *buf, size_t len) {
  if (!(seconds >= 0) || seconds > 99.0 * 86400) {
    snprintf(buf, len, "--:--");
    return buf;
  }
  long s = (long)(seconds + 0.5);
  long h = s / 3600, m = (s / 60) % 60, sec = s % 60;
  if (h)
    snprintf(buf, len, "%ld:%02ld:%02ld", h, m, sec);
  else
    snprintf(buf, len, "%ld:%02ld", m, sec);
  return buf;
}

size_t pfh_progress_format(char *buf, size_t len, const pfh_progress_view *v, int width) {
  if (len == 0)
    return 0;
  char done[32], total[32], rate[40], when[32], tail[160];
  pfh_human_bytes(v->done, done, sizeof done);
  if (v->rate >= 0) {
    char r[32];
    snprintf(rate, sizeof rate, "%s/s", pfh_human_bytes((uint64_t)v->rate, r, sizeof r));
  } else {
    snprintf(rate, sizeof rate, "--/s");
  }
  const char *streams_word = v->streams == 1 ? "stream" : "streams";

  int n;
  if (v->total == PF_SIZE_UNKNOWN) {
    if (v->final)
      snprintf(when, sizeof when, "  in %s", pfh_human_duration(v->elapsed, tail, sizeof tail));
    else
      when[0] = '\0';
    n = snprintf(buf, len, "%s  %s%s  %" PRIu32 " %s", done, rate, when, v->streams, streams_word);
  } else {
    unsigned pct = 100;
    if (v->total > 0 && v->done < v->total)
      pct = (unsigned)((double)v->done * 100.0 / (double)v->total);
    pfh_human_bytes(v->total, total, sizeof total);
    char dur[32];
    if (v->final) {
      snprintf(when, sizeof when, "in %s", pfh_human_duration(v->elapsed, dur, sizeof dur));
    } else {
      double eta = -1;
      if (v->rate > 0 && v->done <= v->total)
        eta = (double)(v->total - v->done) / v->rate;
      snprintf(when, sizeof when, "ETA %s", pfh_human_duration(eta, dur, sizeof dur));
    }
    int tl = snprintf(tail, sizeof tail, " %s/%s  %s  %s  %" PRIu32 " %s", done, total, rate, when,
                      v->streams, streams_word);
    /* Size the bar for a tail of at least TAIL_BUDGET columns, so that it
     * does not jump as the numbers change width. */
    int bar = width - 7 /* "100% [" + "]" */ - (tl > TAIL_BUDGET ? tl : TAIL_BUDGET);
    if (bar > MAX_BAR)
      bar = MAX_BAR;
    if (bar >= 5) {
      char cells[MAX_BAR + 1];
      int filled =
          (int)((double)bar *
                (v->total ? (double)(v->done < v->total ? v->done : v->total) / (double)v->total
                          : 1.0));
      for (int i = 0; i < bar; i++)
        cells[i] = i < filled ? '#' : '.';
      cells[bar] = '\0';
      n = snprintf(buf, len, "%3u%% [%s]%s", pct, cells, tail);
    } else {
      n = snprintf(buf, len, "%3u%%%s", pct, tail);
    }
  }
  size_t out = n < 0 ? 0 : (size_t)n;
  if (out >= len)
    out = len - 1;
  if (width > 0 && out > (size_t)width) { /* a very narrow terminal: cut, never wrap */
    out = (size_t)width;
    buf[out] = '\0';
  }
  return out;
}

static int term_width(int fd) {
  struct winsize ws;
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  return 80;
}

static int term_rows(int fd) {
  struct winsize ws;
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0)
    return ws.ws_row;
  return 24;
}

static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return; /* progress is best effort */
    }
    buf += w;
    len -= (size_t)w;
  }
}

static void draw(struct pfh_progress *p, const pfh_progress_view *v, int newline) {
  char line[512];
  line[0] = '\r';
  /* One column spare: writing the last column makes some terminals wrap. */
  size_t n = 1 + pfh_progress_format(line + 1, sizeof line - 8, v, term_width(p->fd) - 1);
  memcpy(line + n, "\033[K", 3); /* erase what a longer previous line left */
  n += 3;
  if (newline)
    line[n++] = '\n';
  write_all(p->fd, line, n);
  p->drawn = 1;
}

static void add_sample(struct pfh_progress *p, double t, uint64_t bytes) {
  p->ring[p->head] = (struct sample){t, bytes};
  p->head = (p->head + 1) % RING;
  if (p->nsamples < RING)
    p->nsamples++;
}

/* Bytes/s over the samples in the ring (about the last 3 s); -1 if the ring
 * spans less than MIN_RATE_SPAN. */
static double window_rate(const struct pfh_progress *p) {
  if (p->nsamples < 2)
    return -1;
  const struct sample *newest = &p->ring[(p->head + RING - 1) % RING];
  const struct sample *oldest = &p->ring[(p->head + RING - p->nsamples) % RING];
  double span = newest->t - oldest->t;
  if (span < MIN_RATE_SPAN || newest->bytes < oldest->bytes)
    return -1;
  return (double)(newest->bytes - oldest->bytes) / span;
}

static int poll_stats(struct pfh_progress *p, pf_stats *st) {
  memset(st, 0, sizeof *st); /* fields an older plugin does not know stay 0 */
  st->struct_size = sizeof *st;
  return p->entry->get_stats(p->s, st) == PF_OK;
}

/* Bytes of the object stored so far: this session's writes plus what an
 * earlier run left in the side file (-C). */
static uint64_t stored(const pf_stats *st) {
  return st->bytes_written + st->bytes_resumed;
}

static void tick(struct pfh_progress *p) {
  pf_stats st;
  if (!poll_stats(p, &st))
    return;
  double t = now_s();
  add_sample(p, t, stored(&st));
  if (p->drawn && t - p->last_draw < DRAW_MS / 1000.0)
    return;
  pfh_progress_view v = {.done = stored(&st),
                         .total = st.size,
                         .rate = window_rate(p),
                         .streams = st.streams_active,
                         .final = 0,
                         .elapsed = t - p->start};
  draw(p, &v, 0);
  p->last_draw = t;
}

static void *progress_main(void *arg) {
  struct pfh_progress *p = arg;
  pthread_mutex_lock(&p->mu);
  while (!p->stop) {
    if (wait_or_stop(&p->cv, &p->mu, &p->stop, POLL_MS))
      break;
    pthread_mutex_unlock(&p->mu);
    tick(p); /* outside the lock: get_stats and write may take a while */
    pthread_mutex_lock(&p->mu);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

pfh_progress *pfh_progress_start(const pf_entry *entry, pf_session *s, int fd) {
  struct pfh_progress *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->entry = entry;
  p->s = s;
  p->fd = fd;
  p->start = now_s();

  if (cond_init_monotonic(&p->cv) != 0) {
    free(p);
    return NULL;
  }
  pthread_mutex_init(&p->mu, NULL);

  /* The baseline: bytes already stored (a resumed download) are not speed. */
  pf_stats st;
  if (poll_stats(p, &st)) {
    p->base = stored(&st);
    add_sample(p, p->start, p->base);
  }

  /* The thread starts with every signal blocked, so the host's SIGINT and
   * SIGTERM handlers never run on it. */
  if (pfh_thread_start_masked(&p->thread, progress_main, p) != 0) {
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
    return NULL;
  }
  return p;
}

void pfh_progress_stop(pfh_progress *p, int done) {
  if (!p)
    return;
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->thread, NULL);

  pf_stats st;
  if (done && poll_stats(p, &st)) {
    double elapsed = now_s() - p->start;
    double rate = -1; /* the average over this run, resumed bytes excluded */
    if (elapsed > 0 && stored(&st) >= p->base)
      rate = (double)(stored(&st) - p->base) / elapsed;
    pfh_progress_view v = {.done = stored(&st),
                           .total = st.size,
                           .rate = rate,
                           .streams = st.streams_max,
                           .final = 1,
                           .elapsed = elapsed};
    draw(p, &v, 1);
  } else if (p->drawn) {
    write_all(p->fd, "\n", 1);
  }
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

/* --- the board (see progress.h) ---------------------------------------------
 *
 * Threads: the board thread runs board_main(); workers call attach, detach
 * and print. `mu` guards everything in struct pfh_board after it (the slots,
 * the counters and what is drawn on the terminal); get_stats() of an
 * attached session is called with mu held, so detach() returning means the
 * board no longer touches that session. */

#define NAME_COLS 24

struct board_slot {
  pf_session *s; /* NULL: free */
  char name[256];
  double since;  /* attach time */
  uint64_t base; /* bytes stored at attach (resumed) */
};

struct pfh_board {
  const pf_entry *entry;
  int fd;
  size_t nslots, objects;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int stop;
  struct board_slot *slots;
  size_t done, failed;
  uint64_t bytes_closed; /* bytes of the detached objects */
  double start;
  int lines; /* lines of the board on the terminal now, the cursor below them */
};

size_t pfh_board_format_object(char *buf, size_t len, const char *name,
                               const pfh_progress_view *v, int width) {
  if (len == 0)
    return 0;
  size_t nl = strlen(name);
  int n;
  if (nl > NAME_COLS) /* the end of a long name says more than its start */
    n = snprintf(buf, len, "...%s ", name + nl - (NAME_COLS - 3));
  else
    n = snprintf(buf, len, "%-*s ", NAME_COLS, name);
  size_t o = n < 0 ? 0 : (size_t)n;
  if (o >= len)
    o = len - 1;
  int rest = width - (int)o;
  if (rest > 10 && o + 1 < len)
    o += pfh_progress_format(buf + o, len - o, v, rest);
  return o;
}

static uint64_t slot_stored(struct pfh_board *b, struct board_slot *sl, pf_stats *st) {
  memset(st, 0, sizeof *st);
  st->struct_size = sizeof *st;
  if (b->entry->get_stats(sl->s, st) != PF_OK)
    return sl->base;
  return stored(st);
}

/* Erase the board (mu held): the cursor goes back to its first line. */
static void board_erase(struct pfh_board *b) {
  if (b->lines > 0) {
    char esc[32];
    int n = snprintf(esc, sizeof esc, "\033[%dA\r\033[J", b->lines);
    write_all(b->fd, esc, (size_t)n);
    b->lines = 0;
  }
}

/* Draw every active object and the total (mu held). */
static void board_draw(struct pfh_board *b, int final) {
  int width = term_width(b->fd) - 1;
  double t = now_s();
  size_t cap = (b->nslots + 2) * 600;
  char *frame = malloc(cap);
  if (!frame)
    return;
  size_t o = 0;
  int lines = 0;
  uint64_t total = b->bytes_closed;
  size_t active = 0;
  /* Cursor-up cannot reach above the screen: at most rows - 2 object lines
   * (the total and the cursor's line below), the rest counted in the total. */
  int rows = term_rows(b->fd) - 2;
  size_t room = rows > 1 ? (size_t)(rows - 1) : 0;
  for (size_t i = 0; i < b->nslots; i++) {
    struct board_slot *sl = &b->slots[i];
    if (!sl->s)
      continue;
    pf_stats st;
    uint64_t have = slot_stored(b, sl, &st);
    total += have >= sl->base ? have - sl->base : 0;
    if (++active > room)
      continue;
    double span = t - sl->since;
    pfh_progress_view v = {.done = have,
                           .total = st.size,
                           .rate = span >= MIN_RATE_SPAN ? (double)(have - sl->base) / span : -1,
                           .streams = st.streams_active,
                           .final = 0,
                           .elapsed = span};
    frame[o++] = '\r';
    o += pfh_board_format_object(frame + o, cap - o - 8, sl->name, &v, width);
    memcpy(frame + o, "\033[K\n", 4);
    o += 4;
    lines++;
  }
  double span = t - b->start;
  char bytes[32], rate[32], el[32];
  pfh_human_bytes(total, bytes, sizeof bytes);
  if (span >= MIN_RATE_SPAN)
    pfh_human_bytes((uint64_t)((double)total / span), rate, sizeof rate);
  else
    snprintf(rate, sizeof rate, "--");
  int n = snprintf(frame + o, cap - o - 8,
                   "\rtotal: %zu of %zu done, %zu failed, %zu active%s  %s  %s/s  %s", b->done,
                   b->objects, b->failed, active, active > room ? " (not all shown)" : "", bytes,
                   rate,
                   pfh_human_duration(span, el, sizeof el));
  if (n > 0) {
    size_t add = (size_t)n;
    if (width > 0 && add > (size_t)width + 1)
      add = (size_t)width + 1;
    o += add;
  }
  memcpy(frame + o, "\033[K\n", 4);
  o += 4;
  lines++;
  (void)final;
  board_erase(b);
  write_all(b->fd, frame, o);
  b->lines = lines;
  free(frame);
}

static void *board_main(void *arg) {
  struct pfh_board *b = arg;
  pthread_mutex_lock(&b->mu);
  while (!wait_or_stop(&b->cv, &b->mu, &b->stop, DRAW_MS))
    board_draw(b, 0);
  pthread_mutex_unlock(&b->mu);
  return NULL;
}

pfh_board *pfh_board_start(const pf_entry *entry, size_t slots, size_t objects, int fd) {
  struct pfh_board *b = calloc(1, sizeof *b);
  if (!b)
    return NULL;
  b->slots = calloc(slots ? slots : 1, sizeof *b->slots);
  if (!b->slots) {
    free(b);
    return NULL;
  }
  b->entry = entry;
  b->fd = fd;
  b->nslots = slots;
  b->objects = objects;
  b->start = now_s();
  if (cond_init_monotonic(&b->cv) != 0)
    goto fail;
  pthread_mutex_init(&b->mu, NULL);
  if (pfh_thread_start_masked(&b->thread, board_main, b) != 0) {
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    goto fail;
  }
  return b;
fail:
  free(b->slots);
  free(b);
  return NULL;
}

void pfh_board_attach(pfh_board *b, size_t slot, const char *name, pf_session *s) {
  if (!b || slot >= b->nslots)
    return;
  pthread_mutex_lock(&b->mu);
  struct board_slot *sl = &b->slots[slot];
  sl->s = s;
  snprintf(sl->name, sizeof sl->name, "%s", name);
  sl->since = now_s();
  pf_stats st;
  sl->base = 0;
  sl->base = slot_stored(b, sl, &st);
  pthread_mutex_unlock(&b->mu);
}

void pfh_board_detach(pfh_board *b, size_t slot, int ok, uint64_t bytes) {
  if (!b || slot >= b->nslots)
    return;
  pthread_mutex_lock(&b->mu);
  b->slots[slot].s = NULL;
  if (ok)
    b->done++;
  else
    b->failed++;
  b->bytes_closed += bytes;
  pthread_mutex_unlock(&b->mu);
}

void pfh_board_print(pfh_board *b, const char *text, size_t len) {
  if (!b)
    return;
  pthread_mutex_lock(&b->mu);
  board_erase(b);
  write_all(b->fd, text, len);
  pthread_mutex_unlock(&b->mu);
}

void pfh_board_stop(pfh_board *b) {
  if (!b)
    return;
  pthread_mutex_lock(&b->mu);
  b->stop = 1;
  pthread_cond_signal(&b->cv);
  pthread_mutex_unlock(&b->mu);
  pthread_join(b->thread, NULL);
  board_draw(b, 1); /* the total line stays */
  pthread_cond_destroy(&b->cv);
  pthread_mutex_destroy(&b->mu);
  free(b->slots);
  free(b);
}
