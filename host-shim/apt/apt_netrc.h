/*
 * apt_netrc.h - auth.conf (netrc syntax) as apt 2.6 reads it
 * (apt-pkg/contrib/netrc.cc MaybeAddAuth, methods/aptmethod.h
 * aptAuthConfMethod, apt-pkg/contrib/fileutl.cc GetListOfFilesInDir).
 *
 * apt's rules, kept here:
 *   - a file is lines (trailing "\r" and "\n" dropped) of tokens split at
 *     spaces and TABs; no quoting;
 *   - tokens are read with a state machine per request: "machine NAME" starts
 *     an entry; in an entry that matches, "login X" and "password X" set the
 *     credentials (a later one replaces an earlier one); the next "machine"
 *     ends the match, so the first matching entry of a file wins; in an entry
 *     that does not match, every token but "machine" is skipped;
 *   - apt 2.6 knows no "default" and no "macdef": they are tokens like any
 *     other (a "default" after a matching entry lets its login/password
 *     replace that entry's; a macdef body is read as tokens). The parser
 *     warns about both;
 *   - NAME matches a request scheme://host[:port]/path (lookfor =
 *     "host[:port]/path") when, after an optional "scheme://" that must be the
 *     request's (else the entry is skipped):
 *       without '/': NAME is the host and the request has a port, or NAME is
 *       exactly "host[:port]" of the request ("host" matches every port,
 *       "host:8443" only 8443);
 *       with '/': lookfor starts with NAME (a string prefix: "host/debian"
 *       also matches "host/debian-security/...", and not "host:8443/debian");
 *   - NAME without a scheme applies to https (and tor+https) requests only
 *     (apt warns and skips it for others: "Annotate with http:// to use");
 *   - files: Dir::Etc::netrc, then Dir::Etc::netrcparts/ entries, each
 *     read in turn until one gave a login or a password; a matching entry
 *     without either lets the next file try;
 *   - a request whose URI carries user or password keeps those (MaybeAddAuthTo
 *     returns at once): apt_netrc_find() then finds nothing.
 *
 * Threads: none; the caller's thread. No globals.
 */
#ifndef PFH_APT_NETRC_H
#define PFH_APT_NETRC_H

#include <stddef.h>

struct apt_netrc;

struct apt_netrc *apt_netrc_new(void);    /* NULL on OOM */
void apt_netrc_free(struct apt_netrc *n); /* NULL-safe */

/* Add one file's text (name for messages). apt uses a file whatever its
 * syntax, so the file is kept in every case but OOM. Returns 0 when clean;
 * -1 with err on the first thing apt would get wrong or silently ignore
 * ("auth.conf:3: 'password' without a value", "'default' is not supported
 * by apt 2.6", "'login' before any 'machine'") or OOM ("out of memory",
 * file not kept). A method should warn (104) and go on, as apt does. */
int apt_netrc_parse(struct apt_netrc *n, const char *text, size_t len, const char *name, char *err,
                    size_t errlen);

/* file (Dir::Etc::netrc; NULL or "" skips it), then the files of partsdir
 * (Dir::Etc::netrcparts; NULL or "" skips it) as GetListOfFilesInDir(dir,
 * "conf", sort, allow no extension) lists them: names not starting with '.',
 * regular files (symlinks followed), extension "conf" or none at all, made of
 * ASCII letters, digits, '_', '-', ':' and '.', not ending in '.', in strcmp
 * order. A missing file or directory is not an error. Every file that can be
 * read is kept; returns 0, or -1 with err for the first that could not be
 * read ("/etc/apt/auth.conf: Permission denied") or had a syntax problem (as
 * apt_netrc_parse). apt itself ignores files it cannot open. */
int apt_netrc_load(struct apt_netrc *n, const char *file, const char *partsdir, char *err,
                   size_t errlen);

/* Credentials for uri (scheme://[user[:pass]@]host[:port]/path): 1 found
 * (*login and *password borrowed from n; either may be "" when the entry
 * had none), 0 none (also when the URI has its own userinfo or does not
 * split). */
int apt_netrc_find(const struct apt_netrc *n, const char *uri, const char **login,
                   const char **password);

#endif /* PFH_APT_NETRC_H */
