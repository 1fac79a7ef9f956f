/* fuzz.h - what every harness in tests/fuzz/ shares.
 *
 * A harness is one file, tests/fuzz/fuzz_NAME.c, that defines
 * LLVMFuzzerTestOneInput and feeds the input to one parser of untrusted input
 * (a pure function of plugin/: http.c, journal.c, config.c ...), checking
 * what that parser promises; a broken promise calls fuzz_fail(), which
 * aborts, so the fuzzer keeps the input as a crash. Its seed corpus is
 * tests/fuzz/corpus/NAME/ (small files; add each input that once crashed).
 *
 *   make fuzz   builds each harness with clang -fsanitize=fuzzer,address,undefined
 *               and runs it FUZZ_SECONDS (default 60) on a scratch copy of its corpus
 *   make test   builds each with tests/fuzz/driver.c (gcc, no libFuzzer) and runs
 *               every corpus file once, in the normal and the ASan+UBSan build
 *
 * Harnesses keep no state between inputs and free what they allocate.
 */
#ifndef PF_FUZZ_H
#define PF_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A promise the parser made is broken: say which, and abort. */
#define fuzz_fail(...)                                                                             \
  do {                                                                                             \
    fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                                \
    fprintf(stderr, __VA_ARGS__);                                                                  \
    fputc('\n', stderr);                                                                           \
    abort();                                                                                       \
  } while (0)

#define fuzz_assert(cond)                                                                          \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      fuzz_fail("broken promise: %s", #cond);                                                      \
  } while (0)

#endif /* PF_FUZZ_H */
