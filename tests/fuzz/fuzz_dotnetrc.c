/* fuzz_dotnetrc.c - a .netrc as the CLI reads it for --netrc / --netrc-file
 * (host-shim/netrc.c, curl's syntax) on a crafted file: the input is the
 * file's text, looked up for a few hosts; and the same bytes as a URL for
 * pfh_url_host. Promises checked: the lookup returns 1, 0, or -1 with a
 * message naming the file; a found entry gives two strings, and only for a
 * host the file names (case-insensitively; or through a \ escape) or a
 * file with "default"; a
 * second lookup gives the same answer; pfh_url_host gives a non-empty host
 * without '/', '?', '#' or '@' that fits its buffer. */
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "netrc.h"

static const char *const hosts[] = {"a.example", "B.example", "127.0.0.1", "::1"};

static int names(const char *text, const char *word) {
  return *word && strcasestr(text, word) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1); /* for strcasestr; the parser gets the raw bytes */
  fuzz_assert(text != NULL);
  memcpy(text, data, size);
  text[size] = '\0';
  for (size_t i = 0; i < size; i++)
    if (!text[i])
      text[i] = ' ';
  for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
    char *l = NULL, *p = NULL, *l2 = NULL, *p2 = NULL;
    char err[256] = "";
    int f = pfh_netrc_find((const char *)data, size, "netrc", hosts[i], &l, &p, err, sizeof err);
    fuzz_assert(f == 1 || f == 0 || f == -1);
    if (f == -1)
      fuzz_assert(strncmp(err, "netrc", 5) == 0);
    if (f != 1)
      fuzz_assert(!l && !p);
    if (f == 1) {
      fuzz_assert(l && p);
      fuzz_assert(names(text, hosts[i]) || names(text, "default") || strchr(text, '\\'));
    }
    int f2 = pfh_netrc_find((const char *)data, size, "netrc", hosts[i], &l2, &p2, err, sizeof err);
    fuzz_assert(f2 == f);
    if (f == 1)
      fuzz_assert(strcmp(l, l2) == 0 && strcmp(p, p2) == 0);
    free(l), free(p), free(l2), free(p2);
  }
  char host[64];
  int userinfo = -1;
  if (pfh_url_host(text, host, sizeof host, &userinfo) == 0) {
    fuzz_assert(host[0] && strlen(host) < sizeof host);
    fuzz_assert(!strpbrk(host, "/?#@"));
  }
  fuzz_assert(userinfo == 0 || userinfo == 1);
  free(text);
  return 0;
}
