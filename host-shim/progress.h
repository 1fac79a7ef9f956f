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

#include <pthread.h>
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

/* --- the board: one display for many downloads (parfetch URL URL ..., -i) ---
 *
 * A line per active object (name, percent, bar, bytes, rate) and a total line
 * (objects done/failed of all, bytes, rate, elapsed), redrawn in place every
 * DRAW_MS with ANSI cursor-up, like aria2c or docker pull; no more object
 * lines than the terminal has rows for (cursor-up stops at the top). Messages printed
 * through pfh_board_print() appear above it.
 *
 * Threads: one board thread of its own (every signal blocked) polls the
 * attached sessions; attach/detach/print come from any thread (the download
 * workers). One mutex guards the slots and the terminal: a session is polled
 * only while attached, and detach returns only once the board is done with
 * it, so the caller may close it right after. */
typedef struct pfh_board pfh_board;

/* Start a board for `objects` objects run at most `slots` at a time, drawn
 * to fd. NULL if it cannot start (nothing is shown then). */
pfh_board *pfh_board_start(const pf_entry *entry, size_t slots, size_t objects, int fd);

/* Show session s in slot (0 .. slots-1) under name until detach. NULL b is a
 * no-op, for both. */
void pfh_board_attach(pfh_board *b, size_t slot, const char *name, pf_session *s);

/* Take the slot's session off the board, counting the object as done (ok)
 * or failed, with its bytes stored this run. */
void pfh_board_detach(pfh_board *b, size_t slot, int ok, uint64_t bytes);

/* Print len bytes (whole lines) above the board. */
void pfh_board_print(pfh_board *b, const char *text, size_t len);

/* Draw the last total line, stop and join the thread, free b. */
void pfh_board_stop(pfh_board *b);

/* One line of the board for an object, for the thread and for tests: name
 * cut or padded to a column, then the bar of pfh_progress_format. */
size_t pfh_board_format_object(char *buf, size_t len, const char *name,
                               const pfh_progress_view *v, int width);

/* pthread_create with every signal blocked in the new thread, so that the
 * host's SIGINT/SIGTERM handlers never run on it (the progress and board
 * threads, the CLI's download workers). pthread_create's return value. */
int pfh_thread_start_masked(pthread_t *t, void *(*fn)(void *), void *arg);

#endif /* PFH_PROGRESS_H */
