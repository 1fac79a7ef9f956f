/*
 * bench/curl_loop.c - the reference of bench/run.sh scenario f: one libcurl
 * easy handle reused for every object of a list, one after another, so that
 * one connection carries them all (keep-alive).
 *
 *   curl_loop BASE_URL LIST OUTDIR [--insecure]
 *     LIST   object names, one a line: BASE_URL/NAME goes to OUTDIR/ its last
 *            component
 *   prints "total S", "objects N", "per_object_mean S"
 *   exit   0 every object fetched with 200; 1 one failed; 2 usage
 *
 * Threads: one (main).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s BASE_URL LIST OUTDIR [--insecure]\n", argv[0]);
    return 2;
  }
  int insecure = argc > 4 && strcmp(argv[4], "--insecure") == 0;
  FILE *list = fopen(argv[2], "r");
  if (!list) {
    perror(argv[2]);
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL *h = curl_easy_init();
  if (!h)
    return 2;
  char line[1024], url[4096], out[4096], errbuf[CURL_ERROR_SIZE];
  size_t n = 0;
  int failed = 0;
  double t0 = now();
  while (!failed && fgets(line, sizeof line, list)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0])
      continue;
    const char *leaf = strrchr(line, '/');
    snprintf(url, sizeof url, "%s/%s", argv[1], line);
    snprintf(out, sizeof out, "%s/%s", argv[3], leaf ? leaf + 1 : line);
    FILE *f = fopen(out, "wb");
    if (!f) {
      perror(out);
      failed = 1;
      break;
    }
    errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    if (insecure) {
      curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (fclose(f) != 0 || rc != CURLE_OK || code != 200) {
      fprintf(stderr, "curl_loop: %s: %s (HTTP %ld)\n", url,
              errbuf[0] ? errbuf : curl_easy_strerror(rc), code);
      failed = 1;
    }
    n++;
  }
  double total = now() - t0;
  fclose(list);
  curl_easy_cleanup(h);
  curl_global_cleanup();
  printf("total %.6f\nobjects %zu\nper_object_mean %.6f\n", total, n, n ? total / (double)n : 0);
  return failed ? 1 : 0;
}
