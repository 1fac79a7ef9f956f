/*
 * loader.c - dlopen + ABI check for parfetch hosts (see loader.h).
 *
 * Owns: the dlopen handle and the path copy inside a pfh_plugin. Nothing
 * global. Threads: whichever thread calls pfh_load()/pfh_unload(); dlerror()
 * is per-thread in glibc, so concurrent loads do not mix their messages.
 */
#include "loader.h"
#include "errfmt.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PF_PLUGINDIR
#define PF_PLUGINDIR "/usr/local/lib/parfetch"
#endif

#define set_err pfh_set_err

/* The name of the first 1.0 function the entry lacks, or NULL. */
static const char *missing_function(const pf_entry *e) {
  struct {
    const char *name;
    int present;
  } fns[] = {
      {"config_new", e->config_new != NULL},
      {"config_load", e->config_load != NULL},
      {"config_set", e->config_set != NULL},
      {"config_get", e->config_get != NULL},
      {"config_error", e->config_error != NULL},
      {"config_free", e->config_free != NULL},
      {"open", e->open != NULL},
      {"plan_parts", e->plan_parts != NULL},
      {"fetch_part", e->fetch_part != NULL},
      {"write_sink", e->write_sink != NULL},
      {"run", e->run != NULL},
      {"cancel", e->cancel != NULL},
      {"get_info", e->get_info != NULL},
      {"get_stats", e->get_stats != NULL},
      {"errmsg", e->errmsg != NULL},
      {"close", e->close != NULL},
      {"strerror", e->strerror != NULL},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
    if (!fns[i].present)
      return fns[i].name;
  return NULL;
}

/* Check a found entry; 0 if usable, else -1 with err set. */
static int check_entry(const char *path, const pf_entry *e, char *err, size_t errlen) {
  if (e->abi_major != PF_ABI_MAJOR) {
    set_err(err, errlen, "plugin %s has ABI %u.%u; this host needs %d.x", path,
            (unsigned)e->abi_major, (unsigned)e->abi_minor, PF_ABI_MAJOR);
    return -1;
  }
  if (e->struct_size < PF_ENTRY_1_0_SIZE) {
    set_err(err, errlen, "plugin %s has an entry of %zu bytes; ABI %d.0 needs at least %zu", path,
            e->struct_size, PF_ABI_MAJOR, (size_t)PF_ENTRY_1_0_SIZE);
    return -1;
  }
  if (!e->name || !e->version) {
    set_err(err, errlen, "plugin %s has no name or version in its entry", path);
    return -1;
  }
  const char *missing = missing_function(e);
  if (missing) {
    set_err(err, errlen, "plugin %s lacks the ABI %d.0 function %s", path, PF_ABI_MAJOR, missing);
    return -1;
  }
  return 0;
}

int pfh_load(const char *path, pfh_plugin *out, char *err, size_t errlen) {
  if (!out) {
    set_err(err, errlen, "pfh_load: no output plugin");
    return -1;
  }
  memset(out, 0, sizeof *out);
  if (!path || !*path) {
    set_err(err, errlen, "cannot load plugin: empty path");
    return -1;
  }

  /* dlopen("x.so") searches the library path; a user who wrote x.so meant ./x.so. */
  size_t n = strlen(path);
  char *copy = malloc(n + 3);
  if (!copy) {
    set_err(err, errlen, "cannot load plugin %s: out of memory", path);
    return -1;
  }
  if (strchr(path, '/')) {
    memcpy(copy, path, n + 1);
  } else {
    memcpy(copy, "./", 2);
    memcpy(copy + 2, path, n + 1);
  }

  dlerror(); /* clear any stale message */
  void *h = dlopen(copy, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *why = dlerror();
    set_err(err, errlen, "cannot load plugin %s: %s", path, why ? why : "unknown dlopen error");
    free(copy);
    return -1;
  }
  dlerror();
  const pf_entry *e = dlsym(h, PF_ENTRY_SYMBOL);
  if (!e) {
    const char *why = dlerror();
    set_err(err, errlen, "cannot load plugin %s: no entry symbol " PF_ENTRY_SYMBOL ": %s", path,
            why ? why : "symbol is NULL");
    dlclose(h);
    free(copy);
    return -1;
  }
  if (check_entry(path, e, err, errlen) != 0) {
    dlclose(h);
    free(copy);
    return -1;
  }
  out->handle = h;
  out->entry = e;
  out->path = copy;
  return 0;
}

void pfh_unload(pfh_plugin *plugin) {
  if (!plugin)
    return;
  if (plugin->handle)
    dlclose(plugin->handle);
  free(plugin->path);
  memset(plugin, 0, sizeof *plugin);
}

int pfh_plugin_path_near(const char *exe, char *buf, size_t len) {
  if (exe) {
    const char *slash = strrchr(exe, '/');
    if (slash) {
      int dirlen = (int)(slash - exe);
      int w = snprintf(buf, len, "%.*s/parfetch.so", dirlen, exe);
      if (w >= 0 && (size_t)w < len && access(buf, F_OK) == 0)
        return 0;
      /* an installed tree: PREFIX/bin/parfetch next to PREFIX/lib/parfetch/
       * (relocatable, and right whatever PREFIX the binary was built with) */
      w = snprintf(buf, len, "%.*s/../lib/parfetch/parfetch.so", dirlen, exe);
      if (w >= 0 && (size_t)w < len && access(buf, F_OK) == 0)
        return 0;
    }
  }
  int w = snprintf(buf, len, "%s", PF_PLUGINDIR "/parfetch.so");
  return (w >= 0 && (size_t)w < len) ? 0 : -1;
}

int pfh_default_plugin_path(char *buf, size_t len) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0 || (size_t)n >= sizeof exe - 1)
    return pfh_plugin_path_near(NULL, buf, len);
  exe[n] = '\0';
  return pfh_plugin_path_near(exe, buf, len);
}
