# apps/sigaccel/sigaccel.mk — included by the top-level Makefile: the signature
# accelerator (docs/sigaccel.md). Its TRE program, signed with the demo vendor key like the
# SDK examples; its native twin (the same signing code, no TRE: the benchmark's baseline);
# the owner's `sigaccel` command (libtre + OpenSSL), also static for the guest; and its
# end-to-end test, which needs libtre.
#   make sigaccel           build/progs/sigaccel(.minisig), build/progs/sigaccel-native,
#                           build/apps/sigaccel
#   make sigaccel-guest     build/apps/sigaccel-static (unsanitized, for the guest image)

SIGACCEL_DIR  := apps/sigaccel
SIGACCEL_HDRS := $(SIGACCEL_DIR)/sigaccel_core.h $(SIGACCEL_DIR)/sigaccel_proto.h
SIGACCEL_CORE := $(SIGACCEL_DIR)/sigaccel_core.c

# the TRE program: static glibc + Debian's libcrypto.a, as ecdsa-sign
$(eval $(call tre_glibc,sigaccel,$(SIGACCEL_DIR)/sigaccel_tre.c $(SIGACCEL_CORE),$(ECDSA_LIBS)))
$(PROGS_B)/sigaccel: $(SIGACCEL_HDRS)

$(PROGS_B)/sigaccel.minisig: $(PROGS_B)/sigaccel $(B)/vendor/demo.key | $(B)/trevisor
	$(B)/trevisor sign -s $(B)/vendor/demo.key -x $@ $<

# the native twin (a host program: not signed, not a TRE image; static like
# ecdsa-sign-native, so it also runs in the guest)
$(PROGS_B)/sigaccel-native: $(SIGACCEL_DIR)/sigaccel_native.c $(SIGACCEL_CORE) $(SIGACCEL_HDRS) \
                            $(TRE_DEPS)
	@mkdir -p $(PROGS_B)
	$(CC) $(TRE_CFLAGS) -static -o $@ $(SIGACCEL_DIR)/sigaccel_native.c $(SIGACCEL_CORE) \
		$(ECDSA_LIBS)

# the owner's command
SIGACCEL_CLIENT_SRCS := $(SIGACCEL_DIR)/sigaccel_client.c $(SIGACCEL_DIR)/sigaccel_files.c
$(B)/apps/sigaccel: $(SIGACCEL_CLIENT_SRCS) $(SIGACCEL_DIR)/sigaccel_proto.h \
                    $(SIGACCEL_DIR)/sigaccel_files.h $(CLIENT_B)/libtre.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $(SIGACCEL_CLIENT_SRCS) $(CLIENT_B)/libtre.a $(LDFLAGS) -lcrypto \
		-lpthread

# static, unsanitized, for the guest (libtre's static objects)
$(B)/apps/sigaccel-static: $(SIGACCEL_CLIENT_SRCS) $(SIGACCEL_DIR)/sigaccel_proto.h \
                           $(SIGACCEL_DIR)/sigaccel_files.h $(CLIENT_B)/tre-static
	@mkdir -p $(dir $@)
	$(CC) -O2 -std=gnu11 -Wall -Wextra -Werror -Iinclude -static -o $@ $(SIGACCEL_CLIENT_SRCS) \
		$(CLIENT_ST_OBJS) $(OPENSSL_A) -lpthread -Wl,--no-warnings

# hosted mode end to end: libtre for the TRE calls, the engine library for the fixture.
# The programs it runs are built by `sigaccel` (part of `all`).
$(B)/tests/test_sigaccel: tests/test_sigaccel.c $(CLIENT_B)/libtre.a $(B)/libtrevisor.a \
                          tests/check.h tests/fixture.h $(SIGACCEL_DIR)/sigaccel_proto.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -I$(SIGACCEL_DIR) -o $@ $< $(CLIENT_B)/libtre.a \
		$(B)/libtrevisor.a $(LDFLAGS) $(LDLIBS)

.PHONY: sigaccel sigaccel-guest
sigaccel: $(PROGS_B)/sigaccel $(PROGS_B)/sigaccel.minisig $(PROGS_B)/sigaccel-native \
          $(B)/apps/sigaccel
sigaccel-guest: $(B)/apps/sigaccel-static $(PROGS_B)/sigaccel $(PROGS_B)/sigaccel.minisig \
                $(PROGS_B)/sigaccel-native
all: sigaccel
