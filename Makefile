# Makefile — builds trevisor (library, command, tests, fuzzers, SDK examples) under build/.
#   make            build everything          make check   install deps, all tests, then ASan+UBSan
#   make demo       run the main job          make bench   benchmarks -> bench/results.json
# SAN=1 builds into build/san with AddressSanitizer and UndefinedBehaviorSanitizer.

CC      ?= gcc
SAN     ?= 0
ifeq ($(SAN),1)
B       := build/san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else
B       := build
SANFLAGS :=
endif

CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -Isrc $(shell pkg-config --cflags p11-kit-1 2>/dev/null) $(SANFLAGS)
# reproducible: no build directory in the objects (debug info, __FILE__), so two builds
# of one source tree in different places give the same bytes (tests/test_repro.sh)
CFLAGS  += -ffile-prefix-map=$(CURDIR)=.
LDFLAGS += $(SANFLAGS)
LDLIBS  := -lcrypto -lsodium -lcapstone -ltss2-esys -ltss2-tctildr -ltss2-mu -ltss2-rc -lpthread -lrt

LIB_SRCS := $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c)))
CLI_SRCS := $(sort $(wildcard src/cli/*.c))
TEST_SRCS := $(sort $(wildcard tests/test_*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/obj/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(B)/obj/%.o)
TESTS    := $(TEST_SRCS:tests/%.c=$(B)/tests/%)

.PHONY: all deps check demo bench fuzz clean examples check-run
all: $(B)/trevisor $(TESTS) examples test-progs example-clients

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(B)/libtrevisor.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(B)/trevisor: $(CLI_OBJS) $(B)/client/obj/libtre.o $(B)/libtrevisor.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: tests/%.c $(B)/libtrevisor.a tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(B)/libtrevisor.a $(LDFLAGS) $(LDLIBS)

BENCH_SRCS := $(sort $(wildcard bench/*.c))
$(B)/bench/bench: $(BENCH_SRCS) bench/bench.h $(B)/libtrevisor.a $(B)/client/libtre.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ibench -o $@ $(BENCH_SRCS) $(B)/client/libtre.a $(B)/libtrevisor.a \
		$(LDFLAGS) $(LDLIBS)

# TRE programs and the SDK (never sanitized: they run inside instances, not in trevisor)
include sdk/sdk.mk
include client/client.mk
include sdk/examples/clients.mk
include tests/tests.mk
-include tests/p11fail.mk
-include apps/sigaccel/sigaccel.mk

# the user environment's image: the static tre client, the examples' clients, the hostile
# test tool, and the signed TRE images they run
GUEST_PROGS := add-glibc ecdsa-sign spin faults nullrpc sigaccel
GUEST_EXTRA := ?$(B)/client/tre-static:/bin/tre \
               $(B)/examples/add_client-static:/bin/add_client \
               $(B)/examples/sign_client-static:/bin/sign_client \
               $(B)/examples/vsock_hostile-static:/bin/vsock_hostile \
               $(B)/examples/tre_bench-static:/bin/tre_bench \
               $(B)/progs/ecdsa-sign-native:/bin/ecdsa-sign-native \
               $(B)/apps/sigaccel-static:/bin/sigaccel \
               $(foreach p,$(GUEST_PROGS),$(B)/progs/$(p):/progs/$(p) \
                                          $(B)/progs/$(p).minisig:/progs/$(p).minisig)
include guest/guest.mk
guest-image: guest-clients $(B)/apps/sigaccel-static $(foreach p,$(GUEST_PROGS),$(B)/progs/$(p) $(B)/progs/$(p).minisig)

deps:
	@scripts/deps.sh

check: deps
	@scripts/check.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@scripts/bench.sh

fuzz:
	@scripts/fuzz.sh build

clean:
	rm -rf build

-include $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d)
