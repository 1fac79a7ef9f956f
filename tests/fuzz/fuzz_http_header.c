/* fuzz_http_header.c - reply header lines as on_header() in plugin/fetch.c
 * takes them from libcurl: the status line, "Name: value" splitting and the
 * values parfetch reads (Location, Content-Range, Content-Length,
 * Retry-After) through the pure functions of plugin/http.c. The validators
 * (ETag, Last-Modified) have no parser of their own: they are the split
 * value, copied and compared as text. The input is split at '\n' into lines (each keeps its
 * '\n'). Promises checked: a status is 0..999; a split name and value lie
 * inside the line, the name non-empty, both trimmed. */
#include <string.h>

#include "fuzz.h"
#include "internal.h"

static int ows(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void one_line(const char *line, size_t len) {
  int code = pf_http_status_line(line, len);
  fuzz_assert(code >= -1 && code <= 999);
  if (code >= 0)
    return;
  const char *name, *value;
  size_t nl, vl;
  if (pf_http_header_split(line, len, &name, &nl, &value, &vl) != 0)
    return;
  fuzz_assert(name == line && nl > 0 && nl <= len && !ows(name[nl - 1]));
  fuzz_assert(value >= line && value + vl <= line + len);
  fuzz_assert(vl == 0 || (!ows(value[0]) && !ows(value[vl - 1])));
  uint64_t a, b, t;
  int unsat;
  if (pf_http_name_is(name, nl, "location")) {
    char *loc = strndup(value, vl);
    if (loc) {
      free(pf_http_resolve_location("https://127.0.0.1/a/b", loc));
      free(loc);
    }
  } else if (pf_http_name_is(name, nl, "content-range")) {
    (void)pf_http_content_range(value, vl, &a, &b, &t, &unsat);
  } else if (pf_http_name_is(name, nl, "content-length")) {
    (void)pf_http_content_length(value, vl, &a);
  } else if (pf_http_name_is(name, nl, "retry-after")) {
    long d = pf_http_retry_after(value, vl, 1764547200LL);
    fuzz_assert(d >= -1 && d <= 86400);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = (const char *)data, *end = p + size;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
    one_line(p, len);
    p += len;
  }
  return 0;
}
