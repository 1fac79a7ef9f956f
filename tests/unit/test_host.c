/*
 * test_host.c - the host-shim's pure parts: config discovery (every source,
 * precedence, conf.d order), the `plugin:` key scan, loader errors, and the
 * progress bar's formatting.
 *
 * Threads: the CUnit thread only. Tests change the environment (setenv) and
 * restore it in the suite cleanup; each test builds its own temp tree.
 */
#include <CUnit/CUnit.h>
#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "discover.h"
#include "loader.h"
#include "progress.h"
#include "suites.h"

#ifndef PF_PLUGINDIR
#define PF_PLUGINDIR "/usr/local/lib/parfetch"
#endif

/* --- fixtures ------------------------------------------------------------- */

static const char *const env_names[] = {"PARFETCH_CONFIG", "PARFETCH_SYSCONFDIR", "XDG_CONFIG_HOME",
                                        "HOME"};
#define NENV (sizeof env_names / sizeof env_names[0])
static char *saved_env[NENV];

static int suite_init(void) {
  for (size_t i = 0; i < NENV; i++) {
    const char *v = getenv(env_names[i]);
    saved_env[i] = v ? strdup(v) : NULL;
    if (v && !saved_env[i])
      return -1;
  }
  return 0;
}

static int suite_cleanup(void) {
  for (size_t i = 0; i < NENV; i++) {
    if (saved_env[i])
      setenv(env_names[i], saved_env[i], 1);
    else
      unsetenv(env_names[i]);
    free(saved_env[i]);
    saved_env[i] = NULL;
  }
  return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* A fresh temp tree with home/, xdg/ and etc/ (etc/conf.d/ too), and an
 * environment that points only at it. */
struct tree {
  char root[PATH_MAX];
};

static void path_in(const struct tree *t, const char *rel, char *buf, size_t len) {
  int n = snprintf(buf, len, "%s/%s", t->root, rel);
  CU_ASSERT_FATAL(n > 0 && (size_t)n < len);
}

static void mkdir_in(const struct tree *t, const char *rel) {
  char p[PATH_MAX];
  path_in(t, rel, p, sizeof p);
  CU_ASSERT_FATAL(mkdir(p, 0755) == 0 || errno == EEXIST);
}

static void write_in(const struct tree *t, const char *rel, const char *text) {
  char p[PATH_MAX];
  path_in(t, rel, p, sizeof p);
  FILE *f = fopen(p, "w");
  CU_ASSERT_FATAL(f != NULL);
  fputs(text, f);
  CU_ASSERT_FATAL(fclose(f) == 0);
}

static void tree_make(struct tree *t) {
  const char *tmp = getenv("TMPDIR");
  int n = snprintf(t->root, sizeof t->root, "%s/pfh-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof t->root);
  CU_ASSERT_FATAL(mkdtemp(t->root) != NULL);
  mkdir_in(t, "home");
  mkdir_in(t, "xdg");
  mkdir_in(t, "etc");
  mkdir_in(t, "etc/conf.d");
  char p[PATH_MAX];
  path_in(t, "home", p, sizeof p);
  setenv("HOME", p, 1);
  path_in(t, "xdg", p, sizeof p);
  setenv("XDG_CONFIG_HOME", p, 1);
  path_in(t, "etc", p, sizeof p);
  setenv("PARFETCH_SYSCONFDIR", p, 1);
  unsetenv("PARFETCH_CONFIG");
}

static void tree_free(struct tree *t) {
  nftw(t->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* files->paths[i] ends with rel (the tree root may be a symlinked path). */
static int is_path(const pfh_config_files *files, size_t i, const struct tree *t, const char *rel) {
  char want[PATH_MAX];
  path_in(t, rel, want, sizeof want);
  return i < files->count && strcmp(files->paths[i], want) == 0;
}

/* --- discovery -------------------------------------------------------------- */

static void test_discover_none(void) {
  struct tree t;
  tree_make(&t);
  pfh_config_files f;
  char err[512] = "";
  CU_ASSERT_EQUAL(pfh_discover(NULL, &f, err, sizeof err), 0);
  CU_ASSERT_EQUAL(f.count, 0);
  pfh_config_files_free(&f);
  tree_free(&t);
}

static void test_discover_each_source(void) {
  struct tree t;
  tree_make(&t);
  pfh_config_files f;
  char err[512] = "";

  /* <sysconfdir>/config.yaml alone */
  write_in(&t, "etc/config.yaml", "streams: 1\n");
  CU_ASSERT_EQUAL_FATAL(pfh_discover(NULL, &f, err, sizeof err), 0);
  CU_ASSERT_EQUAL(f.count, 1);
  CU_ASSERT(is_path(&f, 0, &t, "etc/config.yaml"));
  pfh_config_files_free(&f);

  /* $HOME/.config/parfetch/config.yaml when XDG_CONFIG_HOME is unset */
  mkdir_in(&t, "home/.config");
  mkdir_in(&t, "home/.config/parfetch");
  write_in(&t, "home/.config/parfetch/config.yaml", "streams: 2\n");
  unsetenv("XDG_CONFIG_HOME");
  CU_ASSERT_EQUAL_FATAL(pfh_discover(NULL, &f, err, sizeof err), 0);
  CU_ASSERT_EQUAL(f.count, 1);
  CU_ASSERT(is_path(&f, 0, &t, "home/.config/parfetch/config.yaml"));
  pfh_config_files_free(&f);

  /* $XDG_CONFIG_HOME/parfetch/config.yaml beats both */
  char p[PATH_MAX];
  path_in(&t, "xdg", p, sizeof p);
  setenv("XDG_CONFIG_HOME", p, 1);
  mkdir_in(&t, "xdg/parfetch");
  write_in(&t, "xdg/parfetch/config.yaml", "streams: 3\n");
  CU_ASSERT_EQUAL_FATAL(pfh_discover(NULL, &f, err, sizeof err), 0);
  CU_ASSERT_EQUAL(f.count, 1);
  CU_ASSERT(is_path(&f, 0, &t, "xdg/parfetch/config.yaml"));
  pfh_config_files_free(&f);

  /* $PARFETCH_CONFIG beats XDG */
  write_in(&t, "env.yaml", "streams: 4\n");
  path_in(&t, "env.yaml", p, sizeof p);
  setenv("PARFETCH_CONFIG", p, 1);
  CU_ASSERT_EQUAL_FATAL(pfh_discover(NULL, &f, err, sizeof err), 0);
  CU_ASSERT_EQUAL(f.count, 1);
  CU_ASSERT(is_path(&f, 0, &t, "env.yaml"));
  pfh_config_files_free(&f);

  /* --config beats $PARFETCH_CONFIG */
  write_in(&t, "cli.yaml", "streams: 5\n");
  path_in(&t, "cli.yaml", p, sizeof p);
  CU_ASSERT_EQUAL_FATAL(pfh_discover(p, &f, err, sizeof err), 0);
  CU_ASSERT_EQUAL(f.count, 1);
  CU_ASSERT(is_path(&f, 0, &t, "cli.yaml"));
  pfh_config_files_free(&f);

  /* An empty $PARFETCH_CONFIG counts as unset. */
  setenv("PARFETCH_CONFIG", "", 1);
  CU_ASSERT_EQUAL_FATAL(pfh_discover(NULL, &f, err, sizeof err), 0);
  CU_ASSERT(is_path(&f, 0, &t, "xdg/parfetch/config.yaml"));
  pfh_config_files_free(&f);

  /* A relative $XDG_CONFIG_HOME is ignored (XDG spec): $HOME/.config applies. */
  setenv("XDG_CONFIG_HOME", "relative/dir", 1);
  CU_ASSERT_EQUAL_FATAL(pfh_discover(NULL, &f, err, sizeof err), 0);
  CU_ASSERT(is_path(&f, 0, &t, "home/.config/parfetch/config.yaml"));
  pfh_config_files_free(&f);

  tree_free(&t);
}

static void test_discover_missing_explicit(void) {
  struct tree t;
  tree_make(&t);
  write_in(&t, "etc/config.yaml", "streams: 1\n");
  pfh_config_files f;
  char err[512] = "";
  char p[PATH_MAX];
  path_in(&t, "nope.yaml", p, sizeof p);

  /* --config FILE must exist: no silent fall-back to the next source. */
  CU_ASSERT_EQUAL(pfh_discover(p, &f, err, sizeof err), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, p));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "--config"));
  CU_ASSERT_EQUAL(f.count, 0);
  CU_ASSERT_PTR_NULL(f.paths);

  /* So must $PARFETCH_CONFIG when it is set. */
  err[0] = '\0';
  setenv("PARFETCH_CONFIG", p, 1);
  CU_ASSERT_EQUAL(pfh_discover(NULL, &f, err, sizeof err), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, p));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "PARFETCH_CONFIG"));
  unsetenv("PARFETCH_CONFIG");

  /* A directory given as --config is an error too. */
  path_in(&t, "etc", p, sizeof p);
  CU_ASSERT_EQUAL(pfh_discover(p, &f, err, sizeof err), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, p));
  tree_free(&t);
}

