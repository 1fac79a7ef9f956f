/*
 * apt_conf.c - apt's configuration tree as a method receives it in 601
 * (rules in apt_conf.h; the tree and its lookups follow
 * apt-pkg/contrib/configuration.cc).
 *
 * Owns: the tree of items and every tag and value in it.
 * Threads: none; the caller's thread. No globals.
 */
#include "apt_conf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct item {
  char *tag;   /* "" for a list item */
  char *value; /* never NULL; "" when unset */
  struct item *parent, *child, *next;
};

struct apt_conf {
  struct item root;
};

struct apt_conf *apt_conf_new(void) {
  struct apt_conf *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->root.tag = calloc(1, 1);
  c->root.value = calloc(1, 1);
  if (!c->root.tag || !c->root.value) {
    free(c->root.tag);
    free(c->root.value);
    free(c);
    return NULL;
  }
  return c;
}

/* Free every item below it, without recursion (a 601 key can nest deep). */
static void free_children(struct item *it) {
  struct item *list = it->child;
  it->child = NULL;
  while (list) {
    struct item *i = list;
    if (i->child) { /* splice its children in front of its siblings */
      struct item *last = i->child;
      while (last->next)
        last = last->next;
      last->next = i->next;
      list = i->child;
    } else {
      list = i->next;
    }
    free(i->tag);
    free(i->value);
    free(i);
  }
}

void apt_conf_free(struct apt_conf *c) {
  if (!c)
    return;
  free_children(&c->root);
  free(c->root.tag);
  free(c->root.value);
  free(c);
}

/* Configuration::Lookup(Head, S, Len, Create): the child tagged S[0..len);
 * len 0 matches nothing and, with create, appends a new list item. */
static struct item *lookup1(struct item *head, const char *s, size_t len, int create) {
  struct item **last = &head->child;
  if (len != 0) {
    for (struct item *i = head->child; i; last = &i->next, i = i->next)
      if (strlen(i->tag) == len && apt_ncasecmp(i->tag, s, len) == 0)
        return i;
  } else {
    while (*last)
      last = &(*last)->next;
  }
  if (!create)
    return NULL;
  struct item *i = calloc(1, sizeof *i);
  if (!i)
    return NULL;
  i->tag = malloc(len + 1);
  i->value = calloc(1, 1);
  if (!i->tag || !i->value) {
    free(i->tag);
    free(i->value);
    free(i);
    return NULL;
  }
  memcpy(i->tag, s, len);
  i->tag[len] = '\0';
  i->parent = head;
  *last = i;
  return i;
}

/* Configuration::Lookup(Name, Create): walk "A::B::C". */
static struct item *lookup(const struct apt_conf *c, const char *name, int create) {
  struct item *it = (struct item *)&c->root;
  const char *start = name, *end = name + strlen(name), *p = name;
  for (; end - p >= 2; p++) {
    if (p[0] == ':' && p[1] == ':') {
      it = lookup1(it, start, (size_t)(p - start), create);
      if (!it)
        return NULL;
      p = start = p + 2; /* and the loop's p++: as apt, no "::" at start is seen */
    }
  }
  if (end == start && !create)
    return NULL;
  return lookup1(it, start, (size_t)(end - start), create);
}

int apt_conf_set(struct apt_conf *c, const char *key, const char *value) {
  struct item *it = lookup(c, key, 1);
  if (!it)
    return -1;
  char *v = strdup(value ? value : "");
  if (!v)
    return -1;
  free(it->value);
  it->value = v;
  return 0;
}

int apt_conf_item(struct apt_conf *c, const char *item, char *err, size_t errlen) {
  /* acquire-method.cc skips the spaces after "Config-Item:"; our reader
   * already did. */
  const char *eq = strchr(item, '=');
  if (!eq) {
    apt_err(err, errlen, "no '=' in '%.80s'", item);
    return -1;
  }
  char *k = malloc((size_t)(eq - item) + 1);
  if (!k) {
    apt_err(err, errlen, "out of memory");
    return -1;
  }
  memcpy(k, item, (size_t)(eq - item));
  k[eq - item] = '\0';
  char *key = apt_dequote(k), *value = apt_dequote(eq + 1);
  free(k);
  int rc = key && value ? apt_conf_set(c, key, value) : -1;
  free(key);
  free(value);
  if (rc < 0)
    apt_err(err, errlen, "out of memory");
  return rc;
}

