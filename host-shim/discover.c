/*
 * discover.c - config file discovery and the `plugin:` key scan (see
 * discover.h for the order and the rules).
 *
 * Owns: the path lists it returns (the caller frees them). Keeps no state.
 * Threads: the calling thread only; reads the environment.
 */
#include "discover.h"
#include "errfmt.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#ifndef PF_SYSCONFDIR
#define PF_SYSCONFDIR "/etc/parfetch"
#endif

#define set_err pfh_set_err

/* malloc'd "a" "b" "c" (b and c may be ""); NULL on out of memory. */
static char *join3(const char *a, const char *b, const char *c) {
  size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
  char *s = malloc(la + lb + lc + 1);
  if (!s)
    return NULL;
  memcpy(s, a, la);
  memcpy(s + la, b, lb);
  memcpy(s + la + lb, c, lc + 1);
  return s;
}

static const char *env_nonempty(const char *name) {
  const char *v = getenv(name);
  return (v && *v) ? v : NULL;
}

const char *pfh_sysconfdir(void) {
  const char *v = env_nonempty("PARFETCH_SYSCONFDIR");
  return v ? v : PF_SYSCONFDIR;
}

/* 1 if path exists (and is not a directory), 0 if it does not exist,
 * -1 with err set otherwise. */
static int file_exists(const char *path, char *err, size_t errlen) {
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      return 0;
    set_err(err, errlen, "config file %s: %s", path, strerror(errno));
    return -1;
  }
  if (S_ISDIR(st.st_mode)) {
    set_err(err, errlen, "config file %s: %s", path, strerror(EISDIR));
    return -1;
  }
  return 1;
}

/* Append a malloc'd path to files (takes it over, frees it on failure). */
static int push(pfh_config_files *files, char *path, char *err, size_t errlen) {
  if (!path) {
    set_err(err, errlen, "config discovery: out of memory");
    return -1;
  }
  char **grown = realloc(files->paths, (files->count + 1) * sizeof *grown);
  if (!grown) {
    free(path);
    set_err(err, errlen, "config discovery: out of memory");
    return -1;
  }
  files->paths = grown;
  files->paths[files->count++] = path;
  return 0;
}

/* The one main file: 1 found (appended), 0 none, -1 error. */
static int find_main(const char *cli_config, pfh_config_files *out, char *err, size_t errlen) {
  /* Explicit choices must exist: a typo should not silently fall back. */
  const char *explicit_path = cli_config;
  const char *origin = "--config";
  if (!explicit_path) {
    explicit_path = env_nonempty("PARFETCH_CONFIG");
    origin = "$PARFETCH_CONFIG";
  }
  if (explicit_path) {
    int r = file_exists(explicit_path, err, errlen);
    if (r < 0)
      return -1;
    if (r == 0) {
      set_err(err, errlen, "config file %s (from %s): %s", explicit_path, origin, strerror(ENOENT));
      return -1;
    }
    return push(out, strdup(explicit_path), err, errlen) == 0 ? 1 : -1;
  }

  char *user = NULL;
  const char *xdg = env_nonempty("XDG_CONFIG_HOME");
  const char *home = env_nonempty("HOME");
  if (xdg && xdg[0] == '/')
    user = join3(xdg, "/parfetch/config.yaml", "");
  else if (home)
    user = join3(home, "/.config/parfetch/config.yaml", "");
  if ((xdg && xdg[0] == '/') || home) {
    if (!user) {
      set_err(err, errlen, "config discovery: out of memory");
      return -1;
    }
    int r = file_exists(user, err, errlen);
    if (r != 0) {
      if (r < 0) {
        free(user);
        return -1;
      }
      return push(out, user, err, errlen) == 0 ? 1 : -1;
    }
    free(user);
  }

  char *sys = join3(pfh_sysconfdir(), "/config.yaml", "");
  if (!sys) {
    set_err(err, errlen, "config discovery: out of memory");
    return -1;
  }
  int r = file_exists(sys, err, errlen);
  if (r <= 0) {
    free(sys);
    return r;
  }
  return push(out, sys, err, errlen) == 0 ? 1 : -1;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with_yaml(const char *name) {
  size_t n = strlen(name);
  return n > 5 && strcmp(name + n - 5, ".yaml") == 0;
}

/* Append <sysconfdir>/conf.d/ *.yaml in strcmp order. */
static int find_dropins(pfh_config_files *out, char *err, size_t errlen) {
  char *dir = join3(pfh_sysconfdir(), "/conf.d", "");
  if (!dir) {
    set_err(err, errlen, "config discovery: out of memory");
    return -1;
  }
  DIR *d = opendir(dir);
  if (!d) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR) {
      free(dir);
      return 0;
    }
    set_err(err, errlen, "config directory %s: %s", dir, strerror(e));
    free(dir);
    return -1;
  }

  char **names = NULL;
  size_t count = 0;
  int rc = 0;
  for (;;) {
    errno = 0;
    struct dirent *ent = readdir(d);
    if (!ent) {
      if (errno != 0) {
        set_err(err, errlen, "config directory %s: %s", dir, strerror(errno));
        rc = -2;
      }
      break;
    }
    if (ent->d_name[0] == '.' || !ends_with_yaml(ent->d_name))
      continue;
    char *path = join3(dir, "/", ent->d_name);
    if (!path) {
      rc = -1;
      break;
    }
    struct stat st;
    /* Only regular files (or links to them); a stat failure on a listed
     * name is a real problem, not a reason to skip it. */
    if (stat(path, &st) != 0) {
      set_err(err, errlen, "config file %s: %s", path, strerror(errno));
      free(path);
      rc = -2;
      break;
    }
    if (!S_ISREG(st.st_mode)) {
      free(path);
      continue;
    }
    char **grown = realloc(names, (count + 1) * sizeof *grown);
    if (!grown) {
      free(path);
      rc = -1;
      break;
    }
    names = grown;
    names[count++] = path;
  }
  closedir(d);
  free(dir);

  if (rc == 0 && count > 1)
    qsort(names, count, sizeof *names, cmp_str);
  for (size_t i = 0; i < count; i++) {
    if (rc == 0) {
      if (push(out, names[i], err, errlen) != 0)
        rc = -2;
    } else {
      free(names[i]);
    }
  }
  free(names);
  if (rc == -1)
    set_err(err, errlen, "config discovery: out of memory");
  return rc == 0 ? 0 : -1;
}

