/* fuzz_inputfile.c - the `parfetch -i` list (host-shim/inputfile.c) on
 * crafted text: the input is the file's bytes.
 * Promises checked: the parser returns 0, or -1 with a message that starts
 * "list:LINE:COLUMN: " (LINE within the input's lines) or is "out of
 * memory", and leaves no item; on success every object has at least one
 * URL, each non-empty with no byte <= 0x20 or DEL, its out= and dir= pass
 * the relative-path rule, its checksum= is in our spelling (normalising it
 * again gives it back), its lines ascend; a second parse gives the same. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "inputfile.h"

static size_t count_lines(const uint8_t *d, size_t n) {
  size_t lines = 1;
  for (size_t i = 0; i < n; i++)
    lines += d[i] == '\n';
  return lines;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pfh_input in, again;
  char err[1024] = "", err2[1024] = "";
  int rc = pfh_input_parse((const char *)data, size, "list", &in, err, sizeof err);
  fuzz_assert(rc == 0 || rc == -1);
  int rc2 = pfh_input_parse((const char *)data, size, "list", &again, err2, sizeof err2);
  fuzz_assert(rc2 == rc);
  if (rc == -1) {
    fuzz_assert(in.count == 0 && in.items == NULL);
    fuzz_assert(strcmp(err, err2) == 0);
    if (strcmp(err, "out of memory") != 0) {
      unsigned long line = 0, col = 0;
      int used = 0;
      fuzz_assert(sscanf(err, "list:%lu:%lu: %n", &line, &col, &used) == 2 && used > 0);
      fuzz_assert(line >= 1 && line <= count_lines(data, size) && col >= 1);
    }
    return 0;
  }
  fuzz_assert(again.count == in.count);
  unsigned last = 0;
  char why[256];
  for (size_t i = 0; i < in.count; i++) {
    const pfh_input_item *it = &in.items[i];
    fuzz_assert(it->nurls >= 1 && it->urls[it->nurls] == NULL);
    fuzz_assert(it->line > last);
    last = it->line;
    for (size_t u = 0; u < it->nurls; u++) {
      fuzz_assert(it->urls[u][0] != '\0');
      fuzz_assert(strcmp(it->urls[u], again.items[i].urls[u]) == 0);
      for (const char *p = it->urls[u]; *p; p++)
        fuzz_assert((unsigned char)*p > 0x20 && *p != 0x7f);
    }
    if (it->out)
      fuzz_assert(pfh_check_relative_path(it->out, why, sizeof why) == 0);
    if (it->dir)
      fuzz_assert(pfh_check_relative_path(it->dir, why, sizeof why) == 0);
    if (it->checksum) {
      char *n = pfh_checksum_normalise(it->checksum, 0, why, sizeof why, NULL);
      fuzz_assert(n != NULL && strcmp(n, it->checksum) == 0);
      free(n);
    }
  }
  pfh_input_free(&in);
  pfh_input_free(&again);
  return 0;
}