int apt_conf_from_msg(struct apt_conf *c, const struct apt_msg *m, char *err, size_t errlen) {
  size_t n = 0;
  for (size_t i = 0; i < m->nfields; i++) {
    if (apt_casecmp(m->fields[i].name, "Config-Item") != 0)
      continue;
    n++;
    char e[160];
    if (apt_conf_item(c, m->fields[i].value, e, sizeof e) < 0) {
      apt_err(err, errlen, "Config-Item %zu: %s", n, e);
      return -1;
    }
  }
  return 0;
}

static const char *find(const struct apt_conf *c, const char *key) {
  const struct item *it = lookup(c, key, 0);
  return it && it->value[0] ? it->value : NULL;
}

const char *apt_conf_get(const struct apt_conf *c, const char *key) {
  return c && key ? find(c, key) : NULL;
}

int apt_string_to_bool(const char *s, int dflt) {
  if (!s)
    return dflt;
  char *end;
  long v = strtol(s, &end, 0);
  if (end != s && *end == '\0' && v >= 0 && v <= 1)
    return (int)v;
  static const char *const no[] = {"no", "false", "without", "off", "disable"};
  static const char *const yes[] = {"yes", "true", "with", "on", "enable"};
  for (size_t i = 0; i < 5; i++) {
    if (apt_casecmp(s, no[i]) == 0)
      return 0;
    if (apt_casecmp(s, yes[i]) == 0)
      return 1;
  }
  return dflt;
}

int apt_conf_bool(const struct apt_conf *c, const char *key, int dflt) {
  const char *v = apt_conf_get(c, key);
  return apt_string_to_bool(v, dflt);
}

long long apt_conf_int(const struct apt_conf *c, const char *key, long long dflt) {
  const char *v = apt_conf_get(c, key);
  if (!v)
    return dflt;
  char *end;
  long long n = strtoll(v, &end, 0);
  return end == v ? dflt : n;
}

const char *apt_conf_find1(const struct apt_conf *c, const char *name, const char *host,
                           const char *opt) {
  char *key;
  if (asprintf(&key, "Acquire::%s::%s%s%s", name, host ? host : "", host ? "::" : "", opt) < 0)
    return NULL;
  const char *v = find(c, key);
  free(key);
  return v;
}

const char *apt_conf_find(const struct apt_conf *c, const char *scheme, const char *host,
                          const char *opt) {
  if (!c || !scheme || !opt)
    return NULL;
  if (host && !*host)
    host = NULL;
  /* methodNames reversed: the https binary has {http, https}. */
  const char *names[2] = {scheme, NULL};
  if (strcmp(scheme, "https") == 0)
    names[1] = "http";
  const char *v;
  for (int pass = host ? 0 : 1; pass < 2; pass++)
    for (int i = 0; i < 2 && names[i]; i++)
      if ((v = apt_conf_find1(c, names[i], pass == 0 ? host : NULL, opt)))
        return v;
  return NULL;
}

size_t apt_conf_list(const struct apt_conf *c, const char *base, const char ***out) {
  *out = NULL;
  const struct item *top = c && base ? lookup(c, base, 0) : NULL;
  if (!top)
    return 0;
  size_t n = 0, bytes = 0;
  if (top->value[0]) {
    n = 1;
    for (const char *p = top->value; *p; p++)
      n += *p == ',';
    bytes = strlen(top->value) + 1;
  } else {
    for (const struct item *i = top->child; i; i = i->next) {
      n++;
      bytes += strlen(i->value) + 1;
    }
  }
  if (n == 0)
    return 0;
  if (n > (SIZE_MAX - bytes) / sizeof(char *))
    return (size_t)-1;
  const char **arr = malloc(n * sizeof *arr + bytes);
  if (!arr)
    return (size_t)-1;
  char *s = (char *)(arr + n);
  if (top->value[0]) { /* VectorizeString(value, ','): empty pieces kept */
    memcpy(s, top->value, bytes);
    size_t k = 0;
    arr[k++] = s;
    for (char *p = s; *p; p++)
      if (*p == ',') {
        *p = '\0';
        arr[k++] = p + 1;
      }
  } else {
    size_t k = 0;
    for (const struct item *i = top->child; i; i = i->next) {
      size_t l = strlen(i->value) + 1;
      memcpy(s, i->value, l);
      arr[k++] = s;
      s += l;
    }
  }
  *out = arr;
  return n;
}

/* flNormalize: "/./" -> "/", "//" -> "/", anything after "/dev/null" cut. */
static void normalize(char *f) {
  char *p;
  while ((p = strstr(f, "/./")))
    memmove(p, p + 2, strlen(p + 2) + 1);
  while ((p = strstr(f, "//")))
    memmove(p, p + 1, strlen(p + 1) + 1);
  if (strncmp(f, "/dev/null", 9) == 0)
    f[9] = '\0';
}

