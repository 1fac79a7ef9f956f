/* fuzz_config.c - the YAML config loader (plugin/config.c) on any text: a
 * config file is the user's, but a drop-in or $PARFETCH_CONFIG can hold
 * anything. Loads the input as YAML (in memory: pf_config_load_string is what
 * pf_config_load_file calls once the file is read), reads every key back and
 * copies the result; then the same bytes as a size and a duration. Promises
 * checked: a failed load says why; every key reads back after a good load
 * (a string key may be unset). */
#include <string.h>

#include "config.h"
#include "fuzz.h"

/* Every key; the string ones read back as NULL while unset. */
static const struct {
  const char *name;
  int string;
} keys[] = {{"plugin", 1},         {"streams", 0},       {"min_part_size", 0}, {"chunk_size", 0},
            {"queue_depth", 0},    {"connect_timeout", 0}, {"stall_timeout", 0}, {"retries", 0},
            {"retry_wait", 0},     {"retry_max_wait", 0}, {"max_redirects", 0}, {"http_version", 0},
            {"on_change", 0},      {"preconnect", 0},    {"user_agent", 1},    {"proxy", 1},
            {"headers", 0},        {"secret_headers", 0}, {"tls.verify", 0},   {"tls.cacert", 1},
            {"tls.capath", 1}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pf_config *cfg = pf_config_new();
  if (!cfg)
    return 0;
  pf_status st = pf_config_load_string(cfg, (const char *)data, size, "fuzz.yaml");
  const char *err = pf_config_error(cfg);
  if (st != PF_OK) {
    fuzz_assert(err && err[0]);
  } else {
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
      const char *v = pf_config_get(cfg, keys[i].name);
      fuzz_assert(v != NULL || keys[i].string);
    }
  }
  pf_config *dup = pf_config_dup(cfg);
  pf_config_free(dup);
  pf_config_free(cfg);

  /* the bytes as one scalar: a size ("8MiB") and a duration ("500ms") */
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  uint64_t bytes;
  long ms;
  (void)pf_parse_size(text, &bytes);
  if (pf_parse_duration_ms(text, &ms) == 0)
    fuzz_assert(ms >= 0);
  free(text);
  return 0;
}
