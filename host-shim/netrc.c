/*
 * netrc.c - .netrc as curl reads it, the URL's host, the Basic header (see
 * netrc.h). The parser runs once over the text, line by line, feeding
 * tokens to a small state machine; it stops at the end of the first entry
 * that matches.
 *
 * Owns: nothing past a call. Threads: the caller's. Every buffer that held
 * the file's text or a token is wiped before it is freed (wipe_free).
 */
#include "netrc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* A netrc file larger than this is refused, not read whole (a mistaken
 * path, /dev/zero): a real one is a few hundred bytes. */
#define NETRC_MAX (1024 * 1024)

static void wipe_free(char *p, size_t n) {
  if (p)
    explicit_bzero(p, n);
  free(p);
}

struct parse {
  const char *name, *host;
  enum { NOTHING, MACHINE, ENTRY, VALUE, DONE } st;
  int matched;         /* in ENTRY/VALUE: this entry is the host's */
  char **slot;         /* in VALUE: where the value goes (NULL: account) */
  const char *keyword; /* in VALUE, for messages */
  size_t kline, kcol;
  char *login, *password;
  int found;
};

static void fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...) {
  if (!errlen)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* One token (tok is the unquoted text). 0, or -1 on out of memory. */
static int feed(struct parse *p, const char *tok, int quoted, size_t line, size_t col) {
  int kw = !quoted; /* a quoted "machine" is a name, not a keyword */
  switch (p->st) {
  case VALUE:
    if (p->slot && p->matched) {
      char *v = strdup(tok);
      if (!v)
        return -1;
      if (*p->slot) /* a value given twice: the first one goes */
        wipe_free(*p->slot, strlen(*p->slot));
      *p->slot = v;
      p->found = 1;
    }
    p->st = ENTRY;
    return 0;
  case MACHINE:
    p->matched = strcasecmp(tok, p->host) == 0;
    p->st = ENTRY;
    return 0;
  case ENTRY:
    if (kw && (strcasecmp(tok, "login") == 0 || strcasecmp(tok, "password") == 0 ||
               strcasecmp(tok, "account") == 0)) {
      p->slot = strcasecmp(tok, "login") == 0      ? &p->login
                : strcasecmp(tok, "password") == 0 ? &p->password
                                                   : NULL;
      p->keyword = strcasecmp(tok, "login") == 0      ? "login"
                   : strcasecmp(tok, "password") == 0 ? "password"
                                                      : "account";
      p->kline = line;
      p->kcol = col;
      p->st = VALUE;
      return 0;
    }
    if (kw && (strcasecmp(tok, "machine") == 0 || strcasecmp(tok, "default") == 0 ||
               strcasecmp(tok, "macdef") == 0) &&
        p->matched) {
      p->st = DONE; /* the matching entry ends */
      return 0;
    }
    /* fall through: another entry starts, or a stray token */
    /* FALLTHROUGH */
  case NOTHING:
    if (kw && strcasecmp(tok, "machine") == 0) {
      p->st = MACHINE;
      p->keyword = "machine";
      p->kline = line;
      p->kcol = col;
    } else if (kw && strcasecmp(tok, "default") == 0) {
      p->matched = 1;
      p->st = ENTRY;
    } else if (p->st == ENTRY && kw && strcasecmp(tok, "macdef") == 0) {
      p->st = NOTHING;
    }
    return 0;
  case DONE:
    return 0;
  }
  return 0;
}

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\0' || c == '\v' || c == '\f';
}

int pfh_netrc_find(const char *text, size_t len, const char *name, const char *host, char **login,
                   char **password, char *err, size_t errlen) {
  struct parse p = {.name = name ? name : ".netrc", .host = host, .st = NOTHING};
  *login = *password = NULL;
  char *tok = malloc(len + 1); /* the longest token fits */
  if (!tok) {
    fail(err, errlen, "%s: out of memory", p.name);
    return -1;
  }
  int macdef = 0, rc = 0;
  size_t pos = 0, line = 0;
  while (pos < len && p.st != DONE && rc == 0) {
    const char *s = text + pos;
    const char *nl = memchr(s, '\n', len - pos);
    size_t n = nl ? (size_t)(nl - s) : len - pos;
    pos += n + (nl != NULL);
    line++;
    if (macdef) { /* a macro's body runs to an empty line */
      if (n == 0 || s[0] == '\r')
        macdef = 0;
      continue;
    }
    int first = 1;
    for (size_t i = 0; i < n && p.st != DONE && rc == 0;) {
      while (i < n && is_space(s[i]))
        i++;
      if (i >= n)
        break;
      if (first && s[i] == '#')
        break; /* a comment line */
      first = 0;
      size_t col = i + 1, t = 0;
      int quoted = s[i] == '"';
      if (quoted) {
        i++;
        for (;;) {
          if (i >= n) {
            fail(err, errlen, "%s:%zu:%zu: unterminated quoted token", p.name, line, col);
            rc = -1;
            break;
          }
          char c = s[i++];
          if (c == '"')
            break;
          if (c == '\\' && i < n) {
            c = s[i++];
            c = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
          }
          tok[t++] = c;
        }
        if (rc)
          break;
      } else {
        while (i < n && !is_space(s[i]))
          tok[t++] = s[i++];
      }
      tok[t] = '\0';
      int was_macdef = !quoted && p.st != VALUE && p.st != MACHINE &&
                       strcasecmp(tok, "macdef") == 0;
      if (feed(&p, tok, quoted, line, col) < 0) {
        fail(err, errlen, "%s: out of memory", p.name);
        rc = -1;
      }
      if (was_macdef) {
        macdef = 1;
        break; /* the rest of the line names the macro */
      }
    }
  }
  wipe_free(tok, len + 1); /* it held every token, the password's too */
  if (rc == 0 && (p.st == VALUE || p.st == MACHINE)) {
    fail(err, errlen, "%s:%zu:%zu: '%s' without a value", p.name, p.kline, p.kcol, p.keyword);
    rc = -1;
  }
  if (rc == 0 && p.found) {
    *login = p.login ? p.login : strdup("");
    *password = p.password ? p.password : strdup("");
    if (!*login || !*password) {
      free(*login), free(*password);
      *login = *password = NULL;
      fail(err, errlen, "%s: out of memory", p.name);
      return -1;
    }
    return 1;
  }
  free(p.login);
  if (p.password)
    wipe_free(p.password, strlen(p.password));
  return rc;
}

