/*
 * apt_msg.h - the message framing of apt's acquire-method protocol (apt 2.6,
 * apt-pkg/contrib/strutl.cc ReadMessages / LookupTag / QuoteString /
 * DeQuoteString, apt-pkg/acquire-method.cc SendMessage): a reader that turns
 * bytes from apt (stdin) into messages, a builder for the messages a method
 * writes, and apt's %-quoting.
 *
 * Framing (what the reader accepts):
 *   - a message is lines up to a blank line ("" or "\r"); blank lines before a
 *     message are skipped; "\r\n" line ends are tolerated;
 *   - line 1 is "NNN Text": exactly three digits, then end of line or a space
 *     and the text (trailing white space dropped);
 *   - then "Name: Value" lines, split at the first ':'; the value skips white
 *     space after the ':' and loses trailing white space, as LookupTag does;
 *   - a line starting with a space continues the value before it (apt's
 *     multi-line values), as LookupTag reads it: its first space dropped, its
 *     end trimmed (never its first byte), joined with "\n" - except after an
 *     empty first line, where it is the first line; a continuation line "."
 *     adds only the "\n";
 *   - malformed: no "NNN" line, a field line without ':' or with an empty name,
 *     a continuation line before any field, a NUL byte, a message over the
 *     reader's size limit. A malformed message is dropped whole; the reader
 *     goes on after the next blank line.
 *   Deviation from LookupTag, on purpose: apt glues a field with an empty
 *   first line to the next line even when that line is another field; here
 *   each "Name:" line is a field of its own (apt never sends an empty value:
 *   SendMessage skips them).
 *
 * Writing: "NNN Text\n", "Name: Value\n"..., "\n". Server-supplied text must
 * never add a field or end a message, so in the text and in values "\r",
 * "\n" and every other control byte but TAB become spaces (apt's own
 * SendMessage aborts on control bytes other than "\n" and TAB, and writes
 * "\n" as a continuation line; one line is what our method needs). In names
 * control bytes and ':' become '-', as does a leading space.
 *
 * Threads: none of its own; a reader or builder is used by one thread at a
 * time. No globals.
 */
#ifndef PFH_APT_MSG_H
#define PFH_APT_MSG_H

#include <stddef.h>

#include "errfmt.h"

struct apt_field {
  char *name;
  char *value;
};

struct apt_msg {
  int code;   /* 0..999 */
  char *text; /* "URI Acquire"; "" when the line had none */
  struct apt_field *fields;
  size_t nfields;
};

/* The value of the first field called name (ASCII case-insensitive, as
 * LookupTag), or NULL. Borrowed from m. */
const char *apt_msg_get(const struct apt_msg *m, const char *name);

/* Frees what m holds and zeroes *m; m itself is the caller's. NULL-safe. */
void apt_msg_free(struct apt_msg *m);

/* Reader: accumulates bytes, yields messages. */
struct apt_reader;

/* max_msg: a message (its lines, without the blank line ending it) of more
 * bytes is malformed. NULL on OOM. */
struct apt_reader *apt_reader_new(size_t max_msg);

/* Append bytes. 0, or -1 out of memory (nothing appended). Bytes of a message
 * that is being dropped as over-long are not kept beyond the next call to
 * apt_reader_next(). */
int apt_reader_feed(struct apt_reader *r, const char *buf, size_t len);

/* 1: *out filled (caller frees with apt_msg_free); 0: need more bytes;
 * -1: a malformed message, err says what ("line 1: expected 'NNN text'",
 * "line 3: field without ':'", "message over 65536 bytes"); it is dropped and
 * the next call goes on with what follows it (an over-long message is
 * reported as soon as it is over the limit and skipped up to its blank line).
 * -2: out of memory (the reader is still usable; nothing consumed).
 * Call until it returns 0 after each feed. */
int apt_reader_next(struct apt_reader *r, struct apt_msg *out, char *err, size_t errlen);

/* At end of input: 1 if a message had begun but not ended (err says how many
 * bytes were pending; apt's ReadMessages also drops it), else 0. */
int apt_reader_eof(struct apt_reader *r, char *err, size_t errlen);

void apt_reader_free(struct apt_reader *r); /* NULL-safe */

/* Builder of one outgoing message (see "Writing" above). A builder that ran
 * out of memory remembers it; apt_out_finish() then returns NULL. */
struct apt_out;
struct apt_out *apt_out_new(int code, const char *text); /* code 0..999; NULL on OOM */
/* value NULL: the field is skipped; "" is written as "Name: ". */
void apt_out_add(struct apt_out *o, const char *name, const char *value);
void apt_out_addf(struct apt_out *o, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The message as one NUL-terminated string (its length in *len when len is not
 * NULL), malloc'd, or NULL on OOM. Frees o. NULL-safe (returns NULL). */
char *apt_out_finish(struct apt_out *o, size_t *len);

/* apt's DeQuoteString: "%XX" (two hex digits) becomes that byte; any other
 * '%' stays as it is. A "%00" ends the C string there (apt would keep a NUL
 * inside its std::string). malloc'd, NULL on OOM or s NULL. */
char *apt_dequote(const char *s);
/* apt's QuoteString: every byte in bad, '%', a byte <= 0x20 or >= 0x7f becomes
 * "%xx" (lower-case hex, as apt's "%02hhx"). malloc'd, NULL on OOM or s NULL. */
char *apt_quote(const char *s, const char *bad);

/* Helpers the apt_*.c files share (not part of the protocol). */
int apt_casecmp(const char *a, const char *b);               /* ASCII, like strcasecmp */
int apt_ncasecmp(const char *a, const char *b, size_t n);    /* ASCII, like strncasecmp */
/* apt_err: errfmt.h's pfh_set_err (printf to err; NULL-safe) */
#define apt_err pfh_set_err
/* The next line of b[0..n) from *pos (without its '\n'; a last line without
 * '\n' counts): 1 with *line, *len set and *pos moved past it; 0 at the end. */
int apt_next_line(const char *b, size_t n, size_t *pos, const char **line, size_t *len);
/* Room for element n of the array *(T **)pp of *cap elements of size bytes:
 * doubles it when n == *cap. 0, or -1 on OOM (array unchanged). */
int apt_grow(void *pp, size_t *cap, size_t n, size_t size);

#endif /* PFH_APT_MSG_H */