static void test_discover_dropins(void) {
  struct tree t;
  tree_make(&t);
  write_in(&t, "etc/config.yaml", "streams: 1\n");
  write_in(&t, "etc/conf.d/20-b.yaml", "streams: 2\n");
  write_in(&t, "etc/conf.d/10-a.yaml", "streams: 3\n");
  write_in(&t, "etc/conf.d/9-z.yaml", "streams: 4\n");
  write_in(&t, "etc/conf.d/B.yaml", "streams: 5\n");
  /* Not drop-ins: another suffix, a backup, a hidden file, a directory. */
  write_in(&t, "etc/conf.d/README", "not yaml\n");
  write_in(&t, "etc/conf.d/30-c.yml", "streams: 6\n");
  write_in(&t, "etc/conf.d/40-d.yaml.bak", "streams: 7\n");
  write_in(&t, "etc/conf.d/.50-e.yaml", "streams: 8\n");
  mkdir_in(&t, "etc/conf.d/60-f.yaml");

  pfh_config_files f;
  char err[512] = "";
  char p[PATH_MAX];
  write_in(&t, "cli.yaml", "streams: 9\n");
  path_in(&t, "cli.yaml", p, sizeof p);
  CU_ASSERT_EQUAL_FATAL(pfh_discover(p, &f, err, sizeof err), 0);
  /* the main file first, then the drop-ins in strcmp order */
  CU_ASSERT_EQUAL_FATAL(f.count, 5);
  CU_ASSERT(is_path(&f, 0, &t, "cli.yaml"));
  CU_ASSERT(is_path(&f, 1, &t, "etc/conf.d/10-a.yaml"));
  CU_ASSERT(is_path(&f, 2, &t, "etc/conf.d/20-b.yaml"));
  CU_ASSERT(is_path(&f, 3, &t, "etc/conf.d/9-z.yaml"));
  CU_ASSERT(is_path(&f, 4, &t, "etc/conf.d/B.yaml"));
  pfh_config_files_free(&f);

  /* Drop-ins also apply when no main file exists. */
  path_in(&t, "etc/config.yaml", p, sizeof p);
  CU_ASSERT_EQUAL(unlink(p), 0);
  CU_ASSERT_EQUAL_FATAL(pfh_discover(NULL, &f, err, sizeof err), 0);
  CU_ASSERT_EQUAL(f.count, 4);
  CU_ASSERT(is_path(&f, 0, &t, "etc/conf.d/10-a.yaml"));
  pfh_config_files_free(&f);
  tree_free(&t);
}

