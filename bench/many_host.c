/*
 * bench/many_host.c - many objects in one process on one parfetch client
 * (ABI 1.2), timed: bench/run.sh scenarios f and g.
 *
 *   many_host PLUGIN BASE_URL LIST OUTDIR THREADS [--set KEY=VALUE]...
 *     LIST     object names, one a line: BASE_URL/NAME goes to OUTDIR/ its last
 *              component
 *     THREADS  1: one object after another (f); M: M threads each open, run,
 *              commit and close the next object of the list, so that M objects
 *              are under way at once (g: M = the number of objects)
 *
 *   prints   "object NAME START END" per object (seconds since the first open,
 *            END when its commit returned), then
 *            "total S", "objects N", "per_object_mean S",
 *            "fastest S", "slowest S",
 *            "peak_threads N", "host_threads H" (main + sampler + THREADS
 *            downloaders: the rest of the peak are the engine's), and with
 *            THREADS 1 "phase_open_mean S", "phase_run_mean S",
 *            "phase_commit_mean S", "phase_close_mean S" (the mean time in
 *            each call per object)
 *   exit     0 every object committed; 1 a download failed; 2 usage or load
 *
 * Threads: main makes and frees the client; THREADS download threads; one
 * sampler thread reads /proc/self/status's Threads every 5 ms for the peak.
 * The per-object times are written by their own downloader and read by main
 * after the joins.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host_util.h"
#include "loader.h"
#include "parfetch.h"

static const pf_entry *e;
static pf_client *client;
static const char *base, *outdir;
static char **names;
static double *t_start, *t_end;
/* per phase, summed over the objects: open_on, run, commit, close */
static double ph_sum[4];
static int nthreads_one; /* THREADS 1: the phases are summed (by the one downloader) */
static size_t nnames;
static atomic_size_t next_name;
static atomic_int failures;
static struct timespec t0;

static double since_t0(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
}

static int fetch_one(size_t i) {
  char url[4096], out[4096];
  snprintf(url, sizeof url, "%s/%s", base, names[i]);
  const char *leaf = strrchr(names[i], '/');
  snprintf(out, sizeof out, "%s/%s", outdir, leaf ? leaf + 1 : names[i]);
  pf_open_args args;
  memset(&args, 0, sizeof args);
  args.struct_size = sizeof args;
  args.output_path = out;
  pf_session *s = NULL;
  double t[5];
  t[0] = t_start[i] = since_t0();
  pf_status st = e->open_on(client, url, &args, &s);
  t[1] = since_t0();
  if (st == PF_OK)
    st = e->run(s);
  t[2] = since_t0();
  if (st == PF_OK)
    st = e->commit(s);
  t[3] = since_t0();
  if (st != PF_OK)
    fprintf(stderr, "many_host: %s: %s: %s\n", url, e->strerror(st), s ? e->errmsg(s) : "");
  if (s)
    e->close(s, 0);
  t[4] = t_end[i] = since_t0();
  if (nthreads_one)
    for (int k = 0; k < 4; k++)
      ph_sum[k] += t[k + 1] - t[k];
  return st == PF_OK ? 0 : 1;
}

static void *downloader(void *arg) {
  (void)arg;
  for (;;) {
    size_t i = atomic_fetch_add(&next_name, 1);
    if (i >= nnames)
      break;
    if (fetch_one(i) != 0)
      atomic_fetch_add(&failures, 1);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s PLUGIN BASE_URL LIST OUTDIR THREADS [--set KEY=VALUE]...\n",
            argv[0]);
    return 2;
  }
  base = argv[2];
  outdir = argv[4];
  int nthreads = atoi(argv[5]);
  nthreads_one = nthreads == 1;
  if (nthreads < 1 || nthreads > 256 || host_read_list(argv[3], &names, &nnames) != 0 ||
      nnames == 0) {
    fprintf(stderr, "many_host: bad THREADS (1..256) or LIST %s\n", argv[3]);
    return 2;
  }
  t_start = calloc(nnames, sizeof *t_start);
  t_end = calloc(nnames, sizeof *t_end);
  if (!t_start || !t_end)
    return 2;
  pfh_plugin plugin;
  char err[1024];
  if (pfh_load(argv[1], &plugin, err, sizeof err) != 0) {
    fprintf(stderr, "many_host: %s\n", err);
    return 2;
  }
  e = plugin.entry;
  if (e->struct_size < PF_SIZE_THROUGH(pf_entry, open_on) || e->abi_minor < 2) {
    fprintf(stderr, "many_host: the plugin has no clients (ABI %u.%u)\n", (unsigned)e->abi_major,
            (unsigned)e->abi_minor);
    return 2;
  }
  pf_config *cfg = e->config_new();
  if (!cfg)
    return 2;
  for (int i = 6; i < argc; i++) {
    char *kv = (strcmp(argv[i], "--set") == 0 && i + 1 < argc) ? argv[++i] : NULL;
    char *eq = kv ? strchr(kv, '=') : NULL;
    if (!eq) {
      fprintf(stderr, "many_host: bad option %s (--set KEY=VALUE)\n", argv[i]);
      return 2;
    }
    *eq = '\0';
    if (e->config_set(cfg, kv, eq + 1) != PF_OK) {
      fprintf(stderr, "many_host: %s\n", e->config_error(cfg));
      return 2;
    }
  }
  host_sampler sampler = {0};
  host_sampler_start(&sampler, 5 * 1000000L); /* (if it cannot start, the peak is 0) */
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pf_status st = e->client_new(cfg, &client);
  if (st != PF_OK) {
    fprintf(stderr, "many_host: client_new: %s\n", e->strerror(st));
    return 1;
  }
  pthread_t *th = calloc((size_t)nthreads, sizeof *th);
  int started = 0;
  for (int i = 0; th && i < nthreads; i++)
    if (pthread_create(&th[started], NULL, downloader, NULL) == 0)
      started++;
  for (int i = 0; i < started; i++)
    pthread_join(th[i], NULL);
  if (started == 0)
    downloader(NULL);
  e->client_free(client);
  double total = since_t0();
  int peak_threads = host_sampler_stop(&sampler);

  double sum = 0, fast = 0, slow = 0;
  for (size_t i = 0; i < nnames; i++) {
    double d = t_end[i] - t_start[i];
    printf("object %s %.6f %.6f\n", names[i], t_start[i], t_end[i]);
    sum += d;
    if (i == 0 || d < fast)
      fast = d;
    if (i == 0 || d > slow)
      slow = d;
  }
  printf("total %.6f\nobjects %zu\nper_object_mean %.6f\nfastest %.6f\nslowest %.6f\n", total,
         nnames, sum / (double)nnames, fast, slow);
  printf("peak_threads %d\nhost_threads %d\n", peak_threads, 2 + started);
  if (nthreads_one)
    printf("phase_open_mean %.6f\nphase_run_mean %.6f\nphase_commit_mean %.6f\n"
           "phase_close_mean %.6f\n",
           ph_sum[0] / (double)nnames, ph_sum[1] / (double)nnames, ph_sum[2] / (double)nnames,
           ph_sum[3] / (double)nnames);
  e->config_free(cfg);
  for (size_t i = 0; i < nnames; i++)
    free(names[i]);
  free(names);
  free(th);
  free(t_start);
  free(t_end);
  pfh_unload(&plugin);
  int nf = atomic_load(&failures);
  if (nf)
    fprintf(stderr, "many_host: %d of %zu downloads failed\n", nf, nnames);
  return nf ? 1 : 0;
}