int pfh_discover(const char *cli_config, pfh_config_files *out, char *err, size_t errlen) {
  out->paths = NULL;
  out->count = 0;
  if (find_main(cli_config, out, err, errlen) < 0 || find_dropins(out, err, errlen) < 0) {
    pfh_config_files_free(out);
    return -1;
  }
  return 0;
}

void pfh_config_files_free(pfh_config_files *files) {
  if (!files)
    return;
  for (size_t i = 0; i < files->count; i++)
    free(files->paths[i]);
  free(files->paths);
  files->paths = NULL;
  files->count = 0;
}

/* --- the plugin key scan ------------------------------------------------ */

/* Scan state. Only the top-level mapping of each document matters: at depth
 * 1 its nodes alternate key, value. */
struct scan {
  int depth;      /* open collections */
  int top_is_map; /* the document's root node is a mapping */
  int want_key;   /* at depth 1: the next complete node is a key */
  int key_is_plugin;
  int found; /* a plugin key was seen (value "" for an empty/null one) */
  char *value;
};

static int is_null_scalar(const yaml_event_t *ev) {
  const char *v = (const char *)ev->data.scalar.value;
  if (ev->data.scalar.length == 0)
    return 1;
  if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return 0;
  return strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
         strcmp(v, "NULL") == 0;
}

/* A node at depth 1 of the top-level mapping is complete; ev is its scalar
 * event, or NULL for a collection or an alias. 0 or -1 (err set). */
static int node_done(struct scan *sc, const yaml_event_t *ev, const char *path, char *err,
                     size_t errlen, const yaml_mark_t *mark) {
  if (sc->want_key) {
    sc->key_is_plugin = ev && ev->type == YAML_SCALAR_EVENT &&
                        strcmp((const char *)ev->data.scalar.value, "plugin") == 0;
    sc->want_key = 0;
    return 0;
  }
  sc->want_key = 1;
  if (!sc->key_is_plugin)
    return 0;
  sc->key_is_plugin = 0;
  if (!ev || ev->type != YAML_SCALAR_EVENT) {
    set_err(err, errlen, "%s:%zu:%zu: plugin: expected a path (a string)", path,
            (size_t)mark->line + 1, (size_t)mark->column + 1);
    return -1;
  }
  free(sc->value);
  sc->value = strdup(is_null_scalar(ev) ? "" : (const char *)ev->data.scalar.value);
  if (!sc->value) {
    set_err(err, errlen, "%s: out of memory", path);
    return -1;
  }
  sc->found = 1;
  return 0;
}

