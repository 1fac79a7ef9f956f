/*
 * apt_netrc.c - auth.conf files as apt 2.6 reads them (rules in
 * apt_netrc.h). Each file is kept as its token list, because apt's state
 * machine reads the same tokens differently depending on which machine
 * matched the request: the match is run per request, as apt does.
 *
 * Owns: the files' names and tokens (wiped before they are freed).
 * Threads: none; the caller's thread. Reads files in apt_netrc_load only.
 */
#include "apt_netrc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apt_msg.h"
#include "apt_proxy.h"
#include "netrc.h"

struct ntok {
  char *s;
  size_t line; /* for messages */
};

struct nfile {
  char *name;
  struct ntok *tok;
  size_t ntok;
};

struct apt_netrc {
  struct nfile *files;
  size_t nfiles;
};

struct apt_netrc *apt_netrc_new(void) {
  return calloc(1, sizeof(struct apt_netrc));
}

static void nfile_free(struct nfile *f) {
  for (size_t i = 0; i < f->ntok; i++) { /* passwords among them */
    explicit_bzero(f->tok[i].s, strlen(f->tok[i].s));
    free(f->tok[i].s);
  }
  free(f->tok);
  free(f->name);
}

void apt_netrc_free(struct apt_netrc *n) {
  if (!n)
    return;
  for (size_t i = 0; i < n->nfiles; i++)
    nfile_free(&n->files[i]);
  free(n->files);
  free(n);
}

static int add_tok(struct nfile *f, size_t *cap, const char *s, size_t len, size_t line) {
  char *p;
  if (apt_grow(&f->tok, cap, f->ntok, sizeof *f->tok) < 0 || !(p = strndup(s, len)))
    return -1;
  f->tok[f->ntok].s = p;
  f->tok[f->ntok].line = line;
  f->ntok++;
  return 0;
}

/* Split text into tokens as MaybeAddAuth reads it: lines, trailing "\r\n"
 * dropped (a NUL ends the line: FileFd::ReadLine uses strlen), tokens between
 * spaces and TABs. */
static int tokenize(struct nfile *f, const char *text, size_t len) {
  size_t cap = 0, lineno = 0, pos = 0;
  const char *s;
  size_t n;
  while (apt_next_line(text, len, &pos, &s, &n)) {
    lineno++;
    const char *z = memchr(s, '\0', n);
    if (z)
      n = (size_t)(z - s);
    while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == '\n'))
      n--;
    size_t i = 0;
    while (i < n) {
      while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
      size_t b = i;
      while (i < n && s[i] != ' ' && s[i] != '\t')
        i++;
      if (i > b && add_tok(f, &cap, s + b, i - b, lineno) < 0)
        return -1;
    }
  }
  return 0;
}

/* Problems apt would not report: run the state machine as if every machine
 * matched. 0 clean, -1 err set. */
static int check(const struct nfile *f, char *err, size_t errlen) {
  enum { NO, MACHINE, GOOD, LOGIN, PASSWORD } st = NO;
  size_t kwline = 0;
  const char *kw = NULL;
  for (size_t i = 0; i < f->ntok; i++) {
    const char *t = f->tok[i].s;
    if (st == NO || st == GOOD) {
      if (strcmp(t, "default") == 0 || strcmp(t, "macdef") == 0) {
        apt_err(err, errlen,
                "%s:%zu: '%s' is not supported by apt 2.6 (read as plain tokens: the login and "
                "password after it would replace those of the machine before it)",
                f->name, f->tok[i].line, t);
        return -1;
      }
      if (st == NO && (strcmp(t, "login") == 0 || strcmp(t, "password") == 0)) {
        apt_err(err, errlen, "%s:%zu: '%s' before any 'machine' (ignored)", f->name, f->tok[i].line,
                t);
        return -1;
      }
    }
    switch (st) {
    case NO:
    case GOOD:
      if (strcmp(t, "machine") == 0)
        st = MACHINE;
      else if (st == GOOD && strcmp(t, "login") == 0)
        st = LOGIN;
      else if (st == GOOD && strcmp(t, "password") == 0)
        st = PASSWORD;
      if (st != NO && st != GOOD) {
        kw = t;
        kwline = f->tok[i].line;
      }
      break;
    case MACHINE:
    case LOGIN:
    case PASSWORD:
      st = GOOD;
      break;
    }
  }
  if (st == MACHINE || st == LOGIN || st == PASSWORD) {
    apt_err(err, errlen, "%s:%zu: '%s' without a value", f->name, kwline, kw);
    return -1;
  }
  return 0;
}

int apt_netrc_parse(struct apt_netrc *n, const char *text, size_t len, const char *name, char *err,
                    size_t errlen) {
  struct nfile f = {0};
  f.name = strdup(name ? name : "auth.conf");
  struct nfile *files = f.name ? realloc(n->files, (n->nfiles + 1) * sizeof *files) : NULL;
  if (!files || tokenize(&f, text, len) < 0) {
    if (files)
      n->files = files;
    nfile_free(&f);
    apt_err(err, errlen, "%s: out of memory", name ? name : "auth.conf");
    return -1;
  }
  n->files = files;
  n->files[n->nfiles++] = f;
  return check(&n->files[n->nfiles - 1], err, errlen);
}

static int load_one(struct apt_netrc *n, const char *path, int *failed, char *err, size_t errlen) {
  char *text;
  size_t len;
  char e[512];
  int rc = pfh_netrc_read(path, &text, &len, NULL, e, sizeof e); /* host-shim/netrc.c */
  if (rc == 0) {
    rc = apt_netrc_parse(n, text ? text : "", len, path, e, sizeof e);
    if (text)
      explicit_bzero(text, len);
    free(text);
  }
  if (rc < 0 && !*failed) {
    *failed = 1;
    apt_err(err, errlen, "%s", e);
  }
  return 0;
}