int pfh_netrc_read(const char *path, char **text, size_t *len, mode_t *mode, char *err,
                   size_t errlen) {
  *text = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return 1;
    fail(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    fail(err, errlen, "%s: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  if (mode)
    *mode = st.st_mode;
  size_t cap = 0;
  char *buf = NULL;
  for (;;) {
    if (*len + 4096 + 1 > cap) {
      size_t nc = cap ? cap * 2 : 8192;
      char *b = malloc(nc); /* not realloc: the block it leaves is wiped */
      if (!b) {
        wipe_free(buf, *len);
        close(fd);
        fail(err, errlen, "%s: out of memory", path);
        return -1;
      }
      if (buf)
        memcpy(b, buf, *len);
      wipe_free(buf, *len);
      buf = b;
      cap = nc;
    }
    ssize_t r = read(fd, buf + *len, cap - *len - 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int e = errno;
      wipe_free(buf, *len);
      close(fd);
      fail(err, errlen, "%s: %s", path, strerror(e));
      return -1;
    }
    if (r == 0)
      break;
    *len += (size_t)r;
    if (*len > NETRC_MAX) {
      wipe_free(buf, *len);
      close(fd);
      *len = 0;
      fail(err, errlen, "%s: larger than %d bytes: not a netrc file", path, NETRC_MAX);
      return -1;
    }
  }
  close(fd);
  buf[*len] = '\0';
  *text = buf;
  return 0;
}

int pfh_url_host(const char *url, char *host, size_t cap, int *userinfo) {
  *userinfo = 0;
  const char *a = strstr(url, "://");
  if (!a)
    return -1;
  a += 3;
  size_t alen = strcspn(a, "/?#");
  const char *at = NULL;
  for (size_t i = 0; i < alen; i++)
    if (a[i] == '@')
      at = a + i; /* the last one */
  if (at) {
    *userinfo = 1;
    alen -= (size_t)(at + 1 - a);
    a = at + 1;
  }
  const char *h = a;
  size_t hl;
  if (alen > 0 && a[0] == '[') {
    const char *close = memchr(a, ']', alen);
    if (!close)
      return -1;
    h = a + 1;
    hl = (size_t)(close - h);
  } else {
    const char *colon = memchr(a, ':', alen);
    hl = colon ? (size_t)(colon - a) : alen;
  }
  if (hl == 0 || hl >= cap)
    return -1;
  memcpy(host, h, hl);
  host[hl] = '\0';
  return 0;
}

char *pfh_basic_auth(const char *user, const char *password) {
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static const char head[] = "Authorization: Basic ";
  size_t ul = strlen(user), pl = password ? strlen(password) : 0, n = ul + 1 + pl;
  unsigned char *plain = malloc(n);
  char *line = malloc(sizeof head + 4 * ((n + 2) / 3));
  if (!plain || !line) {
    free(plain), free(line);
    return NULL;
  }
  memcpy(plain, user, ul);
  plain[ul] = ':';
  if (pl)
    memcpy(plain + ul + 1, password, pl);
  memcpy(line, head, sizeof head - 1);
  char *o = line + sizeof head - 1;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)plain[i] << 16;
    if (i + 1 < n)
      v |= (unsigned)plain[i + 1] << 8;
    if (i + 2 < n)
      v |= plain[i + 2];
    *o++ = b64[(v >> 18) & 63];
    *o++ = b64[(v >> 12) & 63];
    *o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
    *o++ = i + 2 < n ? b64[v & 63] : '=';
  }
  *o = '\0';
  explicit_bzero(plain, n);
  free(plain);
  return line;
}
