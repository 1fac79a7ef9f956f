/*
 * fuzz_text.c - libFuzzer harness for pf_text_clean (plugin/text.c), the
 * filter of every line the plugin and the CLI show. Checks, for any input:
 * the output is NUL-terminated inside its buffer; it holds no control
 * character (C0, DEL, C1) and only valid UTF-8; cleaning it again changes
 * nothing; a smaller buffer gives a prefix of the full result.
 *
 * Stand-alone:
 *   clang -fsanitize=fuzzer,address,undefined -Iplugin -o build/fuzz_text \
 *     tests/fuzz/fuzz_text.c plugin/text.c
 *   build/fuzz_text tests/fuzz/corpus/text
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* Valid UTF-8 without control characters (what the filter promises). */
static int shown_ok(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (c < 0x20 || c == 0x7f)
      return 0;
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
    if (c < 0xc2 || c > 0xf4 || i + need > n)
      return 0;
    uint32_t cp = c & (need == 2 ? 0x1f : need == 3 ? 0x0f : 0x07);
    for (size_t k = 1; k < need; k++) {
      if ((p[i + k] & 0xc0) != 0x80)
        return 0;
      cp = cp << 6 | (p[i + k] & 0x3f);
    }
    if ((cp >= 0x80 && cp <= 0x9f) || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ||
        (need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000))
      return 0;
    i += need;
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 16)
    return 0;
  size_t cap = PF_TEXT_CLEAN_MAX(size);
  char *full = malloc(cap), *again = malloc(cap);
  if (!full || !again)
    abort();
  memset(full, 'Z', cap);
  size_t n = pf_text_clean(full, cap, (const char *)data, size);
  if (n >= cap || full[n] != '\0' || strlen(full) != n)
    abort();
  if (!shown_ok((const unsigned char *)full, n))
    abort();
  /* idempotent */
  size_t m = pf_text_clean(again, cap, full, n);
  if (m != n || memcmp(full, again, n) != 0)
    abort();
  /* a smaller buffer: a prefix of the full text */
  size_t small = size ? data[0] % 64 + 1 : 1;
  if (small < cap) {
    size_t k = pf_text_clean(again, small, (const char *)data, size);
    if (k >= small || again[k] != '\0' || memcmp(again, full, k) != 0)
      abort();
  }
  free(full);
  free(again);
  return 0;
}
