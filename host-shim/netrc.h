/*
 * netrc.h - credentials for the CLI's --netrc / --netrc-file and -u: a
 * .netrc file read as curl 7.88 reads it (lib/netrc.c), the URL's host to
 * look up, and the "Authorization: Basic" header both end in. The apt
 * method uses the header and the file reader too (its auth.conf is apt's
 * own netrc dialect: host-shim/apt/apt_netrc.c).
 *
 * curl's rules, kept here:
 *   - tokens are split at spaces, TABs and newlines; a token that starts
 *     with '"' runs to the next unescaped '"' on the same line, with \" \\
 *     \n \r \t escapes (a backslash before anything else drops out);
 *   - a line whose first token starts with '#' is a comment;
 *   - keywords (case-insensitive): "machine NAME" starts an entry for host
 *     NAME (compared case-insensitively, no port: an entry serves every port
 *     of its host); "default" starts an entry for any host; "login X",
 *     "password X" (and "account X", ignored) inside an entry; "macdef NAME"
 *     skips the lines after it up to an empty line. Other tokens are
 *     ignored;
 *   - the first entry that matches wins (so a "default" counts only when no
 *     machine entry before it matched); it ends at the next machine, default
 *     or macdef.
 *
 * Threads: none; the caller's thread. No globals. Pure but for
 * pfh_netrc_read.
 */
#ifndef PFH_NETRC_H
#define PFH_NETRC_H

#include <stddef.h>
#include <sys/types.h>

/* Credentials for host in text[0, len) (name for messages): 1 found
 * (*login and *password malloc'd; "" for one the entry lacks), 0 none, -1
 * with err: a syntax error ("NAME:LINE:COL: unterminated quoted token",
 * "NAME:LINE:COL: 'password' without a value") or out of memory. */
int pfh_netrc_find(const char *text, size_t len, const char *name, const char *host, char **login,
                   char **password, char *err, size_t errlen);

/* The whole file at path: 0 (*text malloc'd and NUL-terminated, *len its
 * length, *mode its st_mode), 1 it does not exist, -1 with err ("PATH:
 * Permission denied"; "PATH: larger than 1048576 bytes: ..."). */
int pfh_netrc_read(const char *path, char **text, size_t *len, mode_t *mode, char *err,
                   size_t errlen);

/* The host of url (scheme://[userinfo@]host[:port]/...; an IPv6 literal
 * without its brackets) into host[0, cap): 0, or -1 when url has no
 * authority or the host does not fit. *userinfo: 1 when the URL carries a
 * userinfo of its own (then it is what authenticates). */
int pfh_url_host(const char *url, char *host, size_t cap, int *userinfo);

/* "Authorization: Basic BASE64(user:password)", malloc'd; NULL on out of
 * memory. The plain text is wiped before it is freed. */
char *pfh_basic_auth(const char *user, const char *password);

#endif /* PFH_NETRC_H */
