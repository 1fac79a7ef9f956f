/* suites.h - every CUnit suite of build/unit_tests. Each tests/unit/test_*.c
 * defines one function that adds its suite to the registry; main.c calls
 * them all. Return CUE_SUCCESS or a CUnit error. */
#ifndef PF_TEST_SUITES_H
#define PF_TEST_SUITES_H

#include <CUnit/CUnit.h>

int pf_suite_plan(void);     /* test_plan.c: the planner */
int pf_suite_http(void);     /* test_http.c: Content-Range and header parsing */
int pf_suite_queue(void);    /* test_queue.c: bounded queue, backpressure, shutdown */
int pf_suite_ranges(void);   /* test_ranges.c: written-range set and digest frontier */
int pf_suite_digest(void);   /* test_digest.c: checksum spec parsing, EVP digests */
int pf_suite_journal(void);  /* test_journal.c: resume journal, plan of missing ranges */
int pf_suite_config(void);   /* test_config.c: YAML config, units, every error path */
int pf_suite_host(void);     /* test_host.c: loader and config discovery */
int pf_suite_text(void);     /* test_text.c: escaping and redaction of shown text */
int pf_suite_budget(void);   /* test_budget.c: the client's connection budget */
int pf_suite_rate(void);     /* test_rate.c: rate_limit's token bucket */
int pf_suite_source(void);   /* test_source.c: streams dealt over an object's mirrors */
int pf_suite_apt(void);      /* test_apt.c: the apt method's framing, 601 config, auth.conf, proxy */
int pf_suite_aptutil(void);  /* test_aptutil.c: dates, FailReason, checksum, credentials, FindFile */
int pf_suite_netrc(void);    /* test_netrc.c: .netrc (curl's syntax), URL host, Basic header */
int pf_suite_report(void);   /* test_report.c: the --json object */
int pf_suite_inputfile(void); /* test_inputfile.c: the -i list, checksum spellings, output names */
int pf_suite_reorder(void);  /* test_reorder.c: the in-order window and plan */

#endif
