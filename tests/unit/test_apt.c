/*
 * test_apt.c - the apt method's pure parts (host-shim/apt/): message framing
 * (every malformed case, splits at every byte, resynchronisation, output
 * sanitising), %-quoting, the 601 configuration tree and apt's lookups,
 * auth.conf as apt 2.6 matches it, the proxy choice and URI split.
 *
 * Threads: the CUnit thread only. The proxy tests read a fake environment
 * (a table in this file); the auth.conf loader tests build a temp tree.
 */
#include <CUnit/CUnit.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apt/apt_conf.h"
#include "apt/apt_msg.h"
#include "apt/apt_netrc.h"
#include "apt/apt_proxy.h"
#include "suites.h"

/* CUnit's string compare crashes on NULL: a NULL reads as "(null)". */
#define NN(x) ((x) ? (const char *)(x) : "(null)")

/* --- messages ------------------------------------------------------------- */

#define MAXMSG 65536

/* Parse all of text (one feed), expecting n good messages and bad errors;
 * errors are joined with '|' into errs. Returns the messages (caller frees). */
struct parsed {
  struct apt_msg m[16];
  size_t n;
  char errs[1024];
  size_t nerr;
};

static void drain(struct apt_reader *r, struct parsed *p) {
  for (;;) {
    char err[256];
    struct apt_msg m;
    int rc = apt_reader_next(r, &m, err, sizeof err);
    if (rc == 0)
      return;
    if (rc == 1) {
      CU_ASSERT_FATAL(p->n < 16);
      p->m[p->n++] = m;
    } else {
      CU_ASSERT_EQUAL(rc, -1);
      if (p->nerr++)
        strcat(p->errs, "|");
      strncat(p->errs, err, sizeof p->errs - strlen(p->errs) - 1);
    }
  }
}

static void parse_all(const char *text, size_t len, size_t max, struct parsed *p) {
  memset(p, 0, sizeof *p);
  struct apt_reader *r = apt_reader_new(max);
  CU_ASSERT_FATAL(r != NULL);
  CU_ASSERT_EQUAL(apt_reader_feed(r, text, len), 0);
  drain(r, p);
  apt_reader_free(r);
}

static void parsed_free(struct parsed *p) {
  for (size_t i = 0; i < p->n; i++)
    apt_msg_free(&p->m[i]);
  p->n = 0;
}

static void test_msg_basic(void) {
  const char *in = "\n\r\n600 URI Acquire\nURI: http://h/a\nFilename:   /tmp/a  \n"
                   "Last-Modified: Tue, 01 Dec 2026 10:00:00 GMT\r\n\r\n"
                   "601 Configuration\r\nConfig-Item: A::b=1\r\nconfig-item: A::c=2\r\n\r\n"
                   "\n\n";
  struct parsed p;
  parse_all(in, strlen(in), MAXMSG, &p);
  CU_ASSERT_EQUAL(p.nerr, 0);
  CU_ASSERT_EQUAL_FATAL(p.n, 2);
  CU_ASSERT_EQUAL(p.m[0].code, 600);
  CU_ASSERT_STRING_EQUAL(NN(p.m[0].text), "URI Acquire");
  CU_ASSERT_EQUAL(p.m[0].nfields, 3);
  CU_ASSERT_STRING_EQUAL(NN(apt_msg_get(&p.m[0], "uri")), "http://h/a");
  CU_ASSERT_STRING_EQUAL(NN(apt_msg_get(&p.m[0], "FILENAME")), "/tmp/a");
  CU_ASSERT_STRING_EQUAL(NN(apt_msg_get(&p.m[0], "Last-Modified")),
                         "Tue, 01 Dec 2026 10:00:00 GMT");
  CU_ASSERT_PTR_NULL(apt_msg_get(&p.m[0], "Proxy"));
  CU_ASSERT_EQUAL(p.m[1].code, 601);
  CU_ASSERT_STRING_EQUAL(NN(p.m[1].text), "Configuration");
  CU_ASSERT_STRING_EQUAL(NN(apt_msg_get(&p.m[1], "Config-Item")), "A::b=1"); /* first match */
  CU_ASSERT_STRING_EQUAL(NN(p.m[1].fields[1].name), "config-item");
  CU_ASSERT_STRING_EQUAL(NN(p.m[1].fields[1].value), "A::c=2");
  parsed_free(&p);

  /* Code alone; empty value; LookupTag's "." line; a multi-line value. */
  in = "200\nSize:\nA: .\nMessage: first\n  second\n .\n third\n\n";
  parse_all(in, strlen(in), MAXMSG, &p);
  CU_ASSERT_EQUAL(p.nerr, 0);
  CU_ASSERT_EQUAL_FATAL(p.n, 1);
  CU_ASSERT_EQUAL(p.m[0].code, 200);
  CU_ASSERT_STRING_EQUAL(NN(p.m[0].text), "");
  CU_ASSERT_STRING_EQUAL(NN(apt_msg_get(&p.m[0], "Size")), "");
  CU_ASSERT_STRING_EQUAL(NN(apt_msg_get(&p.m[0], "A")), "");
  CU_ASSERT_STRING_EQUAL(NN(apt_msg_get(&p.m[0], "Message")), "first\n second\n\nthird");
  parsed_free(&p);

  /* LookupTag's corners (checked against libapt-pkg 2.6.2): after an empty
   * first line the continuation is the first line; a continuation line is
   * trimmed at its end but keeps its first byte; "\r\n" line ends. */
  in = "600 X\r\nA:\r\n  two\r\n three \r\nB: b\r\n  \r\n c\r\nC: c\n \t\n\n";
  parse_all(in, strlen(in), MAXMSG, &p);
  CU_ASSERT_EQUAL(p.nerr, 0);
  CU_ASSERT_EQUAL_FATAL(p.n, 1);
  CU_ASSERT_STRING_EQUAL(NN(apt_msg_get(&p.m[0], "A")), " two\nthree");
  CU_ASSERT_STRING_EQUAL(NN(apt_msg_get(&p.m[0], "B")), "b\n \nc");
  CU_ASSERT_STRING_EQUAL(NN(apt_msg_get(&p.m[0], "C")), "c\n\t");
  parsed_free(&p);

  CU_ASSERT_PTR_NULL(apt_msg_get(NULL, "x"));
  struct apt_msg z = {0};
  apt_msg_free(&z);
  apt_msg_free(NULL);
}