/* Prepend pre (n bytes) to *s. -1 OOM. */
static int prepend(char **s, const char *pre, size_t n) {
  size_t l = strlen(*s);
  char *r = malloc(n + l + 1);
  if (!r)
    return -1;
  memcpy(r, pre, n);
  memcpy(r + n, *s, l + 1);
  free(*s);
  *s = r;
  return 0;
}

char *apt_conf_file(const struct apt_conf *c, const char *key, const char *dflt) {
  const struct item *root = lookup(c, "RootDir", 0);
  const struct item *it = lookup(c, key, 0);
  char *val;
  if (!it || !it->value[0]) {
    val = strdup(dflt ? dflt : "");
  } else {
    val = strdup(it->value);
    while (val && it->parent && it->parent != &c->root) {
      const struct item *par = it->parent;
      if (!par->value[0]) {
        it = par;
        continue;
      }
      if (val[0] == '/') {
        if (strncmp(val, "/dev/null", 9) == 0)
          val[9] = '\0';
        break;
      }
      if ((val[0] == '~' || val[0] == '.') && val[1] == '/')
        break;
      if (strncmp(val, "../", 3) == 0)
        break;
      size_t pl = strlen(par->value);
      if (par->value[pl - 1] != '/' && prepend(&val, "/", 1) < 0) {
        free(val);
        return NULL;
      }
      if (prepend(&val, par->value, pl) < 0) {
        free(val);
        return NULL;
      }
      it = par;
    }
  }
  if (!val)
    return NULL;
  if (root && root->value[0]) {
    size_t rl = strlen(root->value);
    int slash = root->value[rl - 1] != '/';
    if ((slash && prepend(&val, "/", 1) < 0) || prepend(&val, root->value, rl) < 0) {
      free(val);
      return NULL;
    }
  }
  normalize(val);
  return val;
}

char *apt_conf_dir(const struct apt_conf *c, const char *key, const char *dflt) {
  char *f = apt_conf_file(c, key, dflt);
  if (!f || !f[0])
    return f;
  size_t n = strlen(f);
  if (f[n - 1] == '/' || (n >= 9 && strcmp(f + n - 9, "/dev/null") == 0))
    return f;
  char *d = realloc(f, n + 2);
  if (!d) {
    free(f);
    return NULL;
  }
  d[n] = '/';
  d[n + 1] = '\0';
  return d;
}

/* Item::FullTag(stop): the tags from just below stop down to it, joined
 * by "::". */
static char *full_tag(const struct item *it, const struct item *stop) {
  size_t n = 0;
  for (const struct item *i = it; i != stop; i = i->parent)
    n += strlen(i->tag) + (i->parent != stop ? 2 : 0);
  char *s = malloc(n + 1);
  if (!s)
    return NULL;
  size_t pos = n;
  s[n] = '\0';
  for (const struct item *i = it; i != stop; i = i->parent) {
    size_t l = strlen(i->tag);
    pos -= l;
    memcpy(s + pos, i->tag, l);
    if (i->parent != stop) {
      pos -= 2;
      memcpy(s + pos, "::", 2);
    }
  }
  return s;
}

static struct item *first_leaf(struct item *i) {
  while (i->child)
    i = i->child;
  return i;
}

int apt_conf_move_subtree(struct apt_conf *c, const char *from, const char *to) {
  if (!from)
    return 0;
  if (to) { /* as apt: not onto itself, not into itself */
    size_t fl = strlen(from);
    if (apt_casecmp(from, to) == 0 ||
        (apt_ncasecmp(to, from, fl) == 0 && to[fl] == ':' && to[fl + 1] == ':'))
      return 0;
  }
  struct item *old = lookup(c, from, 0);
  if (!old)
    return 0;
  /* Detach the subtree, then Set every item of it again under `to`, in
   * apt's order (post-order: children before their parent). */
  struct item holder = {.child = old->child};
  for (struct item *ch = holder.child; ch; ch = ch->next)
    ch->parent = &holder;
  old->child = NULL;
  old->value[0] = '\0';
  int rc = 0;
  for (struct item *i = holder.child ? first_leaf(holder.child) : NULL;
       i && i != &holder && rc == 0; i = i->next ? first_leaf(i->next) : i->parent) {
    char *tag = full_tag(i, &holder), *key = NULL;
    if (tag && asprintf(&key, "%s%s%s", to ? to : "", to ? "::" : "", tag) < 0)
      key = NULL;
    if (!key || apt_conf_set(c, key, i->value) < 0)
      rc = -1;
    free(tag);
    free(key);
  }
  free_children(&holder);
  return rc;
}
