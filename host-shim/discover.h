/*
 * discover.h - where a parfetch host finds its YAML config files, in the order
 * they are loaded (DESIGN.md, "Configuration"), and the one key a host must
 * read itself before any plugin is loaded: the top-level `plugin:` path.
 *
 * Order: the first that exists of
 *   1. --config FILE                     (must exist)
 *   2. $PARFETCH_CONFIG                  (must exist when set and non-empty)
 *   3. $XDG_CONFIG_HOME/parfetch/config.yaml, $XDG_CONFIG_HOME defaulting to
 *      $HOME/.config (a relative $XDG_CONFIG_HOME is ignored, as the XDG spec says)
 *   4. <sysconfdir>/config.yaml
 * then every <sysconfdir>/conf.d/ *.yaml regular file (names starting with '.'
 * skipped) in strcmp order. <sysconfdir> is $PARFETCH_SYSCONFDIR when set
 * and non-empty, else PF_SYSCONFDIR (a Makefile macro, /etc/parfetch).
 * Later files override earlier ones, so a drop-in overrides the main file.
 *
 * Threads: reads the environment with getenv(), so call it before starting
 * threads that may call setenv() (in practice: at start-up, on one thread).
 */
#ifndef PFH_DISCOVER_H
#define PFH_DISCOVER_H

#include <stddef.h>

/* Config files in load order. Owned by the caller; free with
 * pfh_config_files_free(). */
typedef struct pfh_config_files {
  char **paths;
  size_t count;
} pfh_config_files;

/*
 * Fill *out with the files to load, given the --config argument (or NULL).
 * Returns 0, or -1 with a one-line message in err naming the path (a missing
 * --config or $PARFETCH_CONFIG file, a path that is a directory, an
 * unreadable conf.d, out of memory). *out is empty on failure.
 */
int pfh_discover(const char *cli_config, pfh_config_files *out, char *err, size_t errlen);

void pfh_config_files_free(pfh_config_files *files);

/* <sysconfdir> as described above. Points into the environment or a literal. */
const char *pfh_sysconfdir(void);

/*
 * Scan one YAML file with libyaml for the top-level `plugin:` scalar (nested
 * `plugin` keys are not it). Returns 1 with a malloc'd copy in *value (""
 * when the key is empty or null: `plugin:`, `plugin: ~`), 0 if the file has
 * no such key, or -1 on malformed YAML (err: "path:line:column: problem"), an unreadable
 * file, or a non-scalar value. The whole file is parsed, so any syntax error
 * is reported. When a key repeats, the last one wins.
 */
int pfh_config_plugin_key(const char *path, char **value, char *err, size_t errlen);

/*
 * The plugin path named by a list of config files: the last file that sets
 * `plugin:` wins (an empty value resets it). A relative value is resolved
 * against the directory of the file that names it. Returns 1 with a malloc'd
 * path in *plugin, 0 if no file names one, -1 on error (as above).
 */
int pfh_config_plugin(const pfh_config_files *files, char **plugin, char *err, size_t errlen);

#endif /* PFH_DISCOVER_H */
