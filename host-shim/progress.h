/*
 * progress.h - the CLI's progress bar on a terminal: percent, bar, bytes
 * done/total, smoothed rate, ETA and active streams; bytes and rate only when
 * the size is unknown. Redrawn in place with '\r' at most 5 times a second.
 *
 * Threads: pfh_progress_start() starts one thread of its own that polls
 * entry->get_stats() every 100 ms while the caller blocks in run();
 * pfh_progress_stop() (same caller thread) wakes and joins it. The progress
 * thread blocks every signal, so SIGINT/SIGTERM reach the host's handlers on
 * other threads. The formatting helpers are pure and thread-safe.
 */
#ifndef PFH_PROGRESS_H
#define PFH_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#include "parfetch.h"

typedef struct pfh_progress pfh_progress;

/* Start drawing to fd (stderr). Returns NULL if the thread cannot be
 * started; progress is then simply not shown. The session must outlive
 * pfh_progress_stop(). */
pfh_progress *pfh_progress_start(const pf_entry *entry, pf_session *s, int fd);

/* Stop and join the thread. With done != 0 a final line (100%, average rate,
 * elapsed time) is drawn; either way the line is ended with '\n' if anything
 * was drawn. Frees p; NULL is a no-op. */
void pfh_progress_stop(pfh_progress *p, int done);

/* One frame of the bar, for the drawing thread and for tests. */
typedef struct pfh_progress_view {
  uint64_t done;    /* bytes stored */
  uint64_t total;   /* PF_SIZE_UNKNOWN if unknown */
  double rate;      /* bytes/s; < 0 if not known yet */
  uint32_t streams; /* active streams (or the most used, on the final line) */
  int final;        /* the last line: "in 1:02" instead of the ETA */
  double elapsed;   /* seconds, for the final line */
} pfh_progress_view;

/* Format a frame to fit in width columns (no '\r', no newline). Returns the
 * length written (always < len when len > 0). */
size_t pfh_progress_format(char *buf, size_t len, const pfh_progress_view *v, int width);

/* "512 B", "1.5 KiB", "12.3 MiB", "2.0 GiB", ... into buf; returns buf. */
char *pfh_human_bytes(uint64_t n, char *buf, size_t len);

/* "0:07", "12:34", "1:02:03"; "--:--" for a negative or huge value. */
char *pfh_human_duration(double seconds, char *buf, size_t len);

#endif /* PFH_PROGRESS_H */