static void test_msg_malformed_and_resync(void) {
  struct {
    const char *in, *err;
  } cases[] = {
      {"URI Acquire\nURI: x\n\n", "line 1: expected 'NNN text'"},
      {"60 URI\n\n", "line 1: expected 'NNN text'"},
      {"6000 URI\n\n", "line 1: expected 'NNN text'"},
      {"600URI\n\n", "line 1: expected 'NNN text'"},
      {" 600 URI\n\n", "line 1: expected 'NNN text'"},
      {"600 URI Acquire\nURI: x\nFilename /tmp/a\n\n", "line 3: field without ':'"},
      {"600 URI Acquire\n: x\n\n", "line 2: field with an empty name"},
      {"600 URI Acquire\n continued\n\n", "line 2: continuation line before any field"},
      {"600 URI Acquire\nURI: a\nB: \0x\n\n", "line 3: NUL byte"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    /* the bad message, then a good one: the reader goes on with it */
    char buf[256];
    size_t l = strlen(cases[i].in);
    if (strstr(cases[i].err, "NUL"))
      l = 30; /* the literal has a NUL inside */
    memcpy(buf, cases[i].in, l);
    const char *good = "201 URI Done\nURI: ok\n\n";
    memcpy(buf + l, good, strlen(good));
    struct parsed p;
    parse_all(buf, l + strlen(good), MAXMSG, &p);
    CU_ASSERT_STRING_EQUAL(p.errs, cases[i].err);
    CU_ASSERT_EQUAL(p.nerr, 1);
    CU_ASSERT_EQUAL_FATAL(p.n, 1);
    CU_ASSERT_EQUAL(p.m[0].code, 201);
    CU_ASSERT_STRING_EQUAL(NN(apt_msg_get(&p.m[0], "URI")), "ok");
    parsed_free(&p);
  }
}

/* The same stream fed in two pieces at every split point, and byte by byte,
 * gives the same messages and errors as one feed. */
static void test_msg_split_every_byte(void) {
  const char *in = "\r\n600 URI Acquire\r\nURI: http://h/a\r\nMessage: a\r\n b\r\n\r\n"
                   "bad line\n\n"
                   "601 Configuration\nConfig-Item: X=1\n\n"
                   "102 Status\nNo colon here\n\r\n"
                   "400 URI Failure\nURI: u\nMessage: m\n\n";
  size_t len = strlen(in);
  struct parsed whole;
  parse_all(in, len, MAXMSG, &whole);
  CU_ASSERT_EQUAL_FATAL(whole.n, 3);
  CU_ASSERT_EQUAL(whole.nerr, 2);
  CU_ASSERT_STRING_EQUAL(whole.errs, "line 1: expected 'NNN text'|line 2: field without ':'");
  CU_ASSERT_STRING_EQUAL(NN(apt_msg_get(&whole.m[0], "Message")), "a\nb");
  for (size_t cut = 0; cut <= len + 1; cut++) {
    struct parsed p;
    memset(&p, 0, sizeof p);
    struct apt_reader *r = apt_reader_new(MAXMSG);
    if (cut <= len) { /* two pieces, drained after each */
      apt_reader_feed(r, in, cut);
      drain(r, &p);
      apt_reader_feed(r, in + cut, len - cut);
      drain(r, &p);
    } else { /* byte by byte */
      for (size_t i = 0; i < len; i++) {
        apt_reader_feed(r, in + i, 1);
        drain(r, &p);
      }
    }
    char err[128];
    CU_ASSERT_EQUAL(apt_reader_eof(r, err, sizeof err), 0);
    apt_reader_free(r);
    CU_ASSERT_EQUAL(p.n, whole.n);
    CU_ASSERT_STRING_EQUAL(p.errs, whole.errs);
    for (size_t i = 0; i < p.n && i < whole.n; i++) {
      CU_ASSERT_EQUAL(p.m[i].code, whole.m[i].code);
      CU_ASSERT_STRING_EQUAL(NN(p.m[i].text), whole.m[i].text);
      CU_ASSERT_EQUAL_FATAL(p.m[i].nfields, whole.m[i].nfields);
      for (size_t f = 0; f < p.m[i].nfields; f++) {
        CU_ASSERT_STRING_EQUAL(NN(p.m[i].fields[f].name), whole.m[i].fields[f].name);
        CU_ASSERT_STRING_EQUAL(NN(p.m[i].fields[f].value), whole.m[i].fields[f].value);
      }
    }
    parsed_free(&p);
  }
  parsed_free(&whole);
}

static void test_msg_over_long(void) {
  /* Complete but too big: dropped, the next one read. */
  char big[300];
  snprintf(big, sizeof big, "600 URI Acquire\nURI: %0200d\n\n201 URI Done\nURI: x\n\n", 0);
  struct parsed p;
  parse_all(big, strlen(big), 100, &p);
  CU_ASSERT_STRING_EQUAL(p.errs, "message over 100 bytes");
  CU_ASSERT_EQUAL_FATAL(p.n, 1);
  CU_ASSERT_EQUAL(p.m[0].code, 201);
  parsed_free(&p);

  /* Exactly at the limit is fine: "600 X\nA: b\n" is 11 bytes. */
  parse_all("600 X\nA: b\n\n", 12, 11, &p);
  CU_ASSERT_EQUAL(p.nerr, 0);
  CU_ASSERT_EQUAL(p.n, 1);
  parsed_free(&p);
  parse_all("600 X\nA: b\n\n", 12, 10, &p);
  CU_ASSERT_EQUAL(p.nerr, 1);
  CU_ASSERT_EQUAL(p.n, 0);

  /* Never ending: reported as soon as it is over the limit, without the
   * reader keeping its bytes, then skipped up to its blank line. */
  struct apt_reader *r = apt_reader_new(1000);
  char err[128];
  struct apt_msg m;
  apt_reader_feed(r, "600 URI Acquire\nURI: ", 21);
  CU_ASSERT_EQUAL(apt_reader_next(r, &m, err, sizeof err), 0);
  char chunk[4096];
  memset(chunk, 'a', sizeof chunk);
  CU_ASSERT_EQUAL(apt_reader_feed(r, chunk, sizeof chunk), 0);
  CU_ASSERT_EQUAL(apt_reader_next(r, &m, err, sizeof err), -1);
  CU_ASSERT_STRING_EQUAL(err, "message over 1000 bytes");
  for (int i = 0; i < 1000; i++) { /* 4 MiB more of the same message */
    CU_ASSERT_EQUAL(apt_reader_feed(r, chunk, sizeof chunk), 0);
    CU_ASSERT_EQUAL(apt_reader_next(r, &m, err, sizeof err), 0);
  }
  apt_reader_feed(r, "\nMore: x\n\r", 10); /* "\r" + "\n" below: the blank line */
  CU_ASSERT_EQUAL(apt_reader_next(r, &m, err, sizeof err), 0);
  apt_reader_feed(r, "\n601 Configuration\nConfig-Item: a=b\n\n", 37);
  CU_ASSERT_EQUAL_FATAL(apt_reader_next(r, &m, err, sizeof err), 1);
  CU_ASSERT_EQUAL(m.code, 601);
  CU_ASSERT_STRING_EQUAL(NN(apt_msg_get(&m, "Config-Item")), "a=b");
  apt_msg_free(&m);
  CU_ASSERT_EQUAL(apt_reader_eof(r, err, sizeof err), 0);
  apt_reader_free(r);
}

static void test_msg_eof(void) {
  struct apt_reader *r = apt_reader_new(MAXMSG);
  char err[160];
  struct apt_msg m;
  apt_reader_feed(r, "600 URI Acquire\nURI: x\n", 23);
  CU_ASSERT_EQUAL(apt_reader_next(r, &m, err, sizeof err), 0);
  CU_ASSERT_EQUAL(apt_reader_eof(r, err, sizeof err), 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "23 bytes"));
  CU_ASSERT_EQUAL(apt_reader_eof(r, err, sizeof err), 0); /* reported once */
  apt_reader_feed(r, "\r\n\n\r", 4);
  CU_ASSERT_EQUAL(apt_reader_next(r, &m, err, sizeof err), 0);
  CU_ASSERT_EQUAL(apt_reader_eof(r, err, sizeof err), 0); /* blank lines only */
  apt_reader_free(r);
  apt_reader_free(NULL);
}

