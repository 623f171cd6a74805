# sdk/sdk.mk — included by the top-level Makefile: builds the program SDK (libtre-sdk.a,
# tre-crt0.o, trevisor-sdk.pc) into $(B)/sdk/, and every example and test TRE program into
# $(B)/progs/, each signed with the demo vendor key. TRE programs are never sanitized and
# never see the host's CFLAGS: they run inside instances, not in trevisor.
#   make examples             the SDK, every program and its .minisig (needs trevisor sign)
#   make progs                the same programs, unsigned
#   make build/progs/add-glibc   one program
#   make progs-sim            native handler twins for sanity checks (tests/progs/sim-check.sh)
#   make sdk-install PREFIX=/usr/local [DESTDIR=...]

SDK_B    := $(B)/sdk
PROGS_B  := $(B)/progs
MUSL_CC  ?= musl-gcc
PREFIX   ?= /usr/local
SDK_VERSION := 0.1

TRE_WARN    := -std=gnu11 -Wall -Wextra -Werror
TRE_CFLAGS  := -O2 -g $(TRE_WARN) -Iinclude
# freestanding: no libc, tre-crt0's _start, no TLS (so no stack protector)
TRE_FREE    := -static -nostdlib -ffreestanding -fno-stack-protector -fno-pie -no-pie
# the SDK itself: no libc, no stack protector; PIE code so one archive links into static,
# static-pie and freestanding programs alike
SDK_CFLAGS  := -O2 -g $(TRE_WARN) -Iinclude -ffreestanding -fno-stack-protector -fPIE \
               -fno-tree-loop-distribute-patterns
