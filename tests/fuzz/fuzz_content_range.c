/* fuzz_content_range.c - Content-Range and Content-Length values
 * (pf_http_content_range, pf_http_content_length in plugin/http.c) as a
 * server may send them. Promises checked: an accepted range has
 * start <= end < PF_SIZE_MAX and a total of PF_SIZE_UNKNOWN or in
 * (end, PF_SIZE_MAX]; "bytes * /t" has t <= PF_SIZE_MAX; an accepted length
 * is at most PF_SIZE_MAX; the answer is 0, -1 or -2. */
#include "fuzz.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *v = (const char *)data;
  uint64_t a = 1, b = 2, t = 3;
  int unsat = -1;
  int r = pf_http_content_range(v, size, &a, &b, &t, &unsat);
  fuzz_assert(r == 0 || r == -1 || r == -2);
  if (r == 0) {
    fuzz_assert(unsat == 0 || unsat == 1);
    if (unsat) {
      fuzz_assert(a == 0 && b == 0 && t <= PF_SIZE_MAX);
    } else {
      fuzz_assert(a <= b && b < PF_SIZE_MAX);
      fuzz_assert(t == PF_SIZE_UNKNOWN || (b < t && t <= PF_SIZE_MAX));
    }
  }
  uint64_t len = 0;
  r = pf_http_content_length(v, size, &len);
  fuzz_assert(r == 0 || r == -1 || r == -2);
  if (r == 0)
    fuzz_assert(len <= PF_SIZE_MAX);
  return 0;
}