/* --- the plugin key scan --------------------------------------------------- */

/* Write text to rel and scan it. */
static int scan(const struct tree *t, const char *rel, const char *text, char **value, char *err,
                size_t errlen) {
  write_in(t, rel, text);
  char p[PATH_MAX];
  path_in(t, rel, p, sizeof p);
  return pfh_config_plugin_key(p, value, err, errlen);
}

static void test_plugin_key(void) {
  struct tree t;
  tree_make(&t);
  char *v = NULL;
  char err[512] = "";

  CU_ASSERT_EQUAL(scan(&t, "a.yaml",
                       "streams: 4\nplugin: /opt/pf/parfetch.so\nheaders:\n  - 'A: b'\n", &v, err,
                       sizeof err),
                  1);
  CU_ASSERT_STRING_EQUAL(v ? v : "", "/opt/pf/parfetch.so");
  free(v);

  CU_ASSERT_EQUAL(scan(&t, "b.yaml", "streams: 4\ntls:\n  verify: true\n", &v, err, sizeof err), 0);
  CU_ASSERT_PTR_NULL(v);

  CU_ASSERT_EQUAL(scan(&t, "empty.yaml", "", &v, err, sizeof err), 0);
  CU_ASSERT_EQUAL(scan(&t, "comment.yaml", "# nothing here\n", &v, err, sizeof err), 0);

  /* A nested `plugin` key, or "plugin" as a value or list item, is not it. */
  CU_ASSERT_EQUAL(scan(&t, "c.yaml",
                       "tls:\n  plugin: /evil.so\nheaders:\n  - plugin\nuser_agent: plugin\n"
                       "? [plugin]\n: /complex-key.so\n",
                       &v, err, sizeof err),
                  0);
  CU_ASSERT_PTR_NULL(v);

  /* After a nested mapping the top level goes on: the key is still found. */
  CU_ASSERT_EQUAL(scan(&t, "d.yaml",
                       "tls:\n  plugin: /nested.so\n  verify: false\nplugin: \"top.so\"\n", &v, err,
                       sizeof err),
                  1);
  CU_ASSERT_STRING_EQUAL(v ? v : "", "top.so");
  free(v);

  /* The last of repeated keys wins; an empty value is reported as "". */
  CU_ASSERT_EQUAL(
      scan(&t, "e.yaml", "plugin: /first.so\nplugin: /second.so\n", &v, err, sizeof err), 1);
  CU_ASSERT_STRING_EQUAL(v ? v : "", "/second.so");
  free(v);
  CU_ASSERT_EQUAL(scan(&t, "f.yaml", "plugin:\n", &v, err, sizeof err), 1);
  CU_ASSERT_STRING_EQUAL(v ? v : "x", "");
  free(v);
  CU_ASSERT_EQUAL(scan(&t, "g.yaml", "plugin: ~\n", &v, err, sizeof err), 1);
  CU_ASSERT_STRING_EQUAL(v ? v : "x", "");
  free(v);

  /* A root that is not a mapping has no keys (config_load rejects it). */
  CU_ASSERT_EQUAL(scan(&t, "h.yaml", "- plugin\n- /x.so\n", &v, err, sizeof err), 0);
  tree_free(&t);
}