static void test_out_sanitises(void) {
  struct apt_out *o = apt_out_new(400, "URI Failure\nInjected: yes");
  apt_out_add(o, "URI", "http://h/a");
  apt_out_add(o, "Message", "404 Not Found\r\n\r\n201 URI Done\nFilename: /etc/shadow\n");
  apt_out_add(o, "Skipped", NULL);
  apt_out_add(o, "Empty", "");
  apt_out_add(o, "Bad:Name\n", "tab\tkept, esc\x1b gone");
  apt_out_addf(o, "FailReason", "HttpError%d", 404);
  size_t len = 0;
  char *s = apt_out_finish(o, &len);
  CU_ASSERT_FATAL(s != NULL);
  CU_ASSERT_EQUAL(len, strlen(s));
  CU_ASSERT_STRING_EQUAL(s, "400 URI Failure Injected: yes\n"
                            "URI: http://h/a\n"
                            "Message: 404 Not Found    201 URI Done Filename: /etc/shadow \n"
                            "Empty: \n"
                            "Bad-Name-: tab\tkept, esc  gone\n"
                            "FailReason: HttpError404\n"
                            "\n");
  /* Read back: one message, the injected text stays inside Message. */
  struct parsed p;
  parse_all(s, len, MAXMSG, &p);
  CU_ASSERT_EQUAL(p.nerr, 0);
  CU_ASSERT_EQUAL_FATAL(p.n, 1);
  CU_ASSERT_EQUAL(p.m[0].code, 400);
  CU_ASSERT_EQUAL(p.m[0].nfields, 5);
  CU_ASSERT_PTR_NULL(apt_msg_get(&p.m[0], "Filename"));
  CU_ASSERT_PTR_NULL(apt_msg_get(&p.m[0], "Injected"));
  CU_ASSERT_STRING_EQUAL(NN(apt_msg_get(&p.m[0], "FailReason")), "HttpError404");
  parsed_free(&p);
  free(s);

  o = apt_out_new(100, "Capabilities");
  apt_out_add(o, " lead", "x");
  s = apt_out_finish(o, NULL);
  CU_ASSERT_STRING_EQUAL(s, "100 Capabilities\n-lead: x\n\n");
  free(s);
  o = apt_out_new(7, NULL);
  s = apt_out_finish(o, NULL);
  CU_ASSERT_STRING_EQUAL(s, "007\n\n");
  free(s);
  CU_ASSERT_PTR_NULL(apt_out_finish(NULL, NULL));
}

