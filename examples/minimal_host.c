/*
 * minimal_host.c - the smallest complete parfetch host.
 *
 * Demonstrates: loading the plugin through host-shim/loader.c (dlopen, the
 * ABI check and its one-line errors), then the built-in dispatcher path:
 * config_new -> open -> run -> close(PF_CLOSE_COMMIT). The plugin does the
 * threads, the side file, the checksum and the atomic rename; the host only
 * reports. No config file is read: every default applies.
 *
 *   usage: minimal_host PLUGIN URL OUT
 *   exit:  0 done, 1 the download failed, 2 usage or the plugin did not load
 *
 * Threads: one. run() blocks while the plugin's own threads work.
 */
#include <stdio.h>
#include <string.h>

#include "loader.h"
#include "parfetch.h"

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s PLUGIN URL OUT\n", argv[0]);
    return 2;
  }
  const char *plugin_path = argv[1], *url = argv[2], *out = argv[3];

  pfh_plugin plugin;
  char err[1024];
  if (pfh_load(plugin_path, &plugin, err, sizeof err) != 0) {
    fprintf(stderr, "minimal_host: %s\n", err);
    return 2;
  }
  const pf_entry *pf = plugin.entry;
  fprintf(stderr, "minimal_host: loaded %s %s (ABI %u.%u) from %s\n", pf->name, pf->version,
          (unsigned)pf->abi_major, (unsigned)pf->abi_minor, plugin.path);

  pf_config *cfg = pf->config_new();
  if (!cfg) {
    fprintf(stderr, "minimal_host: %s\n", pf->strerror(PF_E_NOMEM));
    pfh_unload(&plugin);
    return 1;
  }

  /* Zero-initialise, set struct_size: a newer plugin reads only what fits. */
  pf_open_args args;
  memset(&args, 0, sizeof args);
  args.struct_size = sizeof args;
  args.output_path = out;

  pf_session *s = NULL;
  pf_status st = pf->open(cfg, url, &args, &s);
  pf->config_free(cfg); /* the session keeps its own copy */

  if (st == PF_OK)
    st = pf->run(s);

  int rc = 0;
  if (st != PF_OK) {
    /* errmsg() lives until close(): print before closing. */
    fprintf(stderr, "minimal_host: %s: %s\n", pf->strerror(st), s ? pf->errmsg(s) : "");
    if (s)
      pf->close(s, 0); /* discard: the side file goes, OUT is untouched */
    rc = 1;
  } else {
    st = pf->close(s, PF_CLOSE_COMMIT); /* verify, sync, rename into place */
    if (st != PF_OK) {
      fprintf(stderr, "minimal_host: %s: %s\n", pf->strerror(st), out);
      rc = 1;
    }
  }
  pfh_unload(&plugin);
  return rc;
}