static void test_plugin_key_errors(void) {
  struct tree t;
  tree_make(&t);
  char *v = NULL;
  char err[512] = "";
  char p[PATH_MAX];

  /* Malformed YAML: an error naming the file and line:column. */
  CU_ASSERT_EQUAL(scan(&t, "bad.yaml", "streams: [4\nplugin: /x.so\n", &v, err, sizeof err), -1);
  CU_ASSERT_PTR_NULL(v);
  path_in(&t, "bad.yaml:2:7: ", p, sizeof p);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, p));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "did not find expected"));

  /* A syntax error after the key still fails: the whole file is parsed. */
  err[0] = '\0';
  CU_ASSERT_EQUAL(
      scan(&t, "late.yaml", "plugin: /x.so\nstreams: 4\n  bad indent: 1\n", &v, err, sizeof err),
      -1);
  CU_ASSERT_PTR_NULL(v);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, ":3:"));

  /* plugin must be a scalar. */
  err[0] = '\0';
  CU_ASSERT_EQUAL(scan(&t, "list.yaml", "plugin: [a.so, b.so]\n", &v, err, sizeof err), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "plugin"));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, ":1:9:"));
  err[0] = '\0';
  CU_ASSERT_EQUAL(scan(&t, "map.yaml", "plugin:\n  path: a.so\n", &v, err, sizeof err), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "plugin"));

  /* An unreadable file names its path. */
  err[0] = '\0';
  path_in(&t, "missing.yaml", p, sizeof p);
  CU_ASSERT_EQUAL(pfh_config_plugin_key(p, &v, err, sizeof err), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, p));
  tree_free(&t);
}

