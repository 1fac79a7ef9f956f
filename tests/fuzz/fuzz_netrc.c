/* fuzz_netrc.c - auth.conf as apt 2.6 reads it (host-shim/apt/apt_netrc.c)
 * on a crafted file: the input is the file's text. It is looked up for a
 * fixed set of request URIs (schemes, ports, paths, IPv6, userinfo).
 * Promises checked: the parser returns 0, or -1 with a message naming the
 * file; a lookup returns 0 or 1; credentials found are tokens of the file
 * (no space, TAB or newline), at least one of them non-empty; they are only
 * found for a host the file names, for a scheme other than https only when
 * the file says "<scheme>://", and never for a URI with its own userinfo;
 * a second lookup gives the same answer. */
#include <string.h>

#include "apt/apt_netrc.h"
#include "apt/apt_proxy.h"
#include "fuzz.h"

static const char *const uris[] = {"https://a.example/debian/pool/x.deb",
                                   "http://a.example/debian/x",
                                   "https://a.example:8443/d",
                                   "http://a.example:8080/",
                                   "https://[::1]:8443/x",
                                   "tor+https://b.example/x",
                                   "https://u:p@a.example/x",
                                   "ftp://a.example/x",
                                   "https://a/",
                                   "https://b.example/debian-security/"};

static int has_ws(const char *s) {
  return strpbrk(s, " \t\n") != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct apt_netrc *n = apt_netrc_new();
  fuzz_assert(n != NULL);
  char err[256] = "";
  int rc = apt_netrc_parse(n, (const char *)data, size, "auth.conf", err, sizeof err);
  fuzz_assert(rc == 0 || rc == -1);
  if (rc == -1)
    fuzz_assert(strncmp(err, "auth.conf", 9) == 0);
  for (size_t i = 0; i < sizeof uris / sizeof uris[0]; i++) {
    const char *l = NULL, *p = NULL, *l2 = NULL, *p2 = NULL;
    int f = apt_netrc_find(n, uris[i], &l, &p);
    fuzz_assert(f == 0 || f == 1);
    fuzz_assert(apt_netrc_find(n, uris[i], &l2, &p2) == f && l == l2 && p == p2);
    if (!f)
      continue;
    fuzz_assert(l && p && (l[0] || p[0]) && !has_ws(l) && !has_ws(p));
    struct apt_uri u;
    fuzz_assert(apt_uri_parse(uris[i], &u) == 0);
    /* the host must be named in the file */
    fuzz_assert(memmem(data, size, u.host, strlen(u.host)) != NULL);
    fuzz_assert(!u.user && !u.password);
    if (strcmp(u.scheme, "https") != 0 && strcmp(u.scheme, "tor+https") != 0) {
      char want[32];
      snprintf(want, sizeof want, "%s://", u.scheme);
      fuzz_assert(memmem(data, size, want, strlen(want)) != NULL);
    }
    apt_uri_free(&u);
  }
  apt_netrc_free(n);
  return 0;
}
