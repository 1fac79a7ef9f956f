/* fuzz_retry_after.c - Retry-After values (pf_http_retry_after in
 * plugin/http.c): delta-seconds or an HTTP-date, read at a few "now"s.
 * Promise checked: -1, or a delay in [0, 86400] seconds. */
#include "fuzz.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const long long nows[] = {0, 784111770LL, 1764547200LL, 253402300799LL};
  for (size_t i = 0; i < sizeof nows / sizeof nows[0]; i++) {
    long d = pf_http_retry_after((const char *)data, size, nows[i]);
    fuzz_assert(d == -1 || (d >= 0 && d <= 86400));
  }
  return 0;
}
