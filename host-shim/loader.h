/*
 * loader.h - the reusable plugin loader every parfetch host uses: dlopen the
 * shared object, find the one entry symbol, refuse an incompatible ABI, and
 * explain every failure in one line that names the path.
 *
 * Threads: pfh_load() and pfh_unload() are called by one thread at a time
 * (usually once, at start-up and exit). A loaded pfh_plugin is read-only and
 * may be shared by every thread until pfh_unload().
 */
#ifndef PFH_LOADER_H
#define PFH_LOADER_H

#include <stddef.h>

#include "parfetch.h"

/* A host built against the 1.0 header (tests/abi10/) has no size macros:
 * its pf_entry ends at strerror, the last 1.0 function. */
#ifndef PF_ENTRY_1_0_SIZE
#define PF_ENTRY_1_0_SIZE sizeof(pf_entry)
#endif

typedef struct pfh_plugin {
  void *handle;          /* from dlopen(); NULL when not loaded */
  const pf_entry *entry; /* the plugin's entry; valid until pfh_unload() */
  char *path;            /* the path as loaded (malloc'd) */
} pfh_plugin;

/*
 * Load the plugin at path with dlopen(RTLD_NOW | RTLD_LOCAL), look up
 * PF_ENTRY_SYMBOL and check it: abi_major == PF_ABI_MAJOR, struct_size at
 * least the 1.0 size, name, version and every 1.0 function present.
 * A path without '/' is taken relative to the current directory (dlopen would
 * otherwise search the library path).
 * Returns 0 and fills *out, or -1 with *out zeroed and a one-line message in
 * err (which names the path and carries dlerror()'s text); err may be NULL.
 */
int pfh_load(const char *path, pfh_plugin *out, char *err, size_t errlen);

/* dlclose the plugin and free what pfh_load() allocated. Every session and
 * config of the plugin must be closed/freed first. A zeroed or already
 * unloaded plugin is a no-op. */
void pfh_unload(pfh_plugin *plugin);

/*
 * The default plugin path: "parfetch.so" in the directory of the running
 * executable (readlink /proc/self/exe) if that file exists, else
 * PF_PLUGINDIR "/parfetch.so". Returns 0, or -1 if buf is too small.
 */
int pfh_default_plugin_path(char *buf, size_t len);

/* The same choice for a given executable path (exe may be NULL: then only
 * PF_PLUGINDIR is considered). Exposed for tests. */
int pfh_plugin_path_near(const char *exe, char *buf, size_t len);

#endif /* PFH_LOADER_H */
