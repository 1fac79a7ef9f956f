/*
 * credentials.h - the CLI's -u, --netrc and --netrc-file, as one
 * "Authorization: Basic" header for pf_open_args.headers (which the plugin
 * sends to the URL's own host only, never after a redirect to another).
 *
 *   -u USER:PASSWORD  split at the first colon (curl's rule);
 *   -u USER           the password asked for on the terminal, without echo,
 *                     when stdin and stderr are terminals; else a usage error;
 *   --netrc           $HOME/.netrc (HOME unset: the user's home directory
 *                     from the password database) if it exists, as curl;
 *   --netrc-file F    F, which must exist; read as netrc.c reads it;
 *   -u wins over both; a URL with its own userinfo is not looked up; a file
 *   readable by its group or others is used, with a warning.
 *
 * Threads: the main thread, before any download (it may block on the
 * terminal). Reads the environment (HOME), the file, the terminal.
 */
#ifndef PFH_CREDENTIALS_H
#define PFH_CREDENTIALS_H

#include <stddef.h>

enum {
  PFH_CRED_OK = 0,
  PFH_CRED_USAGE = 1, /* err: a usage error (-u USER without a terminal) */
  PFH_CRED_ERROR = 2, /* err: the netrc file is missing, unreadable or malformed */
  PFH_CRED_NOMEM = 3
};

/* *auth: the header (malloc'd; wipe it before freeing) or NULL for none.
 * warn: "" or a warning to show. */
int pfh_credentials(const char *user, int netrc, const char *netrc_file, const char *url,
                    char **auth, char *warn, size_t warnlen, char *err, size_t errlen);

#endif /* PFH_CREDENTIALS_H */
