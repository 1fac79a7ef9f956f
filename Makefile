# parfetch - build, test, install, demo, bench and sanitizer targets.
#
#   make              build/parfetch.so (plugin), build/parfetch (CLI host) and
#                     build/apt/parfetch (the apt acquire method)
#   make test         unit + integration tests, then the unit and integration
#                     suites again under ASan+UBSan and TSan
#   make demo         serve a generated 256 MiB file from nginx on loopback and
#                     download it with 8 streams and a progress bar
#   make bench        compare with aria2c, axel, wget2, rclone and curl
#   make bench-apt    apt's own http method against build/apt/parfetch (bench/apt.sh)
#   make package-test build the Debian packages in a fresh Debian 12 root, lint,
#                     install, use and remove them (scripts/package-test.sh)
#   make fuzz         run every tests/fuzz/ harness FUZZ_SECONDS (default 60)
#                     with libFuzzer (clang); make test replays their corpora
#   make install      honours PREFIX, DESTDIR, LIBDIR (multiarch: the plugin goes
#                     to LIBDIR/parfetch), SYSCONFDIR, APTMETHODDIR, MANDIR
#
# The user's CFLAGS/LDFLAGS are kept apart from the project's own flags.

VERSION    := $(shell sed -n 's/^\#define PF_VERSION "\(.*\)"/\1/p' plugin/include/parfetch.h)
ABI_MAJOR  := $(shell sed -n 's/^\#define PF_ABI_MAJOR \([0-9]*\)/\1/p' plugin/include/parfetch.h)

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
PLUGINDIR  ?= $(LIBDIR)/parfetch
INCLUDEDIR ?= $(PREFIX)/include
SYSCONFDIR ?= /etc
DOCDIR     ?= $(PREFIX)/share/doc/parfetch
APTMETHODDIR ?= $(PREFIX)/lib/apt/methods
MANDIR     ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR    ?=

BUILD      ?= build
SAN        ?=
CC         ?= cc
CFLAGS     ?= -O2 -g
LDFLAGS    ?=

PKGS       := libcurl yaml-0.1 libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# jansson: the CLI's --json (host-shim/report.c) and t_json.sh's checker only.
JSON_CFLAGS := $(shell pkg-config --cflags jansson 2>/dev/null)
JSON_LIBS  := $(shell pkg-config --libs jansson 2>/dev/null)

PF_CFLAGS  := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wstrict-prototypes \
              -Wmissing-prototypes -Wno-unused-parameter -pthread -fPIC \
              -Iplugin/include -Iplugin -Ihost-shim $(PKG_CFLAGS) $(JSON_CFLAGS) $(SAN) \
              -DPF_PLUGINDIR='"$(PLUGINDIR)"' -DPF_SYSCONFDIR='"$(SYSCONFDIR)/parfetch"'
PF_LDFLAGS := -pthread $(SAN)