/* GetListOfFilesInDir(dir, "conf", true, true)'s name rules. */
static int part_name_ok(const char *d) {
  if (d[0] == '.')
    return 0;
  const char *dot = strrchr(d, '.');
  if (dot && strcmp(dot + 1, "conf") != 0)
    return 0;
  for (const char *c = d; *c; c++) {
    int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
             *c == '_' || *c == '-' || *c == ':' || *c == '.';
    if (!ok)
      return 0;
  }
  return d[strlen(d) - 1] != '.';
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int apt_netrc_load(struct apt_netrc *n, const char *file, const char *partsdir, char *err,
                   size_t errlen) {
  int failed = 0;
  if (file && *file)
    load_one(n, file, &failed, err, errlen);
  if (!partsdir || !*partsdir)
    return failed ? -1 : 0;
  DIR *d = opendir(partsdir);
  if (!d) {
    if (errno != ENOENT && !failed) {
      failed = 1;
      apt_err(err, errlen, "%s: %s", partsdir, strerror(errno));
    }
    return failed ? -1 : 0;
  }
  char **paths = NULL;
  size_t np = 0, cap = 0;
  int oom = 0;
  size_t dl = strlen(partsdir);
  int slash = dl > 0 && partsdir[dl - 1] == '/';
  for (struct dirent *e; (e = readdir(d));) {
    if (!part_name_ok(e->d_name))
      continue;
    char *p;
    if (asprintf(&p, "%s%s%s", partsdir, slash ? "" : "/", e->d_name) < 0) {
      oom = 1;
      break;
    }
    struct stat st;
    if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
      free(p);
      continue;
    }
    if (apt_grow(&paths, &cap, np, sizeof *paths) < 0) {
      free(p);
      oom = 1;
      break;
    }
    paths[np++] = p;
  }
  closedir(d);
  if (oom && !failed) {
    failed = 1;
    apt_err(err, errlen, "%s: out of memory", partsdir);
  }
  if (np)
    qsort(paths, np, sizeof *paths, cmp_str);
  for (size_t i = 0; i < np; i++) {
    load_one(n, paths[i], &failed, err, errlen);
    free(paths[i]);
  }
  free(paths);
  return failed ? -1 : 0;
}

static int starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Does machine token t match the request (MaybeAddAuth's MACHINE state)? */
static int machine_matches(const char *t, const struct apt_uri *u, const char *lookfor) {
  int with_scheme = strstr(t, "://") != NULL;
  if (with_scheme) {
    size_t sl = strlen(u->scheme);
    if (strncmp(t, u->scheme, sl) != 0 || strncmp(t + sl, "://", 3) != 0)
      return 0;
    t += sl + 3;
  }
  int good;
  if (!strchr(t, '/')) {
    size_t hl = strlen(lookfor) - strlen(u->path); /* "host[:port]" */
    good = (u->port != 0 && strcmp(u->host, t) == 0) ||
           (strlen(t) == hl && strncmp(lookfor, t, hl) == 0);
  } else {
    good = starts_with(lookfor, t);
  }
  if (good && !with_scheme && strcmp(u->scheme, "https") != 0 &&
      strcmp(u->scheme, "tor+https") != 0)
    good = 0; /* apt: "the protocol is not encrypted. Annotate with http:// to use." */
  return good;
}

/* MaybeAddAuth over one file: login and password updated as apt updates
 * Uri.User/Password. */
static void match_file(const struct nfile *f, const struct apt_uri *u, const char *lookfor,
                       const char **login, const char **password) {
  enum { NO, MACHINE, GOOD, LOGIN, PASSWORD } st = NO;
  for (size_t i = 0; i < f->ntok; i++) {
    const char *t = f->tok[i].s;
    switch (st) {
    case NO:
      if (strcmp(t, "machine") == 0)
        st = MACHINE;
      break;
    case MACHINE:
      st = machine_matches(t, u, lookfor) ? GOOD : NO;
      break;
    case GOOD:
      if (strcmp(t, "login") == 0)
        st = LOGIN;
      else if (strcmp(t, "password") == 0)
        st = PASSWORD;
      else if (strcmp(t, "machine") == 0)
        return;
      break;
    case LOGIN:
      *login = t;
      st = GOOD;
      break;
    case PASSWORD:
      *password = t;
      st = GOOD;
      break;
    }
  }
}

int apt_netrc_find(const struct apt_netrc *n, const char *uri, const char **login,
                   const char **password) {
  *login = *password = NULL;
  struct apt_uri u;
  if (!n || apt_uri_parse(uri, &u) < 0)
    return 0;
  int found = 0;
  if (!(u.user && u.user[0]) && !(u.password && u.password[0])) {
    char *lookfor;
    int ok = u.port ? asprintf(&lookfor, "%s:%d%s", u.host, u.port, u.path)
                    : asprintf(&lookfor, "%s%s", u.host, u.path);
    if (ok >= 0) {
      const char *l = NULL, *p = NULL;
      /* aptAuthConfMethod::MaybeAddAuthTo: each file, until one set a login
       * or a password (MaybeAddAuth returns at once when Uri has one). */
      for (size_t i = 0; i < n->nfiles && !(l && *l) && !(p && *p); i++)
        match_file(&n->files[i], &u, lookfor, &l, &p);
      if ((l && *l) || (p && *p)) {
        *login = l ? l : "";
        *password = p ? p : "";
        found = 1;
      }
      free(lookfor);
    }
  }
  apt_uri_free(&u);
  return found;
}