static void test_plugin_across_files(void) {
  struct tree t;
  tree_make(&t);
  mkdir_in(&t, "etc/conf.d");
  write_in(&t, "main.yaml", "plugin: /main/parfetch.so\n");
  write_in(&t, "etc/conf.d/10-a.yaml", "streams: 2\n");
  write_in(&t, "etc/conf.d/20-b.yaml", "plugin: lib/other.so\n");
  write_in(&t, "etc/conf.d/30-c.yaml", "plugin:\n");

  char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], d[PATH_MAX];
  path_in(&t, "main.yaml", a, sizeof a);
  path_in(&t, "etc/conf.d/10-a.yaml", b, sizeof b);
  path_in(&t, "etc/conf.d/20-b.yaml", c, sizeof c);
  path_in(&t, "etc/conf.d/30-c.yaml", d, sizeof d);
  char *list[4] = {a, b, c, d};
  char *plugin = NULL;
  char err[512] = "";

  /* One file names it. */
  pfh_config_files files = {list, 2};
  CU_ASSERT_EQUAL(pfh_config_plugin(&files, &plugin, err, sizeof err), 1);
  CU_ASSERT_STRING_EQUAL(plugin ? plugin : "", "/main/parfetch.so");
  free(plugin);

  /* A later file wins; its relative path is resolved against its directory. */
  files.count = 3;
  CU_ASSERT_EQUAL(pfh_config_plugin(&files, &plugin, err, sizeof err), 1);
  char want[PATH_MAX];
  path_in(&t, "etc/conf.d/lib/other.so", want, sizeof want);
  CU_ASSERT_STRING_EQUAL(plugin ? plugin : "", want);
  free(plugin);

  /* An empty `plugin:` later on resets to the default. */
  files.count = 4;
  CU_ASSERT_EQUAL(pfh_config_plugin(&files, &plugin, err, sizeof err), 0);
  CU_ASSERT_PTR_NULL(plugin);

  /* A broken file anywhere is an error. */
  write_in(&t, "etc/conf.d/10-a.yaml", "streams: [2\n");
  CU_ASSERT_EQUAL(pfh_config_plugin(&files, &plugin, err, sizeof err), -1);
  CU_ASSERT_PTR_NULL(plugin);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, b));
  tree_free(&t);
}

/* --- the loader ----------------------------------------------------------- */

static void test_loader_missing(void) {
  pfh_plugin pl;
  char err[1024] = "";
  const char *path = "/nonexistent-dir/parfetch.so";
  CU_ASSERT_EQUAL(pfh_load(path, &pl, err, sizeof err), -1);
  CU_ASSERT_PTR_NULL(pl.handle);
  CU_ASSERT_PTR_NULL(pl.entry);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot load plugin /nonexistent-dir/parfetch.so: "));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "No such file or directory"));
  pfh_unload(&pl); /* harmless on a plugin that did not load */

  CU_ASSERT_EQUAL(pfh_load("", &pl, err, sizeof err), -1);
  CU_ASSERT_EQUAL(pfh_load(path, &pl, NULL, 0), -1); /* err is optional */
}