PLUGIN_SRC := $(wildcard plugin/*.c)
# The CLI's alone: report.c (--json, jansson) and credentials.c (-u, --netrc; it uses
# plugin/text.c); the other hosts link HOST_OBJ without them.
CLI_LIB    := host-shim/report.c host-shim/credentials.c
HOST_LIB   := $(filter-out host-shim/main.c $(CLI_LIB),$(wildcard host-shim/*.c))
CLI_OBJ    := $(CLI_LIB:%.c=$(BUILD)/obj/%.o)
UNIT_SRC   := $(wildcard tests/unit/*.c)
FAULT_SRC  := $(filter-out tests/fault/serial_tls.c,$(wildcard tests/fault/*.c))

# The apt method's pure parts (host-shim/apt/apt_*.c): 601 config, message
# framing, auth.conf, proxy choice, dates and FailReason (apt_util). Unit-tested
# and fuzzed; the method (method.c) links them.
APT_LIB_SRCS = host-shim/apt/apt_msg.c host-shim/apt/apt_conf.c host-shim/apt/apt_netrc.c \
               host-shim/apt/apt_proxy.c host-shim/apt/apt_util.c
APT_LIB_OBJ := $(APT_LIB_SRCS:%.c=$(BUILD)/obj/%.o)

PLUGIN_OBJ := $(PLUGIN_SRC:%.c=$(BUILD)/obj/%.o)
HOST_OBJ   := $(HOST_LIB:%.c=$(BUILD)/obj/%.o)
UNIT_OBJ   := $(UNIT_SRC:%.c=$(BUILD)/obj/%.o)

EXAMPLES   := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))

# Fuzz harnesses: tests/fuzz/fuzz_NAME.c, seed corpus tests/fuzz/corpus/NAME/.
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REGRESS := $(FUZZ_NAMES:%=$(BUILD)/fuzz-regress/fuzz_%)

.PHONY: all deps test unit integration examples testbins demo bench bench-apt install uninstall \
        package-test \
        clean asan tsan test-sanitizers format fuzz fuzz-build fuzz-regression

all: $(BUILD)/parfetch.so $(BUILD)/parfetch $(BUILD)/apt/parfetch

deps:
	@bash scripts/deps.sh build

$(BUILD)/obj/%.o: %.c $(wildcard plugin/*.h plugin/include/*.h host-shim/*.h host-shim/apt/*.h tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(PF_CFLAGS) $(CFLAGS) -c -o $@ $<

$(APT_LIB_OBJ) $(UNIT_OBJ): $(wildcard host-shim/apt/*.h)

# The plugin: everything hidden but the one entry symbol.
$(BUILD)/parfetch.so: $(PLUGIN_OBJ) plugin/parfetch.map
	$(CC) -shared -fvisibility=hidden -Wl,--version-script=plugin/parfetch.map \
	  -Wl,-soname,parfetch.so.$(ABI_MAJOR) -Wl,-z,defs -o $@ $(PLUGIN_OBJ) \
	  $(PF_LDFLAGS) $(LDFLAGS) $(PKG_LIBS)

# plugin/text.c (pure) cleans the host's messages too: one filter for both.
$(BUILD)/parfetch: $(BUILD)/obj/host-shim/main.o $(HOST_OBJ) $(CLI_OBJ) $(BUILD)/obj/plugin/text.o
	$(CC) -o $@ $^ $(PF_LDFLAGS) $(LDFLAGS) -ldl $(shell pkg-config --libs yaml-0.1) $(JSON_LIBS)

# The apt method; it finds the plugin next to itself (the link), else in
# PLUGINDIR.
$(BUILD)/apt/parfetch: $(BUILD)/obj/host-shim/apt/method.o $(APT_LIB_OBJ) $(HOST_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(PF_LDFLAGS) $(LDFLAGS) -ldl $(shell pkg-config --libs yaml-0.1 libcrypto)
	ln -sfn ../parfetch.so $(BUILD)/apt/parfetch.so

$(BUILD)/unit_tests: $(UNIT_OBJ) $(PLUGIN_OBJ) $(HOST_OBJ) $(APT_LIB_OBJ) $(CLI_OBJ)
	$(CC) -o $@ $^ $(PF_LDFLAGS) $(LDFLAGS) $(PKG_LIBS) -ldl -lcunit $(JSON_LIBS)

$(BUILD)/examples/%: examples/%.c $(HOST_OBJ) plugin/include/parfetch.h
	@mkdir -p $(dir $@)
	$(CC) $(PF_CFLAGS) $(CFLAGS) -o $@ $< $(HOST_OBJ) $(PF_LDFLAGS) $(LDFLAGS) -ldl \
	  $(shell pkg-config --libs yaml-0.1)

$(BUILD)/fault_server: $(FAULT_SRC) $(wildcard tests/fault/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(PF_CFLAGS) $(CFLAGS) -o $@ $(FAULT_SRC) $(PF_LDFLAGS) $(LDFLAGS) $(shell pkg-config --libs libmicrohttpd)

# Test hosts that drive the ABI into corners the CLI cannot reach.
$(BUILD)/engine_host: tests/integration/fixtures/engine_host.c $(HOST_OBJ) plugin/include/parfetch.h
	$(CC) $(PF_CFLAGS) $(CFLAGS) -o $@ $< $(HOST_OBJ) $(PF_LDFLAGS) $(LDFLAGS) -ldl \
	  $(shell pkg-config --libs yaml-0.1)

# A loopback TCP proxy that delays each direction and injects per-connection faults
# (tests/integration/t_proxy.sh, bench/run.sh scenarios h and i).
$(BUILD)/pfproxy: tests/proxy/pfproxy.c
	@mkdir -p $(dir $@)
	$(CC) $(PF_CFLAGS) $(CFLAGS) -o $@ $< $(PF_LDFLAGS) $(LDFLAGS)

# An HTTPS server that handshakes one connection at a time (t_preconnect.sh).
$(BUILD)/serial_tls: tests/fault/serial_tls.c
	@mkdir -p $(dir $@)
	$(CC) $(PF_CFLAGS) $(CFLAGS) -o $@ $< $(PF_LDFLAGS) $(LDFLAGS) $(shell pkg-config --libs libssl libcrypto)

# Many downloads in one process, on one client or the 1.0 way (t_client.sh, t_loop.sh).
$(BUILD)/client_host: tests/integration/fixtures/client_host.c tests/integration/fixtures/host_util.h $(HOST_OBJ) plugin/include/parfetch.h
	$(CC) $(PF_CFLAGS) $(CFLAGS) -o $@ $< $(HOST_OBJ) $(PF_LDFLAGS) $(LDFLAGS) -ldl \
	  $(shell pkg-config --libs yaml-0.1)

# A host built from the ABI 1.0 header (tests/abi10/), loader included: run
# against the current plugin (t_client.sh).
$(BUILD)/abi10_host: examples/minimal_host.c host-shim/loader.c tests/abi10/parfetch.h
	@mkdir -p $(dir $@)
	$(CC) -Itests/abi10 $(PF_CFLAGS) $(CFLAGS) -o $@ examples/minimal_host.c host-shim/loader.c \
	  $(PF_LDFLAGS) $(LDFLAGS) -ldl

# LD_PRELOAD shim for local faults (failed fsync, a pause before flock).
# Built without $(SAN): it only forwards calls.
$(BUILD)/preload/fault_preload.so: tests/integration/fixtures/fault_preload.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra $(CFLAGS) -shared -fPIC -o $@ $< -ldl

# LD_PRELOAD shim that ends a process freeing a block still holding
# $PF_SECRET (t_json.sh). glibc's allocator: built without $(SAN).
$(BUILD)/preload/secret_preload.so: tests/integration/fixtures/secret_preload.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra $(CFLAGS) -shared -fPIC -o $@ $<

# Reads parfetch --json lines for t_json.sh (jansson; no python3, no jq).
$(BUILD)/json_pick: tests/integration/fixtures/json_pick.c
	@mkdir -p $(dir $@)
	$(CC) $(PF_CFLAGS) $(CFLAGS) -o $@ $< $(PF_LDFLAGS) $(LDFLAGS) $(JSON_LIBS)

# A power loss done by hand to a side file (t_durability.sh).
$(BUILD)/side_crash: tests/integration/fixtures/side_crash.c $(BUILD)/obj/plugin/journal.o
	@mkdir -p $(dir $@)
	$(CC) $(PF_CFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/obj/plugin/journal.o $(PF_LDFLAGS) $(LDFLAGS)

TESTBINS = $(BUILD)/unit_tests $(BUILD)/fault_server $(BUILD)/engine_host
TESTBINS += $(BUILD)/pfproxy
TESTBINS += $(BUILD)/side_crash
TESTBINS += $(BUILD)/json_pick
TESTBINS += $(BUILD)/serial_tls
TESTBINS += $(BUILD)/preload/fault_preload.so $(BUILD)/preload/secret_preload.so
TESTBINS += $(BUILD)/client_host $(BUILD)/abi10_host
TESTBINS += $(FUZZ_REGRESS)

# Each harness with tests/fuzz/driver.c (a plain main, no libFuzzer): make test
# replays every corpus file once, in this build and in the ASan+UBSan one.
# The host's pure parsers of untrusted input: host-shim/netrc.c (the CLI's
# .netrc parser, and the file reader apt_netrc.c shares) and the -i list.
FUZZ_HOST_SRCS = host-shim/netrc.c host-shim/inputfile.c
FUZZ_HOST_OBJ := $(FUZZ_HOST_SRCS:%.c=$(BUILD)/obj/%.o)
$(BUILD)/fuzz-regress/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/driver.c tests/fuzz/fuzz.h $(PLUGIN_OBJ) $(APT_LIB_OBJ) $(FUZZ_HOST_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(PF_CFLAGS) $(CFLAGS) -Itests/fuzz -o $@ $< tests/fuzz/driver.c $(PLUGIN_OBJ) $(APT_LIB_OBJ) $(FUZZ_HOST_OBJ) \
	  $(PF_LDFLAGS) $(LDFLAGS) $(PKG_LIBS)

fuzz-regression: $(FUZZ_REGRESS)
	BUILD=$(BUILD) bash tests/fuzz/regress.sh

# make fuzz: libFuzzer builds in build/fuzz (clang; the plugin's objects with
# coverage), each run FUZZ_SECONDS on a scratch copy of its corpus.
FUZZ_CC    ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_OBJ   := $(PLUGIN_SRC:%.c=build/fuzz/obj/%.o) $(APT_LIB_SRCS:%.c=build/fuzz/obj/%.o) \
              $(FUZZ_HOST_SRCS:%.c=build/fuzz/obj/%.o)

build/fuzz/obj/%.o: %.c $(wildcard plugin/*.h plugin/include/*.h host-shim/*.h host-shim/apt/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(PF_CFLAGS) -O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN) -c -o $@ $<

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_OBJ)
	$(FUZZ_CC) $(PF_CFLAGS) -O1 -g -Itests/fuzz -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< \
	  $(FUZZ_OBJ) -pthread $(PKG_LIBS)

fuzz-build: $(FUZZ_NAMES:%=build/fuzz/fuzz_%)

fuzz:
	@bash scripts/deps.sh fuzz
	$(MAKE) fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh

examples: $(EXAMPLES)

unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests

testbins: $(TESTBINS)

integration: all examples testbins
	BUILD=$(BUILD) bash tests/integration/run.sh

# The sanitizer builds of make test and their run-time options.
ASAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
UBSAN_ENV = UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 $(UBSAN_ENV)
TSAN_ENV = TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

# Everything a change must pass; starts its own servers on loopback.
test:
	@bash scripts/deps.sh test
	$(MAKE) -j2 all examples testbins
	$(BUILD)/unit_tests
	BUILD=$(BUILD) bash tests/fuzz/regress.sh
	BUILD=$(BUILD) bash tests/integration/run.sh
	$(MAKE) test-sanitizers

test-sanitizers:
	$(MAKE) -j2 BUILD=build/asan SAN='$(ASAN_FLAGS)' CFLAGS='-O1 -g' all examples testbins
	$(MAKE) -j2 BUILD=build/tsan SAN='-fsanitize=thread' CFLAGS='-O1 -g' all examples testbins
	$(ASAN_ENV) build/asan/unit_tests
	$(ASAN_ENV) BUILD=build/asan bash tests/fuzz/regress.sh
	$(TSAN_ENV) build/tsan/unit_tests
	# the two integration runs side by side: mostly waiting (rate limits, stalls), they
	# take little more than the longer one (tests/concurrently.sh prints each log whole)
	bash tests/concurrently.sh \
	  asan "ASAN_OPTIONS=detect_leaks=1 $(UBSAN_ENV) BUILD=build/asan PF_QUICK=1 bash tests/integration/run.sh" \
	  tsan "$(TSAN_ENV) BUILD=build/tsan PF_QUICK=1 bash tests/integration/run.sh"

asan:
	$(MAKE) BUILD=build/asan SAN='-fsanitize=address,undefined -fno-omit-frame-pointer' CFLAGS='-O1 -g' all examples

tsan:
	$(MAKE) BUILD=build/tsan SAN='-fsanitize=thread' CFLAGS='-O1 -g' all examples

demo:
	@bash scripts/deps.sh demo
	$(MAKE) all
	BUILD=$(BUILD) bash scripts/demo.sh

# The Debian packages in a fresh Debian 12 root (root, a mirror, minutes):
# build, lintian, install from a local repository, use, remove, purge.
package-test:
	bash scripts/package-test.sh

bench:
	@bash scripts/deps.sh bench
	$(MAKE) all
	BUILD=$(BUILD) bash bench/run.sh

bench-apt:
	@bash scripts/deps.sh test
	$(MAKE) all
	BUILD=$(BUILD) bash bench/apt.sh

INSTALL_SUBST = sed -e "s|@VERSION@|$(VERSION)|g" -e "s|@PREFIX@|$(PREFIX)|g" \
  -e "s|@INCLUDEDIR@|$(INCLUDEDIR)|g" -e "s|@PLUGINDIR@|$(PLUGINDIR)|g" \
  -e "s|@SYSCONFDIR@|$(SYSCONFDIR)|g" -e "s|@APTMETHODDIR@|$(APTMETHODDIR)|g"

# Man pages (man/, roff): the paths in them are the ones this install uses.
MAN_PAGES := man/parfetch.1 man/parfetch.yaml.5 man/parfetch-apt.8

# -o all skips the rebuild (t_install.sh installs what BUILD holds); the
# binaries know PLUGINDIR and SYSCONFDIR from the build, so build and install
# with the same variables (debian/rules does).
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(INCLUDEDIR) \
	  $(DESTDIR)$(SYSCONFDIR)/parfetch/conf.d $(DESTDIR)$(DOCDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 0755 $(BUILD)/parfetch $(DESTDIR)$(BINDIR)/parfetch
	install -m 0644 $(BUILD)/parfetch.so $(DESTDIR)$(PLUGINDIR)/parfetch.so
	install -d $(DESTDIR)$(APTMETHODDIR) $(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(BUILD)/apt/parfetch $(DESTDIR)$(APTMETHODDIR)/parfetch
	$(INSTALL_SUBST) config/apt/50parfetch.conf > $(DESTDIR)$(DOCDIR)/examples/50parfetch.conf
	install -m 0644 plugin/include/parfetch.h $(DESTDIR)$(INCLUDEDIR)/parfetch.h
	$(INSTALL_SUBST) config/parfetch.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/parfetch.pc
	install -m 0644 config/parfetch.yaml $(DESTDIR)$(SYSCONFDIR)/parfetch/config.yaml
	install -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	set -e; for m in $(MAN_PAGES); do \
	  s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s; \
	  $(INSTALL_SUBST) $$m > $(DESTDIR)$(MANDIR)/man$$s/$${m#man/}; done

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/parfetch $(DESTDIR)$(PLUGINDIR)/parfetch.so \
	  $(DESTDIR)$(APTMETHODDIR)/parfetch $(DESTDIR)$(PKGCONFIGDIR)/parfetch.pc \
	  $(DESTDIR)$(INCLUDEDIR)/parfetch.h $(DESTDIR)$(SYSCONFDIR)/parfetch/config.yaml
	set -e; for m in $(MAN_PAGES); do rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m#man/}; done
	rmdir $(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(SYSCONFDIR)/parfetch/conf.d $(DESTDIR)$(SYSCONFDIR)/parfetch 2>/dev/null || true
	rm -rf $(DESTDIR)$(DOCDIR)

format:
	clang-format -i plugin/*.c plugin/*.h plugin/include/*.h host-shim/*.c host-shim/*.h \
	  tests/unit/*.c examples/*.c

clean:
	rm -rf build