SDK_LIB     := $(SDK_B)/libtre-sdk.a
SDK_CRT0    := $(SDK_B)/tre-crt0.o
SDK_HDRS    := include/trevisor/tre.h include/trevisor/abi.h
TRE_DEPS    := $(SDK_LIB) $(SDK_HDRS) $(wildcard sdk/examples/*/*.h)
OPENSSL_A   := /usr/lib/x86_64-linux-gnu/libcrypto.a

# ---- the SDK ----
$(SDK_B)/obj/%.o: sdk/runtime/%.c $(SDK_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(SDK_CFLAGS) -c $< -o $@

$(SDK_B)/obj/crt0.o: sdk/runtime/crt0.S
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@

$(SDK_LIB): $(SDK_B)/obj/serve.o $(SDK_B)/obj/exit.o $(SDK_B)/obj/services.o
	@rm -f $@
	ar rcs $@ $^

# _start plus memcpy/memset/memmove/memcmp, for freestanding programs only
$(SDK_CRT0): $(SDK_B)/obj/crt0.o $(SDK_B)/obj/string.o
	$(CC) -nostdlib -r -o $@ $^

# ---- TRE programs: $(call tre_glibc|tre_pie|tre_musl|tre_free,NAME,SOURCES[,LIBS]) ----
define tre_glibc
$(PROGS_B)/$(1): $(2) $(TRE_DEPS)
	@mkdir -p $(PROGS_B)
	$(CC) $(TRE_CFLAGS) -static -o $$@ $(2) $(SDK_LIB) $(3)
endef
define tre_pie
$(PROGS_B)/$(1): $(2) $(TRE_DEPS)
	@mkdir -p $(PROGS_B)
	$(CC) $(TRE_CFLAGS) -static-pie -o $$@ $(2) $(SDK_LIB) $(3)
endef
define tre_musl
$(PROGS_B)/$(1): $(2) $(TRE_DEPS)
	@mkdir -p $(PROGS_B)
	$(MUSL_CC) $(TRE_CFLAGS) -static -o $$@ $(2) $(SDK_LIB) $(3)
endef
define tre_free
$(PROGS_B)/$(1): $(2) $(TRE_DEPS) $(SDK_CRT0)
	@mkdir -p $(PROGS_B)
	$(CC) $(TRE_CFLAGS) $(TRE_FREE) -o $$@ $(SDK_CRT0) $(2) $(SDK_LIB) -lgcc
endef

ECDSA_SRCS := sdk/examples/ecdsa-sign/signer.c
# libcrypto.a needs nothing beyond libc; --no-warnings hides glibc's "dlopen/getaddrinfo
# in a static program" notes (code paths OpenSSL never takes here)
ECDSA_LIBS := $(OPENSSL_A) -Wl,--no-warnings

$(eval $(call tre_glibc,add-glibc,sdk/examples/add/add.c))
$(eval $(call tre_pie,add-pie,sdk/examples/add/add.c))
$(eval $(call tre_musl,add-musl,sdk/examples/add/add.c))
$(eval $(call tre_free,add-free,sdk/examples/add/add.c))
$(eval $(call tre_glibc,ecdsa-sign,sdk/examples/ecdsa-sign/tre_main.c $(ECDSA_SRCS),$(ECDSA_LIBS)))
$(eval $(call tre_glibc,spin,tests/progs/spin.c))
$(eval $(call tre_free,faults,tests/progs/faults.c))
$(eval $(call tre_glibc,syscalls-glibc,tests/progs/syscalls.c))
$(eval $(call tre_musl,syscalls-musl,tests/progs/syscalls.c))
$(eval $(call tre_glibc,secret,tests/progs/secret.c))
$(eval $(call tre_glibc,bigexec,tests/progs/bigexec.c))
$(eval $(call tre_free,nullrpc,tests/progs/nullrpc.c))
$(eval $(call tre_free,exit,tests/progs/exit.c))

TRE_PROGS := add-glibc add-pie add-musl add-free ecdsa-sign spin faults syscalls-glibc \
             syscalls-musl secret bigexec nullrpc exit

# the native baseline of ecdsa-sign (a host program: not signed, not a TRE image)
$(PROGS_B)/ecdsa-sign-native: sdk/examples/ecdsa-sign/native_main.c $(ECDSA_SRCS) $(TRE_DEPS)
	@mkdir -p $(PROGS_B)
	$(CC) $(TRE_CFLAGS) -static -o $@ sdk/examples/ecdsa-sign/native_main.c $(ECDSA_SRCS) \
		$(ECDSA_LIBS)

# ---- signing with the demo vendor key (made once) ----
$(B)/vendor/demo.key: | $(B)/trevisor
	@mkdir -p $(dir $@)
	@rm -f $(B)/vendor/demo.pub
	$(B)/trevisor keygen -p $(B)/vendor/demo.pub -s $@ -c "trevisor demo vendor (test key)"
$(B)/vendor/demo.pub: $(B)/vendor/demo.key ;

$(PROGS_B)/%.minisig: $(PROGS_B)/% $(B)/vendor/demo.key | $(B)/trevisor
	$(B)/trevisor sign -s $(B)/vendor/demo.key -x $@ $<

# ---- native twins of the programs' handlers (tests/progs/sim.c replaces the runtime) ----
SIM_PROGS := add:sdk/examples/add/add.c spin:tests/progs/spin.c faults:tests/progs/faults.c \
             syscalls:tests/progs/syscalls.c secret:tests/progs/secret.c \
             bigexec:tests/progs/bigexec.c nullrpc:tests/progs/nullrpc.c exit:tests/progs/exit.c
define tre_sim
$(PROGS_B)/sim/$(1): $(2) tests/progs/sim.c $(SDK_HDRS)
	@mkdir -p $(PROGS_B)/sim
	$(CC) $(TRE_CFLAGS) -o $$@ $(2) tests/progs/sim.c
endef
$(foreach p,$(SIM_PROGS),$(eval $(call tre_sim,$(word 1,$(subst :, ,$(p))),$(word 2,$(subst :, ,$(p))))))
# the real serve loop, driven natively by a SIGSEGV handler that plays trevisor
$(PROGS_B)/sim/serve_test: tests/progs/serve_test.c $(SDK_LIB) $(SDK_HDRS)
	@mkdir -p $(PROGS_B)/sim
	$(CC) $(TRE_CFLAGS) -o $@ $< $(SDK_LIB)

# ---- phony targets ----
.PHONY: examples progs progs-sim sdk sdk-install
sdk: $(SDK_LIB) $(SDK_CRT0)
progs: sdk $(TRE_PROGS:%=$(PROGS_B)/%) $(PROGS_B)/ecdsa-sign-native
examples: progs $(TRE_PROGS:%=$(PROGS_B)/%.minisig) $(B)/vendor/demo.pub
progs-sim: $(foreach p,$(SIM_PROGS),$(PROGS_B)/sim/$(word 1,$(subst :, ,$(p)))) \
           $(PROGS_B)/sim/serve_test

# headers under include/trevisor-sdk/ (never the system's own include dir: musl-gcc must
# not see glibc's headers), the archive and crt0 under lib/trevisor-sdk/
sdk-install: sdk
	install -d $(DESTDIR)$(PREFIX)/include/trevisor-sdk/trevisor \
		$(DESTDIR)$(PREFIX)/lib/trevisor-sdk $(DESTDIR)$(PREFIX)/share/trevisor-sdk \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(SDK_HDRS) $(DESTDIR)$(PREFIX)/include/trevisor-sdk/trevisor/
	install -m 644 $(SDK_LIB) $(SDK_CRT0) $(DESTDIR)$(PREFIX)/lib/trevisor-sdk/
	install -m 644 sdk/tre.mk $(DESTDIR)$(PREFIX)/share/trevisor-sdk/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(SDK_VERSION)|g' \
		sdk/trevisor-sdk.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/trevisor-sdk.pc