static void test_quote(void) {
  char *q = apt_quote("Acquire::http::Proxy=\"x\"\n 100%", "=\"\n");
  CU_ASSERT_STRING_EQUAL(q, "Acquire::http::Proxy%3d%22x%22%0a%20100%25");
  char *d = apt_dequote(q);
  CU_ASSERT_STRING_EQUAL(d, "Acquire::http::Proxy=\"x\"\n 100%");
  free(q);
  free(d);
  /* every byte 1..255 round trips; the quoted form has no space, '=' or control */
  char all[256];
  for (int i = 1; i < 256; i++)
    all[i - 1] = (char)i;
  all[255] = '\0';
  q = apt_quote(all, "=\"\n");
  for (const char *p = q; *p; p++)
    CU_ASSERT((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f && *p != '=' && *p != '"');
  CU_ASSERT_PTR_NOT_NULL(strstr(q, "%ff"));
  d = apt_dequote(q);
  CU_ASSERT_STRING_EQUAL(d, all);
  free(q);
  free(d);
  /* malformed '%' stays as it is, like DeQuoteString */
  struct {
    const char *in, *out;
  } dq[] = {{"%", "%"},       {"a%4", "a%4"},   {"%zz%41", "%zzA"}, {"%%41", "%A"}, {"%4g", "%4g"},
            {"100%", "100%"}, {"%2F%2f", "//"}, {"%41%", "A%"},     {"%00ab", ""}};
  for (size_t i = 0; i < sizeof dq / sizeof dq[0]; i++) {
    d = apt_dequote(dq[i].in);
    CU_ASSERT_STRING_EQUAL(d, dq[i].out);
    free(d);
  }
  CU_ASSERT_PTR_NULL(apt_dequote(NULL));
  CU_ASSERT_PTR_NULL(apt_quote(NULL, ""));
}

/* --- configuration ---------------------------------------------------------- */

static struct apt_conf *conf_from(const char *msg601) {
  struct parsed p;
  parse_all(msg601, strlen(msg601), 1 << 20, &p);
  CU_ASSERT_EQUAL(p.nerr, 0);
  CU_ASSERT_FATAL(p.n == 1);
  struct apt_conf *c = apt_conf_new();
  char err[256];
  CU_ASSERT_EQUAL(apt_conf_from_msg(c, &p.m[0], err, sizeof err), 0);
  parsed_free(&p);
  return c;
}

static void test_conf_items(void) {
  struct apt_conf *c = conf_from("601 Configuration\n"
                                 "Config-Item: Acquire::Send-URI-Encoded=1\n"
                                 "Config-Item: Acquire::http::User-Agent=Debian%20APT%3d2.6\n"
                                 "Config-Item: APT::Sandbox::User=_apt\n"
                                 "Config-Item: acquire::HTTP::timeout=10\n"
                                 "Config-Item: Acquire::http::Timeout=20\n"
                                 "Config-Item: Acquire::http::Dl-Limit=0x10\n"
                                 "Config-Item: Acquire::http::Pipeline-Depth=abc\n"
                                 "Config-Item: A%3a%3aB=x\n"
                                 "Config-Item: Empty=\n"
                                 "\n");
  CU_ASSERT_STRING_EQUAL(NN(apt_conf_get(c, "Acquire::http::User-Agent")), "Debian APT=2.6");
  CU_ASSERT_STRING_EQUAL(NN(apt_conf_get(c, "ACQUIRE::http::USER-AGENT")), "Debian APT=2.6");
  CU_ASSERT_STRING_EQUAL(NN(apt_conf_get(c, "Acquire::http::Timeout")), "20"); /* later wins */
  CU_ASSERT_STRING_EQUAL(NN(apt_conf_get(c, "A::B")), "x"); /* a quoted "::" still nests */
  CU_ASSERT_PTR_NULL(apt_conf_get(c, "Empty"));
  CU_ASSERT_PTR_NULL(apt_conf_get(c, "Acquire::ftp::Timeout"));
  CU_ASSERT_PTR_NULL(apt_conf_get(c, "Acquire::http")); /* an inner node has no value */
  CU_ASSERT_EQUAL(apt_conf_int(c, "Acquire::http::Timeout", 30), 20);
  CU_ASSERT_EQUAL(apt_conf_int(c, "Acquire::http::Dl-Limit", 0), 16); /* strtol base 0 */
  CU_ASSERT_EQUAL(apt_conf_int(c, "Acquire::http::Pipeline-Depth", 10), 10);
  CU_ASSERT_EQUAL(apt_conf_int(c, "Nope", -1), -1);
  CU_ASSERT_EQUAL(apt_conf_bool(c, "Acquire::Send-URI-Encoded", 0), 1);

  char err[128];
  CU_ASSERT_EQUAL(apt_conf_item(c, "NoEquals", err, sizeof err), -1);
  CU_ASSERT_STRING_EQUAL(err, "no '=' in 'NoEquals'");
  CU_ASSERT_EQUAL(apt_conf_item(c, "K=a=b", err, sizeof err), 0); /* first '=' splits */
  CU_ASSERT_STRING_EQUAL(NN(apt_conf_get(c, "k")), "a=b");
  apt_conf_free(c);

  /* A bad item: its number, and the items before it kept. */
  struct parsed p;
  const char *m = "601 Configuration\nConfig-Item: a=1\nOther: x\nConfig-Item: b\n\n";
  parse_all(m, strlen(m), MAXMSG, &p);
  c = apt_conf_new();
  CU_ASSERT_EQUAL(apt_conf_from_msg(c, &p.m[0], err, sizeof err), -1);
  CU_ASSERT_STRING_EQUAL(err, "Config-Item 2: no '=' in 'b'");
  CU_ASSERT_STRING_EQUAL(NN(apt_conf_get(c, "a")), "1");
  parsed_free(&p);
  apt_conf_free(c);
  apt_conf_free(NULL);
}

static void test_conf_bool(void) {
  struct apt_conf *c = apt_conf_new();
  struct {
    const char *v;
    int dflt, want;
  } b[] = {{"yes", 0, 1},   {"TRUE", 0, 1},    {"with", 0, 1}, {"On", 0, 1},    {"enable", 0, 1},
           {"1", 0, 1},     {"0x1", 0, 1},     {"no", 1, 0},   {"False", 1, 0}, {"without", 1, 0},
           {"off", 1, 0},   {"disable", 1, 0}, {"0", 1, 0},    {"2", 0, 0},     {"2", 1, 1},
           {"maybe", 1, 1}, {"maybe", 0, 0},   {"1x", 0, 0},   {" 1", 0, 1}};
  for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
    apt_conf_set(c, "K", b[i].v);
    CU_ASSERT_EQUAL(apt_conf_bool(c, "K", b[i].dflt), b[i].want);
  }
  CU_ASSERT_EQUAL(apt_conf_bool(c, "Unset", 1), 1);
  CU_ASSERT_EQUAL(apt_conf_bool(c, "Unset", 0), 0);
  apt_conf_free(c);
}

static void test_conf_find_order(void) {
  struct apt_conf *c = apt_conf_new();
  const char *keys[] = {"Acquire::http::Timeout", "Acquire::https::Timeout",
                        "Acquire::http::deb.example::Timeout",
                        "Acquire::https::deb.example::Timeout"};
  /* Set them one by one, most general first; each must take over. */
  const char *want_https[] = {"0", "1", "2", "3"};
  for (int i = 0; i < 4; i++) {
    char v[16];
    snprintf(v, sizeof v, "%d", i);
    apt_conf_set(c, keys[i], v);
    CU_ASSERT_STRING_EQUAL(NN(apt_conf_find(c, "https", "deb.example", "Timeout")), want_https[i]);
  }
  /* http never sees https keys */
  CU_ASSERT_STRING_EQUAL(NN(apt_conf_find(c, "http", "deb.example", "Timeout")), "2");
  CU_ASSERT_STRING_EQUAL(NN(apt_conf_find(c, "http", "other", "Timeout")), "0");
  CU_ASSERT_STRING_EQUAL(NN(apt_conf_find(c, "https", "other", "Timeout")), "1");
  CU_ASSERT_STRING_EQUAL(NN(apt_conf_find(c, "https", NULL, "Timeout")), "1");
  /* apt's order: an http host key beats the general https key */
  apt_conf_set(c, "Acquire::https::deb.example::Timeout", "");
  CU_ASSERT_STRING_EQUAL(NN(apt_conf_find(c, "https", "deb.example", "Timeout")), "2");
  CU_ASSERT_STRING_EQUAL(NN(apt_conf_find(c, "HTTPS", "DEB.example", "timeout")),
                         "1"); /* no http fallback for "HTTPS" */
  CU_ASSERT_PTR_NULL(apt_conf_find(c, "ftp", "deb.example", "Timeout"));
  CU_ASSERT_PTR_NULL(apt_conf_find(c, "https", "deb.example", "Nope"));
  apt_conf_free(c);
}

static void test_conf_list(void) {
  /* What 601 carries for a list: Dump's %F of an item with an empty tag. */
  struct apt_conf *c = conf_from("601 Configuration\n"
                                 "Config-Item: APT::Sandbox::Seccomp::Allow::=read\n"
                                 "Config-Item: APT::Sandbox::Seccomp::Allow::=write\n"
                                 "Config-Item: APT::Sandbox::Seccomp::Allow::=read\n"
                                 "Config-Item: Named::0=zero\n"
                                 "Config-Item: Named::1=one\n"
                                 "Config-Item: Named::0=ZERO\n"
                                 "Config-Item: Comma=a,,b\n"
                                 "\n");
  const char **v;
  CU_ASSERT_EQUAL_FATAL(apt_conf_list(c, "APT::Sandbox::Seccomp::Allow", &v), 3);
  CU_ASSERT_STRING_EQUAL(NN(v[0]), "read");
  CU_ASSERT_STRING_EQUAL(NN(v[1]), "write");
  CU_ASSERT_STRING_EQUAL(NN(v[2]), "read");
  free(v);
  CU_ASSERT_EQUAL_FATAL(apt_conf_list(c, "named", &v), 2);
  CU_ASSERT_STRING_EQUAL(NN(v[0]), "ZERO");
  CU_ASSERT_STRING_EQUAL(NN(v[1]), "one");
  /* the strings live in the block: still valid after the tree is gone */
  apt_conf_free(c);
  CU_ASSERT_STRING_EQUAL(NN(v[1]), "one");
  free(v);
  c = conf_from("601 Configuration\nConfig-Item: Comma=a,,b\n\n");
  CU_ASSERT_EQUAL_FATAL(apt_conf_list(c, "Comma", &v), 3);
  CU_ASSERT_STRING_EQUAL(NN(v[0]), "a");
  CU_ASSERT_STRING_EQUAL(NN(v[1]), "");
  CU_ASSERT_STRING_EQUAL(NN(v[2]), "b");
  free(v);
  CU_ASSERT_EQUAL(apt_conf_list(c, "Missing", &v), 0);
  CU_ASSERT_PTR_NULL(v);
  apt_conf_free(c);
}

