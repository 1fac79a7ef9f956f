/* main.c - runs every CUnit suite; exits non-zero if any test failed. */
#include <stdio.h>

#include <CUnit/Basic.h>

#include "suites.h"

int main(void) {
  int (*const suites[])(void) = {pf_suite_plan,   pf_suite_http,   pf_suite_queue, pf_suite_ranges,
                                 pf_suite_digest, pf_suite_journal, pf_suite_config, pf_suite_host,
                                 pf_suite_text,   pf_suite_budget, pf_suite_rate, pf_suite_source, pf_suite_apt,
                                 pf_suite_aptutil, pf_suite_netrc, pf_suite_report, pf_suite_inputfile,
                                 pf_suite_reorder};
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 2;
  for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
    if (suites[i]() != CUE_SUCCESS) {
      fprintf(stderr, "unit_tests: cannot add suite %zu: %s\n", i, CU_get_error_msg());
      CU_cleanup_registry();
      return 2;
    }
  }
  CU_basic_set_mode(CU_BRM_NORMAL);
  CU_basic_run_tests();
  unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
  unsigned run = CU_get_number_of_tests_run();
  CU_cleanup_registry();
  if (run == 0) {
    fprintf(stderr, "unit_tests: no test ran\n");
    return 1;
  }
  return failed ? 1 : 0;
}
