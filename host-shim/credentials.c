/*
 * credentials.c - -u, --netrc, --netrc-file into one Authorization header
 * (rules in credentials.h; the parsing is netrc.c's). Every copy of a
 * password is wiped before it is freed.
 *
 * Owns: nothing past a call. Threads: the main thread.
 */
#include "credentials.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "netrc.h"
#include "text.h" /* plugin/text.c */

static void put(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(char *buf, size_t len, const char *fmt, ...) {
  if (!len)
    return;
  va_list ap;
  va_start(ap, fmt);
  pf_text_vformat(buf, len, fmt, ap); /* a file name or user shown safely */
  va_end(ap);
}

static void wipe_free(char *s) {
  if (s)
    explicit_bzero(s, strlen(s));
  free(s);
}

/* -u USER with no password: ask on the terminal, without echo. The prompt
 * comes after echo is off: input typed ahead was echoed, so it is dropped
 * (TCSAFLUSH); what is typed after the prompt is kept. */
static int ask_password(const char *user, char **out, char *err, size_t errlen) {
  struct termios old, quiet;
  if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO) || tcgetattr(STDIN_FILENO, &old) != 0) {
    put(err, errlen,
        "-u %s has no password and there is no terminal to ask for it: use -u USER:PASSWORD "
        "or --netrc-file",
        user);
    return PFH_CRED_USAGE;
  }
  char shown[1024];
  pf_text_clean(shown, sizeof shown, user, strlen(user));
  quiet = old;
  quiet.c_lflag &= ~(tcflag_t)ECHO;
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  fprintf(stderr, "Enter host password for user '%s':", shown);
  fflush(stderr);
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline(&line, &cap, stdin);
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
  fputc('\n', stderr);
  if (n < 0) {
    free(line);
    put(err, errlen, "-u %s: no password read from the terminal", user);
    return PFH_CRED_USAGE;
  }
  line[strcspn(line, "\r\n")] = '\0';
  *out = line;
  return PFH_CRED_OK;
}

static int from_user(const char *spec, char **auth, char *err, size_t errlen) {
  const char *colon = strchr(spec, ':');
  char *user = strndup(spec, colon ? (size_t)(colon - spec) : strlen(spec));
  char *asked = NULL;
  if (!user)
    return PFH_CRED_NOMEM;
  if (!colon) {
    int rc = ask_password(user, &asked, err, errlen);
    if (rc != PFH_CRED_OK) {
      free(user);
      return rc;
    }
  }
  *auth = pfh_basic_auth(user, colon ? colon + 1 : asked);
  wipe_free(asked);
  free(user);
  return *auth ? PFH_CRED_OK : PFH_CRED_NOMEM;
}

static int from_netrc(const char *netrc_file, const char *url, char **auth, char *warn,
                      size_t warnlen, char *err, size_t errlen) {
  char path[4096];
  const char *file = netrc_file;
  if (!file) {
    const char *home = getenv("HOME");
    struct passwd *pw;
    if ((!home || !*home) && (pw = getpwuid(geteuid())))
      home = pw->pw_dir; /* curl's fallback */
    if (!home || !*home)
      return PFH_CRED_OK; /* no home, no ~/.netrc */
    snprintf(path, sizeof path, "%s/.netrc", home);
    file = path;
  }
  char *text;
  size_t len;
  mode_t mode = 0;
  char e[1024];
  int r = pfh_netrc_read(file, &text, &len, &mode, e, sizeof e);
  if (r == 1 && !netrc_file)
    return PFH_CRED_OK; /* --netrc: ~/.netrc is optional */
  if (r == 1) {
    put(err, errlen, "--netrc-file %s: %s", file, strerror(ENOENT));
    return PFH_CRED_ERROR;
  }
  if (r < 0) {
    put(err, errlen, "netrc: %s", e);
    return PFH_CRED_ERROR;
  }
  if (mode & (S_IRGRP | S_IROTH))
    put(warn, warnlen, "warning: %s is readable by others (chmod 600 it): using it anyway", file);
  char host[1024];
  int userinfo;
  char *login = NULL, *password = NULL;
  int found = 0;
  if (pfh_url_host(url, host, sizeof host, &userinfo) == 0 && !userinfo)
    found = pfh_netrc_find(text, len, file, host, &login, &password, e, sizeof e);
  explicit_bzero(text, len);
  free(text);
  if (found < 0) {
    put(err, errlen, "netrc: %s", e);
    return PFH_CRED_ERROR;
  }
  if (!found)
    return PFH_CRED_OK;
  *auth = pfh_basic_auth(login, password);
  free(login);
  wipe_free(password);
  return *auth ? PFH_CRED_OK : PFH_CRED_NOMEM;
}

int pfh_credentials(const char *user, int netrc, const char *netrc_file, const char *url,
                    char **auth, char *warn, size_t warnlen, char *err, size_t errlen) {
  *auth = NULL;
  if (warnlen)
    warn[0] = '\0';
  if (errlen)
    err[0] = '\0';
  if (user)
    return from_user(user, auth, err, errlen);
  if (netrc || netrc_file)
    return from_netrc(netrc_file, url, auth, warn, warnlen, err, errlen);
  return PFH_CRED_OK;
}
