/*
 * apt_util.h - the apt method's pure pieces that are not apt's protocol
 * itself: HTTP dates as apt sends them, the answer to a failed download
 * (FailReason, transient or not), the checksum to verify, credentials from a
 * URI and a proxy URL. No I/O, no
 * threads, no globals: any thread.
 */
#ifndef PF_APT_UTIL_H
#define PF_APT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "apt_conf.h"
#include "apt_msg.h"
#include "parfetch.h"

/* An HTTP date (RFC 1123 "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850
 * "Sunday, 06-Nov-94 08:49:37 GMT" or asctime "Sun Nov  6 08:49:37 1994"),
 * as apt's RFC1123StrToTime takes them, to seconds since the epoch; -1 if
 * s is none of them. */
int64_t apt_time_parse(const char *s);

/* How a failed download is told to apt. reason: apt's FailReason (NULL for
 * none), written into buf for HttpError<code>; *transient: 1 if apt should
 * retry it (network errors, 408, 429, 5xx; what apt's own http method calls
 * transient). */
const char *apt_fail_reason(pf_status st, unsigned http_status, unsigned net_error,
                            int *transient, char *buf, size_t cap);

/* The strongest Expected-* hash of a 600 message as the engine's "ALGO=HEX"
 * (SHA512, then SHA256, SHA1, MD5Sum). 1 with out filled, 0 if none, -1 if
 * the strongest one given is not hexadecimal of its length (err says). */
int apt_expected_checksum(const struct apt_msg *m, char *out, size_t cap, char *err,
                          size_t errlen);

/* Split user:password@ off a URI. *stripped: the URI without them (malloc'd);
 * *user and *password: %-decoded, malloc'd, NULL when absent. 0, or -1 on
 * out of memory. */
int apt_uri_userinfo(const char *uri, char **stripped, char **user, char **password);

/* url with user[:password]@ put after its scheme, both %-encoded (but for
 * RFC 3986's unreserved characters): a proxy's credentials from auth.conf,
 * in the form libcurl reads them. malloc'd; NULL on out of memory. */
char *apt_url_with_userinfo(const char *url, const char *user, const char *password);

#endif /* PF_APT_UTIL_H */