/* Feed one event; 1 at the end of the stream, 0 to go on, -1 on error. */
static int scan_event(struct scan *sc, const yaml_event_t *ev, const char *path, char *err,
                      size_t errlen) {
  int at_top = sc->depth == 1 && sc->top_is_map;
  switch (ev->type) {
  case YAML_STREAM_END_EVENT:
    return 1;
  case YAML_DOCUMENT_START_EVENT:
    sc->depth = 0;
    sc->top_is_map = 0;
    return 0;
  case YAML_MAPPING_START_EVENT:
  case YAML_SEQUENCE_START_EVENT:
    if (sc->depth == 0) {
      sc->top_is_map = ev->type == YAML_MAPPING_START_EVENT;
      sc->want_key = 1;
      sc->key_is_plugin = 0;
    } else if (at_top && !sc->want_key && sc->key_is_plugin) {
      return node_done(sc, NULL, path, err, errlen, &ev->start_mark);
    }
    sc->depth++;
    return 0;
  case YAML_MAPPING_END_EVENT:
  case YAML_SEQUENCE_END_EVENT:
    sc->depth--;
    if (sc->depth == 1 && sc->top_is_map)
      return node_done(sc, NULL, path, err, errlen, &ev->start_mark);
    return 0;
  case YAML_SCALAR_EVENT:
  case YAML_ALIAS_EVENT:
    if (at_top)
      return node_done(sc, ev, path, err, errlen, &ev->start_mark);
    return 0;
  default:
    return 0;
  }
}

int pfh_config_plugin_key(const char *path, char **value, char *err, size_t errlen) {
  *value = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    set_err(err, errlen, "config file %s: %s", path, strerror(errno));
    return -1;
  }
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) {
    fclose(f);
    set_err(err, errlen, "%s: out of memory", path);
    return -1;
  }
  yaml_parser_set_input_file(&parser, f);

  struct scan sc = {0};
  int rc = 0;
  while (rc == 0) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&parser, &ev)) {
      const char *problem = parser.problem ? parser.problem : "malformed YAML";
      if (parser.context)
        set_err(err, errlen, "%s:%zu:%zu: %s: %s", path, (size_t)parser.problem_mark.line + 1,
                (size_t)parser.problem_mark.column + 1, parser.context, problem);
      else
        set_err(err, errlen, "%s:%zu:%zu: %s", path, (size_t)parser.problem_mark.line + 1,
                (size_t)parser.problem_mark.column + 1, problem);
      rc = -1;
      break;
    }
    rc = scan_event(&sc, &ev, path, err, errlen);
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&parser);
  fclose(f);

  if (rc < 0) {
    free(sc.value);
    return -1;
  }
  if (!sc.found)
    return 0;
  *value = sc.value;
  return 1;
}

int pfh_config_plugin(const pfh_config_files *files, char **plugin, char *err, size_t errlen) {
  *plugin = NULL;
  for (size_t i = 0; i < files->count; i++) {
    char *v = NULL;
    int r = pfh_config_plugin_key(files->paths[i], &v, err, errlen);
    if (r < 0) {
      free(*plugin);
      *plugin = NULL;
      return -1;
    }
    if (r == 0)
      continue;
    if (v[0] == '\0') { /* `plugin:` with no value resets an earlier file's choice */
      free(v);
      free(*plugin);
      *plugin = NULL;
      continue;
    }
    char *resolved = v;
    const char *slash = strrchr(files->paths[i], '/');
    if (v[0] != '/' && slash) {
      size_t dirlen = (size_t)(slash - files->paths[i]) + 1;
      size_t vlen = strlen(v);
      resolved = malloc(dirlen + vlen + 1);
      if (!resolved) {
        free(v);
        free(*plugin);
        *plugin = NULL;
        set_err(err, errlen, "config discovery: out of memory");
        return -1;
      }
      memcpy(resolved, files->paths[i], dirlen);
      memcpy(resolved + dirlen, v, vlen + 1);
      free(v);
    }
    free(*plugin);
    *plugin = resolved;
  }
  return *plugin ? 1 : 0;
}
