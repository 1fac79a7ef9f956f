/* fuzz_location.c - a redirect's Location against the URL it came from
 * (pf_http_resolve_location in plugin/http.c, on libcurl's URL API). The
 * input is "BASE\nLOCATION"; without a newline, all of it is the Location
 * against http://127.0.0.1/dir/file. Promise checked: NULL, or an absolute
 * http:// or https:// URL with no control bytes or spaces. */
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size + 1);
  if (!buf)
    return 0;
  memcpy(buf, data, size);
  buf[size] = '\0';
  const char *base = "http://127.0.0.1/dir/file", *loc = buf;
  char *nl = memchr(buf, '\n', size);
  if (nl) {
    *nl = '\0';
    base = buf;
    loc = nl + 1;
  }
  char *url = pf_http_resolve_location(base, loc);
  if (url) {
    fuzz_assert(strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0);
    for (const char *p = url; *p; p++)
      fuzz_assert((unsigned char)*p > 0x20 && (unsigned char)*p != 0x7f);
    free(url);
  }
  free(buf);
  return 0;
}