static void test_conf_file_dir(void) {
  /* As apt 2.6 sends them (init.cc defaults, then Dump). */
  struct apt_conf *c = conf_from("601 Configuration\n"
                                 "Config-Item: Dir=/\n"
                                 "Config-Item: Dir::Etc=etc/apt/\n"
                                 "Config-Item: Dir::Etc::netrc=auth.conf\n"
                                 "Config-Item: Dir::Etc::netrcparts=auth.conf.d\n"
                                 "Config-Item: Dir::Etc::trusted=/abs/trusted.gpg\n"
                                 "Config-Item: Dir::Etc::local=./local\n"
                                 "Config-Item: Dir::Log=var/log/apt\n"
                                 "Config-Item: Dir::Log::Terminal=term.log\n"
                                 "\n");
  char *f = apt_conf_file(c, "Dir::Etc::netrc", NULL);
  CU_ASSERT_STRING_EQUAL(f, "/etc/apt/auth.conf");
  free(f);
  f = apt_conf_dir(c, "Dir::Etc::netrcparts", NULL);
  CU_ASSERT_STRING_EQUAL(f, "/etc/apt/auth.conf.d/");
  free(f);
  f = apt_conf_file(c, "Dir::Etc::trusted", NULL);
  CU_ASSERT_STRING_EQUAL(f, "/abs/trusted.gpg");
  free(f);
  f = apt_conf_file(c, "Dir::Etc::local", NULL);
  CU_ASSERT_STRING_EQUAL(f, "./local");
  free(f);
  f = apt_conf_file(c, "Dir::Log::Terminal", NULL); /* "var/log/apt" + '/' + "term.log" */
  CU_ASSERT_STRING_EQUAL(f, "/var/log/apt/term.log");
  free(f);
  f = apt_conf_file(c, "Dir::Etc::Missing", "dflt");
  CU_ASSERT_STRING_EQUAL(f, "dflt");
  free(f);
  /* RootDir goes in front of everything */
  apt_conf_set(c, "RootDir", "/chroot");
  f = apt_conf_file(c, "Dir::Etc::netrc", NULL);
  CU_ASSERT_STRING_EQUAL(f, "/chroot/etc/apt/auth.conf");
  free(f);
  apt_conf_set(c, "Dir::Etc::netrc", "/dev/null");
  f = apt_conf_file(c, "Dir::Etc::netrc", NULL);
  CU_ASSERT_STRING_EQUAL(f, "/chroot/dev/null");
  free(f);
  apt_conf_free(c);
}

static void test_conf_move_subtree(void) {
  struct apt_conf *c = conf_from("601 Configuration\n"
                                 "Config-Item: Acquire::https::Proxy=http://general:3128\n"
                                 "Config-Item: Binary::https::Acquire::https::Proxy=DIRECT\n"
                                 "Config-Item: Binary::https::APT::List::=a\n"
                                 "Config-Item: Binary::https::APT::List::=b\n"
                                 "Config-Item: Binary::http::Acquire::http::Proxy=http://h:1\n"
                                 "\n");
  CU_ASSERT_EQUAL(apt_conf_move_subtree(c, "Binary::https", NULL), 0);
  CU_ASSERT_STRING_EQUAL(NN(apt_conf_get(c, "Acquire::https::Proxy")), "DIRECT");
  CU_ASSERT_PTR_NULL(apt_conf_get(c, "Acquire::http::Proxy")); /* http's stays its own */
  CU_ASSERT_PTR_NULL(apt_conf_get(c, "Binary::https::Acquire::https::Proxy"));
  const char **v;
  CU_ASSERT_EQUAL_FATAL(apt_conf_list(c, "APT::List", &v), 2);
  CU_ASSERT_STRING_EQUAL(NN(v[0]), "a");
  CU_ASSERT_STRING_EQUAL(NN(v[1]), "b");
  free(v);
  CU_ASSERT_EQUAL(apt_conf_move_subtree(c, "Binary::nothing", NULL), 0);
  CU_ASSERT_EQUAL(apt_conf_move_subtree(c, "Binary::http", "Binary::http::x"),
                  0); /* into itself: no-op */
  CU_ASSERT_STRING_EQUAL(NN(apt_conf_get(c, "Binary::http::Acquire::http::Proxy")), "http://h:1");
  CU_ASSERT_EQUAL(apt_conf_move_subtree(c, "Binary::http", "Moved"), 0);
  CU_ASSERT_STRING_EQUAL(NN(apt_conf_get(c, "Moved::Acquire::http::Proxy")), "http://h:1");
  apt_conf_free(c);
}

/* --- auth.conf -------------------------------------------------------------- */

static struct apt_netrc *netrc_of(const char *text, int want_rc, const char *want_err) {
  struct apt_netrc *n = apt_netrc_new();
  char err[256] = "";
  CU_ASSERT_EQUAL(apt_netrc_parse(n, text, strlen(text), "auth.conf", err, sizeof err), want_rc);
  if (want_err)
    CU_ASSERT_STRING_EQUAL(err, want_err);
  return n;
}

/* "login:password" found for uri, or "-" */
static const char *creds(const struct apt_netrc *n, const char *uri) {
  static char buf[256];
  const char *l, *p;
  if (!apt_netrc_find(n, uri, &l, &p))
    return "-";
  snprintf(buf, sizeof buf, "%s:%s", l, p);
  return buf;
}

