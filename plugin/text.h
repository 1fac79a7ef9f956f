/*
 * text.h - the one filter every line the plugin (or its CLI host) shows
 * passes through: control characters escaped, URL passwords redacted. Pure,
 * no allocation, no global state; any thread. See text.c.
 */
#ifndef PF_TEXT_H
#define PF_TEXT_H

#include <stdarg.h>
#include <stddef.h>

/* What a redacted password becomes: "scheme://user:<redacted>@host". */
#define PF_TEXT_REDACTED "<redacted>"

/* The most bytes pf_text_clean writes for `len` input bytes (plus the NUL):
 * each byte becomes at most 4 ("\xNN"); a password shrinks or grows to
 * PF_TEXT_REDACTED. Use it to size `out` for a lossless result. */
#define PF_TEXT_CLEAN_MAX(len) (4 * (len) + sizeof PF_TEXT_REDACTED * ((len) / 4 + 1) + 1)

/*
 * Copy in[0, len) to out as text that is safe to show on a terminal or in a
 * log, and always NUL-terminated (cap >= 1):
 *   - \r \n \t become the two characters "\r" "\n" "\t"; other bytes below
 *     0x20, DEL, C1 controls (U+0080..U+009F) and bytes that are not part
 *     of valid UTF-8 become "\xNN" (one per byte); valid UTF-8 stays; a
 *     NUL byte in the input is escaped too ("\x00");
 *   - the password of every URL userinfo ("scheme://user:secret@host")
 *     becomes PF_TEXT_REDACTED; a user-only userinfo is kept. The
 *     authority after "://" ends at '/', '?', '#', a space or the end. An
 *     authority without '@' that ends the text (a line cut before it was
 *     cleaned) is shown up to its host and port: "http://u:secr" is cut
 *     inside a password, and shows "http://u:<redacted>";
 * Backslashes are not escaped, so cleaning twice gives the same text.
 * When out is too small the text is cut before the first unit (character,
 * escape or the redaction marker) that does not fit; nothing of a password
 * is ever written. Returns the length written (excluding the NUL).
 */
size_t pf_text_clean(char *out, size_t cap, const char *in, size_t len);

/* vsnprintf, then pf_text_clean into out: how a message is made. The
 * formatted text is cut at 4 KiB before it is cleaned. */
size_t pf_text_vformat(char *out, size_t cap, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif /* PF_TEXT_H */
