/*
 * errfmt.h - the one way host code writes a message into a caller's
 * buffer: printf-style, NULL- and zero-length-safe. Header-only, so that
 * loader.c stays a file any host can copy or compile on its own.
 */
#ifndef PFH_ERRFMT_H
#define PFH_ERRFMT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline void pfh_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void pfh_set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

#endif /* PFH_ERRFMT_H */