static void test_netrc_match(void) {
  struct apt_netrc *n = netrc_of("# comment lines are tokens too in apt, harmless here\n"
                                 "machine plain.example login pu password pp\n"
                                 "machine http://annotated.example login au password ap\n"
                                 "machine https://port.example:8443 login p8443 password x\n"
                                 "machine port.example login pany password y\n"
                                 "machine path.example/debian login du\tpassword dp\r\n"
                                 "machine first.example login one password 1\n"
                                 "machine first.example login two password 2\n"
                                 "machine [::1]:8080 login bracket password b\n"
                                 "machine ::1:8080 login v6 password 6\n",
                                 0, NULL);
  /* no scheme: https only (apt 2.x) */
  CU_ASSERT_STRING_EQUAL(creds(n, "https://plain.example/debian/x.deb"), "pu:pp");
  CU_ASSERT_STRING_EQUAL(creds(n, "http://plain.example/debian/x.deb"), "-");
  CU_ASSERT_STRING_EQUAL(creds(n, "tor+https://plain.example/x"), "pu:pp");
  /* annotated: only that scheme */
  CU_ASSERT_STRING_EQUAL(creds(n, "http://annotated.example/x"), "au:ap");
  CU_ASSERT_STRING_EQUAL(creds(n, "https://annotated.example/x"), "-");
  /* ports: host:port entry only that port, host entry any port */
  CU_ASSERT_STRING_EQUAL(creds(n, "https://port.example:8443/x"), "p8443:x");
  CU_ASSERT_STRING_EQUAL(creds(n, "https://port.example:9000/x"), "pany:y");
  CU_ASSERT_STRING_EQUAL(creds(n, "https://port.example/x"), "pany:y");
  /* path prefix (a string prefix, as apt) */
  CU_ASSERT_STRING_EQUAL(creds(n, "https://path.example/debian/pool/a.deb"), "du:dp");
  CU_ASSERT_STRING_EQUAL(creds(n, "https://path.example/debian-security/x"), "du:dp");
  CU_ASSERT_STRING_EQUAL(creds(n, "https://path.example/ubuntu/x"), "-");
  CU_ASSERT_STRING_EQUAL(creds(n, "https://path.example:8443/debian/x"), "-");
  /* first matching entry wins */
  CU_ASSERT_STRING_EQUAL(creds(n, "https://first.example/"), "one:1");
  /* apt's URI drops the brackets: "[::1]:8080" never matches, "::1:8080" does */
  CU_ASSERT_STRING_EQUAL(creds(n, "https://[::1]:8080/x"), "v6:6");
  /* hosts compare exactly; a sub-domain is another machine */
  CU_ASSERT_STRING_EQUAL(creds(n, "https://sub.plain.example/"), "-");
  /* the URI's own credentials win: nothing from auth.conf */
  CU_ASSERT_STRING_EQUAL(creds(n, "https://me:pw@plain.example/"), "-");
  CU_ASSERT_STRING_EQUAL(creds(n, "not a uri"), "-");
  apt_netrc_free(n);
  apt_netrc_free(NULL);
}

static void test_netrc_syntax(void) {
  struct apt_netrc *n = netrc_of("machine h.example login u\n\npassword\n", -1,
                                 "auth.conf:3: 'password' without a value");
  /* apt still uses the file: the login it read */
  CU_ASSERT_STRING_EQUAL(creds(n, "https://h.example/"), "u:");
  apt_netrc_free(n);
  n = netrc_of("machine\n", -1, "auth.conf:1: 'machine' without a value");
  apt_netrc_free(n);
  n = netrc_of("login x machine h.example password p\n", -1,
               "auth.conf:1: 'login' before any 'machine' (ignored)");
  CU_ASSERT_STRING_EQUAL(creds(n, "https://h.example/"), ":p");
  apt_netrc_free(n);
  /* "default" is no keyword in apt 2.6: its login/password land on the
   * machine before it; for other hosts it gives nothing */
  n = netrc_of("machine a.example login u password p\ndefault login d password q\n", -1,
               "auth.conf:2: 'default' is not supported by apt 2.6 (read as plain tokens: the "
               "login and password after it would replace those of the machine before it)");
  CU_ASSERT_STRING_EQUAL(creds(n, "https://a.example/"), "d:q");
  CU_ASSERT_STRING_EQUAL(creds(n, "https://b.example/"), "-");
  apt_netrc_free(n);
  n = netrc_of("machine a.example login u password p\nmacdef init\nmachine b.example\n\n", -1,
               NULL);
  apt_netrc_free(n);
  /* a password that reads as a keyword: apt's state machine, token by token */
  n = netrc_of("machine a.example login machine password p\n", 0, NULL);
  CU_ASSERT_STRING_EQUAL(creds(n, "https://a.example/"), "machine:p");
  apt_netrc_free(n);
  n = netrc_of("", 0, NULL);
  CU_ASSERT_STRING_EQUAL(creds(n, "https://a.example/"), "-");
  apt_netrc_free(n);
}

static void test_netrc_files(void) {
  /* file order: the first file that gives a login or password wins; an entry
   * that matches without either lets the next file try */
  struct apt_netrc *n = apt_netrc_new();
  char err[256];
  const char *f1 = "machine a.example\nmachine b.example login b1 password x\n";
  const char *f2 = "machine a.example login a2 password y\nmachine b.example login b2\n";
  CU_ASSERT_EQUAL(apt_netrc_parse(n, f1, strlen(f1), "f1", err, sizeof err), 0);
  CU_ASSERT_EQUAL(apt_netrc_parse(n, f2, strlen(f2), "f2", err, sizeof err), 0);
  CU_ASSERT_STRING_EQUAL(creds(n, "https://a.example/"), "a2:y");
  CU_ASSERT_STRING_EQUAL(creds(n, "https://b.example/"), "b1:x");
  apt_netrc_free(n);
}

static int rm_cb(const char *p, const struct stat *s, int flag, struct FTW *f) {
  return remove(p);
}

static void put(const char *dir, const char *name, const char *text) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  CU_ASSERT_FATAL(f != NULL);
  fputs(text, f);
  fclose(f);
}

