/*
 * apt_conf.h - the configuration apt sends in "601 Configuration", kept and
 * looked up the way apt's Configuration class does (apt 2.6,
 * apt-pkg/contrib/configuration.cc; the lookups of methods/aptmethod.h).
 *
 * What 601 carries (acquire-worker.cc SendConfiguration, Configuration::Dump
 * with "Config-Item: %F=%V"): one "Config-Item: Key=Value" per item of apt's
 * tree that has a non-empty value, in tree order, key and value %-quoted
 * (QuoteString with "=\"\n"). A list item has an empty tag, so its key ends
 * in "::": a list "A::B { "x"; "y"; }" arrives as "A::B::=x", "A::B::=y",
 * and Set() of a key ending in "::" appends a new list item. Named children
 * ("A::B::0=x") are children too. The tree is the model here as in apt:
 * tags compare ASCII case-insensitively, a later Set of the same key
 * overrides, children keep the order they were first set in.
 *
 * Threads: none; one thread at a time. No globals.
 */
#ifndef PFH_APT_CONF_H
#define PFH_APT_CONF_H

#include <stddef.h>

#include "apt_msg.h"

struct apt_conf;

struct apt_conf *apt_conf_new(void);    /* NULL on OOM */
void apt_conf_free(struct apt_conf *c); /* NULL-safe */

/* Set key to value as Configuration::Set (plain strings, not quoted). 0, -1 OOM. */
int apt_conf_set(struct apt_conf *c, const char *key, const char *value);

/* One Config-Item value "Key=Value", both %-quoted; split at the first '='
 * (as acquire-method.cc). 0; -1 with err when there is no '=' (or OOM). */
int apt_conf_item(struct apt_conf *c, const char *item, char *err, size_t errlen);

/* Every Config-Item field of m, in order. 0, or -1 with err naming the item
 * ("Config-Item 3: no '=' in 'foo'"). apt's pkgAcqMethod::Configuration stops
 * at such an item and the method exits 100; items before it are kept here. */
int apt_conf_from_msg(struct apt_conf *c, const struct apt_msg *m, char *err, size_t errlen);

/* The value of key, as Configuration::Find: NULL when the key is unset or its
 * value is empty (apt treats an empty value as unset). Borrowed. */
const char *apt_conf_get(const struct apt_conf *c, const char *key);

/* Configuration::FindB / StringToBool: a value that is all of an integer
 * 0 or 1 (strtol base 0, so "0x1" too), or no/false/without/off/disable,
 * yes/true/with/on/enable (any case); anything else, or unset: dflt. */
int apt_conf_bool(const struct apt_conf *c, const char *key, int dflt);
/* apt's StringToBool on a value: 0 or 1, dflt when s is NULL or neither. */
int apt_string_to_bool(const char *s, int dflt);

/* Configuration::FindI: strtoll base 0 of the value's leading number ("30s"
 * is 30); unset or no number: dflt. */
long long apt_conf_int(const struct apt_conf *c, const char *key, long long dflt);

/* A per-host option as apt's http method looks it up (aptmethod.h
 * ConfigFind after setPostfixForMethodNames(host)): for scheme "http"
 *   Acquire::http::<host>::<opt>, Acquire::http::<opt>;
 * for "https" (the http binary under the name https has names {http, https})
 *   Acquire::https::<host>::<opt>, Acquire::http::<host>::<opt>,
 *   Acquire::https::<opt>, Acquire::http::<opt>
 * - every host-specific key before any general one, so an http host setting
 * beats a general https one. Any other scheme: its own two keys. host NULL
 * or "": the general keys only. First non-empty value; NULL if none. */
const char *apt_conf_find(const struct apt_conf *c, const char *scheme, const char *host,
                          const char *opt);

/* One of those keys: Acquire::<name>::[<host>::]<opt> (host NULL: none), as
 * apt_conf_get. */
const char *apt_conf_find1(const struct apt_conf *c, const char *name, const char *host,
                           const char *opt);

/* Configuration::FindVector: the values of base's children in order; when
 * base itself has a value, that value split at ','. Returns the count;
 * *out is one malloc'd block holding the pointer array and the strings
 * (free(*out) frees all; valid after c changes), NULL when the count is 0.
 * (size_t)-1 on OOM. */
size_t apt_conf_list(const struct apt_conf *c, const char *base, const char ***out);

/* Configuration::FindFile / FindDir: the value joined to each ancestor's
 * value ("Dir" "/", "Dir::Etc" "etc/apt/", "Dir::Etc::netrc" "auth.conf" ->
 * "/etc/apt/auth.conf") until one is absolute (or "./", "../", "~/"), after
 * RootDir; "//" and "/./" collapsed. Unset or empty: RootDir + dflt (dflt
 * NULL: RootDir alone). FindDir ends the result in '/'. malloc'd, NULL on OOM.
 * apt's own defaults (init.cc) are not known here: apt sends them in 601. */
char *apt_conf_file(const struct apt_conf *c, const char *key, const char *dflt);
char *apt_conf_dir(const struct apt_conf *c, const char *key, const char *dflt);

/* Configuration::MoveSubTree(from, to): every item below `from` is set again
 * below `to` (NULL: the root) and `from` is emptied. apt's methods do
 * MoveSubTree("Binary::<argv0 name>", NULL) after 601, so
 * "Binary::https::Acquire::https::Proxy" applies to the https binary only.
 * 0, -1 OOM. */
int apt_conf_move_subtree(struct apt_conf *c, const char *from, const char *to);

#endif /* PFH_APT_CONF_H */
