/*
 * inputfile.h - the list of objects for `parfetch -i FILE` (aria2c's "Input
 * File" format, the subset below), the checksum spelling, and the rule for
 * output names that come from untrusted text. Pure functions: no I/O, no
 * globals; any thread.
 *
 * Format, one object at a time:
 *   - a line that does not start with a space or TAB holds the object's URL;
 *     more URLs on the same line, separated by TABs, are mirrors of it;
 *   - the lines after it that start with spaces or TABs are its options,
 *     one NAME=VALUE a line:
 *       out=NAME              output name (relative; '/' allowed, no '..')
 *       dir=DIR               directory for the output (same rule)
 *       checksum=ALGO=HEX     ALGO sha-1, sha-256, sha-512, md5 (aria2c's
 *                             spellings) or sha1, sha256, sha512
 *   - blank lines and lines whose first non-blank character is '#' are
 *     skipped; a trailing CR (CRLF files) and trailing blanks are ignored.
 * Anything else is an error naming NAME:LINE:COLUMN and what was expected.
 */
#ifndef PFH_INPUTFILE_H
#define PFH_INPUTFILE_H

#include <stddef.h>

typedef struct pfh_input_item {
  char **urls;    /* urls[0] the object, urls[1..] mirrors; NULL-terminated */
  size_t nurls;   /* >= 1 */
  char *out;      /* out=, or NULL */
  char *dir;      /* dir=, or NULL */
  char *checksum; /* checksum= in our spelling ("sha256=HEX"), or NULL */
  unsigned line;  /* the line of the URL(s), 1-based */
} pfh_input_item;

typedef struct pfh_input {
  pfh_input_item *items;
  size_t count;
} pfh_input;

/* Parse len bytes of text (NUL bytes included: they are an error) named
 * name in messages. 0 and *in filled (free with pfh_input_free), or -1 with
 * err set to "name:LINE:COLUMN: what was wrong; what was expected" (or "out
 * of memory") and *in empty. */
int pfh_input_parse(const char *text, size_t len, const char *name, pfh_input *in, char *err,
                    size_t errlen);

void pfh_input_free(pfh_input *in);

/* Check ALGO=HEX as --checksum and checksum= take it: a known algorithm
 * (md5, sha1, sha256, sha512, or aria2c's sha-1, sha-256, sha-512) needs its
 * digest length; an unknown one is passed on when allow_unknown (a newer
 * plugin may know it), else refused. On success returns a malloc'd copy in
 * our spelling ("sha-256=ab.." -> "sha256=ab.."); NULL with why set
 * otherwise (*at = the offset in spec the complaint is about). */
char *pfh_checksum_normalise(const char *spec, int allow_unknown, char *why, size_t whylen,
                             size_t *at);

/* An output name or directory taken from untrusted text: 0 if it is a
 * relative path with no empty, "." or ".." component problem (no component
 * equal to ".."; not "" or "."; not absolute) and no control character;
 * else -1 with why set. */
int pfh_check_relative_path(const char *path, char *why, size_t whylen);

#endif /* PFH_INPUTFILE_H */