static void test_netrc_load(void) {
  char root[256];
  const char *tmp = getenv("TMPDIR");
  snprintf(root, sizeof root, "%s/pfh-apt-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  CU_ASSERT_FATAL(mkdtemp(root) != NULL);
  char parts[300], file[300];
  snprintf(parts, sizeof parts, "%s/auth.conf.d", root);
  snprintf(file, sizeof file, "%s/auth.conf", root);
  CU_ASSERT_FATAL(mkdir(parts, 0755) == 0);
  put(root, "auth.conf", "machine main.example login main password m\n");
  /* read, in this order: 10-b.conf, 20-noext, 30:c.conf; skipped: the rest */
  put(parts, "30:c.conf",
      "machine all.example login c password 3\n"
      "machine c.example login c password 3\n");
  put(parts, "10-b.conf", "machine b.example login b password 1\n");
  put(parts, "20-noext", "machine all.example login noext password 2\n");
  put(parts, ".hidden.conf", "machine all.example login hidden password h\n");
  put(parts, "00-x.txt", "machine all.example login txt password t\n");
  put(parts, "00-x.conf.bak", "machine all.example login bak password k\n");
  put(parts, "00 space.conf", "machine all.example login space password s\n");
  put(parts, "00-trail.", "machine all.example login trail password d\n");
  char sub[320];
  snprintf(sub, sizeof sub, "%s/05-dir.conf", parts);
  CU_ASSERT(mkdir(sub, 0755) == 0);
  struct apt_netrc *n = apt_netrc_new();
  char err[512] = "";
  CU_ASSERT_EQUAL(apt_netrc_load(n, file, parts, err, sizeof err), 0);
  CU_ASSERT_STRING_EQUAL(err, "");
  CU_ASSERT_STRING_EQUAL(creds(n, "https://main.example/"), "main:m");
  CU_ASSERT_STRING_EQUAL(creds(n, "https://b.example/"), "b:1");
  CU_ASSERT_STRING_EQUAL(creds(n, "https://all.example/"), "noext:2");
  CU_ASSERT_STRING_EQUAL(creds(n, "https://c.example/"), "c:3");
  apt_netrc_free(n);

  /* missing file and dir: fine */
  n = apt_netrc_new();
  char nofile[300], nodir[300];
  snprintf(nofile, sizeof nofile, "%s/none.conf", root);
  snprintf(nodir, sizeof nodir, "%s/none.d", root);
  CU_ASSERT_EQUAL(apt_netrc_load(n, nofile, nodir, err, sizeof err), 0);
  CU_ASSERT_EQUAL(apt_netrc_load(n, NULL, "", err, sizeof err), 0);
  apt_netrc_free(n);

  /* unreadable (a directory where the file should be): path + strerror, and
   * the parts are still read */
  n = apt_netrc_new();
  CU_ASSERT_EQUAL(apt_netrc_load(n, parts, parts, err, sizeof err), -1);
  char want[400];
  snprintf(want, sizeof want, "%s: Is a directory", parts);
  CU_ASSERT_STRING_EQUAL(err, want);
  CU_ASSERT_STRING_EQUAL(creds(n, "https://b.example/"), "b:1");
  apt_netrc_free(n);

  /* a syntax problem in a part: named with its path and line */
  put(parts, "40-bad.conf", "machine x.example\nlogin\n");
  n = apt_netrc_new();
  CU_ASSERT_EQUAL(apt_netrc_load(n, file, parts, err, sizeof err), -1);
  snprintf(want, sizeof want, "%s/40-bad.conf:2: 'login' without a value", parts);
  CU_ASSERT_STRING_EQUAL(err, want);
  CU_ASSERT_STRING_EQUAL(creds(n, "https://c.example/"), "c:3");
  apt_netrc_free(n);
  nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* --- proxy and URI ------------------------------------------------------------ */

static const char *fake_env[8][2];

static const char *fake_getenv(const char *name) {
  for (size_t i = 0; i < 8 && fake_env[i][0]; i++)
    if (strcmp(fake_env[i][0], name) == 0)
      return fake_env[i][1];
  return NULL;
}

static void set_env(const char *a, const char *av, const char *b, const char *bv, const char *c,
                    const char *cv) {
  memset(fake_env, 0, sizeof fake_env);
  size_t k = 0;
  if (a)
    fake_env[k][0] = a, fake_env[k++][1] = av;
  if (b)
    fake_env[k][0] = b, fake_env[k++][1] = bv;
  if (c)
    fake_env[k][0] = c, fake_env[k++][1] = cv;
}

static char proxy_buf[256];
static const char *proxy(const struct apt_conf *c, const char *uri, const char *msg) {
  char *p = apt_proxy_for(c, uri, msg, fake_getenv);
  snprintf(proxy_buf, sizeof proxy_buf, "%s", p ? p : "DIRECT");
  free(p);
  return proxy_buf;
}

static void test_proxy_precedence(void) {
  struct apt_conf *c = apt_conf_new();
  set_env("http_proxy", "http://env-http:1", "https_proxy", "http://env-https:2", NULL, NULL);
  /* 3. environment: https_proxy for https, http_proxy for http */
  CU_ASSERT_STRING_EQUAL(proxy(c, "http://h.example/a", NULL), "http://env-http:1");
  CU_ASSERT_STRING_EQUAL(proxy(c, "https://h.example/a", NULL), "http://env-https:2");
  set_env("http_proxy", "http://env-http:1", NULL, NULL, NULL, NULL);
  CU_ASSERT_STRING_EQUAL(proxy(c, "https://h.example/a", NULL), "http://env-http:1");
  set_env("http_proxy", "http://env-http:1", "https_proxy", "", NULL, NULL);
  CU_ASSERT_STRING_EQUAL(proxy(c, "https://h.example/a", NULL), "DIRECT"); /* set but empty */
  set_env("HTTP_PROXY", "http://upper:1", NULL, NULL, NULL, NULL);
  CU_ASSERT_STRING_EQUAL(proxy(c, "http://h.example/a", NULL), "DIRECT"); /* lower case only */

  /* 2. Acquire::http::Proxy beats the environment, applies to https too */
  set_env("http_proxy", "http://env-http:1", "https_proxy", "http://env-https:2", NULL, NULL);
  apt_conf_set(c, "Acquire::http::Proxy", "http://conf-http:3");
  CU_ASSERT_STRING_EQUAL(proxy(c, "http://h.example/a", NULL), "http://conf-http:3");
  CU_ASSERT_STRING_EQUAL(proxy(c, "https://h.example/a", NULL), "http://conf-http:3");
  apt_conf_set(c, "Acquire::https::Proxy", "http://conf-https:4");
  CU_ASSERT_STRING_EQUAL(proxy(c, "https://h.example/a", NULL), "http://conf-https:4");
  CU_ASSERT_STRING_EQUAL(proxy(c, "http://h.example/a", NULL), "http://conf-http:3");

  /* 1. Proxy::<host> beats Proxy; DIRECT there means none */
  apt_conf_set(c, "Acquire::http::Proxy::h.example", "http://host-http:5");
  CU_ASSERT_STRING_EQUAL(proxy(c, "http://h.example/a", NULL), "http://host-http:5");
  CU_ASSERT_STRING_EQUAL(proxy(c, "https://h.example/a", NULL), "http://host-http:5");
  CU_ASSERT_STRING_EQUAL(proxy(c, "http://other.example/a", NULL), "http://conf-http:3");
  apt_conf_set(c, "Acquire::https::Proxy::h.example", "DIRECT");
  CU_ASSERT_STRING_EQUAL(proxy(c, "https://h.example/a", NULL), "DIRECT");
  CU_ASSERT_STRING_EQUAL(proxy(c, "http://h.example/a", NULL), "http://host-http:5");

  /* the 600 Proxy field stands for Acquire::<scheme>::Proxy::<host> */
  CU_ASSERT_STRING_EQUAL(proxy(c, "https://h.example/a", "http://auto:6"), "http://auto:6");
  CU_ASSERT_STRING_EQUAL(proxy(c, "http://h.example/a", "DIRECT"), "DIRECT");
  CU_ASSERT_STRING_EQUAL(proxy(c, "http://h.example/a", ""), "http://host-http:5");
  /* ... but an Acquire::https::<host>::Proxy::<host> key comes before it in apt */
  apt_conf_set(c, "Acquire::https::h.example::Proxy::h.example", "http://odd:7");
  CU_ASSERT_STRING_EQUAL(proxy(c, "https://h.example/a", "http://auto:6"), "http://odd:7");
  apt_conf_set(c, "Acquire::https::h.example::Proxy::h.example", "");

  /* 4. no_proxy after all of them, a configured proxy too */
  set_env("no_proxy", "localhost,.example", NULL, NULL, NULL, NULL);
  CU_ASSERT_STRING_EQUAL(proxy(c, "http://h.example/a", NULL), "DIRECT");
  CU_ASSERT_STRING_EQUAL(proxy(c, "https://h.example/a", "http://auto:6"), "DIRECT");
  CU_ASSERT_STRING_EQUAL(proxy(c, "http://h.example.org/a", NULL), "http://conf-http:3");

  /* general Proxy "DIRECT" or hostless: a direct connection, as apt */
  apt_conf_free(c);
  c = apt_conf_new();
  set_env(NULL, NULL, NULL, NULL, NULL, NULL);
  apt_conf_set(c, "Acquire::http::Proxy", "DIRECT");
  CU_ASSERT_STRING_EQUAL(proxy(c, "http://h.example/a", NULL), "DIRECT");
  apt_conf_set(c, "Acquire::http::Proxy", "http://");
  CU_ASSERT_STRING_EQUAL(proxy(c, "http://h.example/a", NULL), "DIRECT");
  apt_conf_set(c, "Acquire::http::Proxy", "http://user:pw@proxy.example:3128/");
  CU_ASSERT_STRING_EQUAL(proxy(c, "http://h.example/a", NULL),
                         "http://user:pw@proxy.example:3128/");
  CU_ASSERT_STRING_EQUAL(proxy(c, "not a uri", NULL), "DIRECT");
  apt_conf_free(c);
}

static void test_no_proxy_match(void) {
  struct {
    const char *host, *list;
    int want;
  } t[] = {
      {"www.example.com", "example.com", 1},
      {"badexample.com", "example.com", 1},
      {"example.com", ".example.com", 0},
      {"a.example.com", ".example.com", 1},
      {"WWW.Example.COM", "example.com", 1},
      {"h", "", 0},
      {"h", ",,", 0},
      {"h", "x,h", 1},
      {"h", "h,x", 1},
      {"h", " h", 0},
      {"h", "*", 0},
      {"127.0.0.1", "127.0.0.1", 1},
      {"h.example", "other,xample", 1},
      {"ex", "example", 0},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    CU_ASSERT_EQUAL(apt_no_proxy_match(t[i].host, t[i].list), t[i].want);
}

static void test_uri_split(void) {
  struct {
    const char *uri, *scheme, *host;
    int port;
    const char *path;
  } ok[] = {
      {"http://deb.debian.org/debian/dists/x", "http", "deb.debian.org", 0, "/debian/dists/x"},
      {"https://u:p%40w@h:8443/a?b", "https", "h", 8443, "/a?b"},
      {"http://[::1]:8080/x", "http", "::1", 8080, "/x"},
      {"http://[fe80::1]/", "http", "fe80::1", 0, "/"},
      {"http://h", "http", "h", 0, "/"},
      {"http://h:/p", "http", "h", 0, "/p"},
      {"tor+https://onion/x", "tor+https", "onion", 0, "/x"},
      {"http://a@b@h/x", "http", "h", 0, "/x"},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    char *s, *h, *p;
    int port;
    CU_ASSERT_EQUAL_FATAL(apt_uri_split(ok[i].uri, &s, &h, &port, &p), 0);
    CU_ASSERT_STRING_EQUAL(s, ok[i].scheme);
    CU_ASSERT_STRING_EQUAL(h, ok[i].host);
    CU_ASSERT_EQUAL(port, ok[i].port);
    CU_ASSERT_STRING_EQUAL(p, ok[i].path);
    free(s);
    free(h);
    free(p);
  }
  struct apt_uri u;
  CU_ASSERT_EQUAL(apt_uri_parse("https://u:p%40w@h/", &u), 0);
  CU_ASSERT_STRING_EQUAL(u.user, "u");
  CU_ASSERT_STRING_EQUAL(u.password, "p@w");
  apt_uri_free(&u);
  CU_ASSERT_EQUAL(apt_uri_parse("https://only@h/", &u), 0);
  CU_ASSERT_STRING_EQUAL(u.user, "only");
  CU_ASSERT_PTR_NULL(u.password);
  apt_uri_free(&u);
  const char *bad[] = {"",
                       "http:/h/x",
                       "http//h",
                       "://h/",
                       "http:///x",
                       "http://[::1/x",
                       "http://h:99999/",
                       "http://h:0/",
                       "http://h:8a/",
                       "http://[::1]x/",
                       "http://u@/x",
                       "h:80"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *s = (char *)1, *h = (char *)1, *p = (char *)1;
    int port = 7;
    CU_ASSERT_EQUAL(apt_uri_split(bad[i], &s, &h, &port, &p), -1);
    CU_ASSERT(s == NULL && h == NULL && p == NULL && port == 0);
  }
}

int pf_suite_apt(void) {
  CU_pSuite s = CU_add_suite("apt", NULL, NULL);
  if (!s)
    return CU_get_error();
  if (!CU_add_test(s, "message framing", test_msg_basic) ||
      !CU_add_test(s, "malformed messages, then the next one", test_msg_malformed_and_resync) ||
      !CU_add_test(s, "a stream split at every byte", test_msg_split_every_byte) ||
      !CU_add_test(s, "over-long messages", test_msg_over_long) ||
      !CU_add_test(s, "end of input inside a message", test_msg_eof) ||
      !CU_add_test(s, "output sanitising", test_out_sanitises) ||
      !CU_add_test(s, "QuoteString / DeQuoteString", test_quote) ||
      !CU_add_test(s, "601 Config-Item", test_conf_items) ||
      !CU_add_test(s, "StringToBool", test_conf_bool) ||
      !CU_add_test(s, "per-host lookup order", test_conf_find_order) ||
      !CU_add_test(s, "lists in 601", test_conf_list) ||
      !CU_add_test(s, "FindFile / FindDir", test_conf_file_dir) ||
      !CU_add_test(s, "Binary:: subtree", test_conf_move_subtree) ||
      !CU_add_test(s, "auth.conf matching", test_netrc_match) ||
      !CU_add_test(s, "auth.conf syntax problems", test_netrc_syntax) ||
      !CU_add_test(s, "auth.conf file order", test_netrc_files) ||
      !CU_add_test(s, "auth.conf and auth.conf.d loading", test_netrc_load) ||
      !CU_add_test(s, "proxy precedence", test_proxy_precedence) ||
      !CU_add_test(s, "no_proxy matching", test_no_proxy_match) ||
      !CU_add_test(s, "URI split", test_uri_split))
    return CU_get_error();
  return CUE_SUCCESS;
}