static void test_loader_not_a_library(void) {
  struct tree t;
  tree_make(&t);
  write_in(&t, "fake.so", "this is not an ELF object\n");
  char p[PATH_MAX];
  path_in(&t, "fake.so", p, sizeof p);
  pfh_plugin pl;
  char err[1024] = "";
  CU_ASSERT_EQUAL(pfh_load(p, &pl, err, sizeof err), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot load plugin "));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, p));
  CU_ASSERT_PTR_NULL(pl.entry);
  tree_free(&t);
}

static void test_loader_no_entry(void) {
  /* A real shared object without parfetch_entry: libyaml, found through one
   * of its functions. */
  Dl_info info;
  CU_ASSERT_FATAL(dladdr((void *)yaml_get_version_string, &info) != 0);
  CU_ASSERT_FATAL(info.dli_fname != NULL && strchr(info.dli_fname, '/') != NULL);
  pfh_plugin pl;
  char err[1024] = "";
  CU_ASSERT_EQUAL(pfh_load(info.dli_fname, &pl, err, sizeof err), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, info.dli_fname));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "parfetch_entry"));
  CU_ASSERT_PTR_NULL(pl.handle);
}

static void test_default_plugin_path(void) {
  struct tree t;
  tree_make(&t);
  char exe[PATH_MAX], buf[PATH_MAX], want[PATH_MAX];
  path_in(&t, "bin/parfetch", exe, sizeof exe);
  mkdir_in(&t, "bin");

  /* No parfetch.so next to the executable: the installed plugin directory. */
  CU_ASSERT_EQUAL(pfh_plugin_path_near(exe, buf, sizeof buf), 0);
  CU_ASSERT_STRING_EQUAL(buf, PF_PLUGINDIR "/parfetch.so");

  /* One next to it wins. */
  write_in(&t, "bin/parfetch.so", "x");
  path_in(&t, "bin/parfetch.so", want, sizeof want);
  CU_ASSERT_EQUAL(pfh_plugin_path_near(exe, buf, sizeof buf), 0);
  CU_ASSERT_STRING_EQUAL(buf, want);

  CU_ASSERT_EQUAL(pfh_plugin_path_near(NULL, buf, sizeof buf), 0);
  CU_ASSERT_STRING_EQUAL(buf, PF_PLUGINDIR "/parfetch.so");
  CU_ASSERT_EQUAL(pfh_plugin_path_near(exe, buf, 4), -1); /* too small */

  /* The real one: some path ending in /parfetch.so. */
  CU_ASSERT_EQUAL(pfh_default_plugin_path(buf, sizeof buf), 0);
  size_t n = strlen(buf);
  CU_ASSERT(n > 12 && strcmp(buf + n - 12, "/parfetch.so") == 0);
  tree_free(&t);
}

/* --- progress formatting --------------------------------------------------- */

static void test_human_units(void) {
  char b[32];
  CU_ASSERT_STRING_EQUAL(pfh_human_bytes(0, b, sizeof b), "0 B");
  CU_ASSERT_STRING_EQUAL(pfh_human_bytes(1023, b, sizeof b), "1023 B");
  CU_ASSERT_STRING_EQUAL(pfh_human_bytes(1536, b, sizeof b), "1.5 KiB");
  CU_ASSERT_STRING_EQUAL(pfh_human_bytes(10ull << 20, b, sizeof b), "10.0 MiB");
  CU_ASSERT_STRING_EQUAL(pfh_human_bytes(3ull << 30, b, sizeof b), "3.0 GiB");
  CU_ASSERT_STRING_EQUAL(pfh_human_bytes(UINT64_MAX, b, sizeof b), "16.0 EiB");
  CU_ASSERT_STRING_EQUAL(pfh_human_duration(7, b, sizeof b), "0:07");
  CU_ASSERT_STRING_EQUAL(pfh_human_duration(754, b, sizeof b), "12:34");
  CU_ASSERT_STRING_EQUAL(pfh_human_duration(3723, b, sizeof b), "1:02:03");
  CU_ASSERT_STRING_EQUAL(pfh_human_duration(-1, b, sizeof b), "--:--");
  CU_ASSERT_STRING_EQUAL(pfh_human_duration(1e12, b, sizeof b), "--:--");
}

