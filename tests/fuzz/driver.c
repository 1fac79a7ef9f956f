/* driver.c - runs a harness of tests/fuzz/ over its corpus without
 * libFuzzer: a plain C main, built with gcc, for `make test`.
 *
 *   fuzz_NAME [-q] DIR|FILE...
 *
 * Feeds every regular file (each file given, every file of each directory
 * given, in name order) to LLVMFuzzerTestOneInput once, each in a child
 * process of its own so that one crashing input (an abort, a sanitizer
 * report) is counted and named and the others still run. The input is a
 * heap buffer of exactly the file's size, so that a sanitizer build sees a
 * read past its end. Prints "NAME: N passed, M failed" and exits 1 if any
 * input failed or none was found. One thread; no state kept across inputs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

static int quiet;
static unsigned passed, failed;

/* Read PATH whole into a malloc'd buffer of exactly its size. */
static uint8_t *slurp(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return NULL;
  }
  size_t n = (size_t)st.st_size, got = 0;
  uint8_t *buf = malloc(n ? n : 1);
  while (buf && got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r <= 0) {
      fprintf(stderr, "driver: %s: %s\n", path, r < 0 ? strerror(errno) : "shorter than its size");
      free(buf);
      buf = NULL;
    } else {
      got += (size_t)r;
    }
  }
  close(fd);
  *len = n;
  return buf;
}

static void run_one(const char *path) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "driver: fork: %s\n", strerror(errno));
    failed++;
    return;
  }
  if (pid == 0) {
    size_t len;
    uint8_t *buf = slurp(path, &len);
    if (!buf)
      _exit(3);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    exit(0); /* exit, not _exit: LeakSanitizer checks at exit */
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    passed++;
    if (!quiet)
      printf("ok - %s\n", path);
  } else {
    failed++;
    if (WIFSIGNALED(status))
      printf("not ok - %s (signal %d)\n", path, WTERMSIG(status));
    else
      printf("not ok - %s (exit %d)\n", path, WEXITSTATUS(status));
  }
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "driver: %s: %s\n", dir, strerror(errno));
    failed++;
    return;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      char **grown = realloc(names, cap * sizeof *names);
      if (!grown)
        break;
      names = grown;
    }
    size_t len = strlen(dir) + strlen(e->d_name) + 2;
    if ((names[n] = malloc(len)) == NULL)
      break;
    snprintf(names[n++], len, "%s/%s", dir, e->d_name);
  }
  closedir(d);
  if (n)
    qsort(names, n, sizeof *names, by_name);
  for (size_t i = 0; i < n; i++) {
    struct stat st;
    if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
      run_one(names[i]);
    free(names[i]);
  }
  free(names);
}

int main(int argc, char **argv) {
  const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
  int i = 1;
  if (i < argc && strcmp(argv[i], "-q") == 0) {
    quiet = 1;
    i++;
  }
  if (i >= argc) {
    fprintf(stderr, "usage: %s [-q] DIR|FILE...\n", name);
    return 2;
  }
  for (; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "driver: %s: %s\n", argv[i], strerror(errno));
      failed++;
    } else if (S_ISDIR(st.st_mode)) {
      run_dir(argv[i]);
    } else {
      run_one(argv[i]);
    }
  }
  printf("%s: %u passed, %u failed\n", name, passed, failed);
  if (passed + failed == 0)
    fprintf(stderr, "%s: no input found\n", name);
  return failed || passed == 0 ? 1 : 0;
}