static void test_progress_format(void) {
  char line[256];
  pfh_progress_view v = {
      .done = 50ull << 20, .total = 100ull << 20, .rate = 10.0 * (1 << 20), .streams = 8};
  size_t n = pfh_progress_format(line, sizeof line, &v, 100);
  CU_ASSERT_EQUAL(n, strlen(line));
  CU_ASSERT(n <= 100);
  CU_ASSERT_EQUAL(strncmp(line, " 50% [", 6), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(line, "50.0 MiB/100.0 MiB"));
  CU_ASSERT_PTR_NOT_NULL(strstr(line, "10.0 MiB/s"));
  CU_ASSERT_PTR_NOT_NULL(strstr(line, "ETA 0:05"));
  CU_ASSERT_PTR_NOT_NULL(strstr(line, "8 streams"));

  /* Rate unknown yet: no ETA guess. */
  v.rate = -1;
  pfh_progress_format(line, sizeof line, &v, 100);
  CU_ASSERT_PTR_NOT_NULL(strstr(line, "ETA --:--"));

  /* Unknown size: bytes and rate only. */
  pfh_progress_view u = {.done = 2048, .total = PF_SIZE_UNKNOWN, .rate = 1024, .streams = 1};
  pfh_progress_format(line, sizeof line, &u, 100);
  CU_ASSERT_PTR_NULL(strchr(line, '%'));
  CU_ASSERT_PTR_NULL(strchr(line, '['));
  CU_ASSERT_PTR_NULL(strstr(line, "ETA"));
  CU_ASSERT_PTR_NOT_NULL(strstr(line, "2.0 KiB"));
  CU_ASSERT_PTR_NOT_NULL(strstr(line, "1.0 KiB/s"));
  CU_ASSERT_PTR_NOT_NULL(strstr(line, "1 stream"));

  /* The final line: 100% and the elapsed time. */
  pfh_progress_view f = {
      .done = 100, .total = 100, .rate = 50, .streams = 4, .final = 1, .elapsed = 2};
  pfh_progress_format(line, sizeof line, &f, 100);
  CU_ASSERT_EQUAL(strncmp(line, "100% [", 6), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(line, "in 0:02"));

  /* A narrow terminal is never overflowed; a tiny buffer is never overrun. */
  n = pfh_progress_format(line, sizeof line, &v, 20);
  CU_ASSERT(n <= 20 && strlen(line) == n);
  char tiny[8];
  n = pfh_progress_format(tiny, sizeof tiny, &v, 100);
  CU_ASSERT(n < sizeof tiny && strlen(tiny) == n);
}

int pf_suite_host(void) {
  CU_pSuite s = CU_add_suite("host", suite_init, suite_cleanup);
  if (!s)
    return CU_get_error();
  struct {
    const char *name;
    void (*fn)(void);
  } tests[] = {
      {"discovery finds nothing in an empty tree", test_discover_none},
      {"discovery: each source and their precedence", test_discover_each_source},
      {"discovery: missing --config/$PARFETCH_CONFIG is an error", test_discover_missing_explicit},
      {"discovery: conf.d drop-ins in strcmp order, others ignored", test_discover_dropins},
      {"plugin key: present, absent, nested, repeated, empty", test_plugin_key},
      {"plugin key: malformed YAML and wrong types are errors", test_plugin_key_errors},
      {"plugin key across files: later wins, relative paths, reset", test_plugin_across_files},
      {"loader: a missing file names the path", test_loader_missing},
      {"loader: a file that is not a shared object", test_loader_not_a_library},
      {"loader: a shared object without the entry symbol", test_loader_no_entry},
      {"loader: the default plugin path", test_default_plugin_path},
      {"progress: human units and durations", test_human_units},
      {"progress: the bar's line", test_progress_format},
  };
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
    if (!CU_add_test(s, tests[i].name, tests[i].fn))
      return CU_get_error();
  return CUE_SUCCESS;
}
