# sdk/tre.mk — builds and signs one TRE program for a vendor. Two lines of a Makefile:
#     TRE_PROGRAM = foo
#     include $(shell pkg-config --variable=mkdir trevisor-sdk)/tre.mk
# (or include path/to/trevisor/sdk/tre.mk from a source tree). Then `make` builds foo and
# signs it into foo.minisig. Set before the include if the defaults do not fit:
#     TRE_SRCS    sources                      (default: $(TRE_PROGRAM).c)
#     TRE_LIBC    glibc | glibc-pie | musl | none   (default: glibc)
#     TRE_LDLIBS  extra libraries, e.g. /usr/lib/x86_64-linux-gnu/libcrypto.a
#     TRE_CFLAGS  compiler flags               (default: -O2 -g -Wall -Wextra)
#     TRE_KEY     the vendor secret key        (default: vendor.key)
#     TRE_SIGNER  trevisor | minisign          (default: trevisor)
#     TREVISOR    the trevisor command         (default: trevisor, or the tree's build/)
# Targets: all (the signed program), unsigned, clean. It never uses the host's CFLAGS.

TRE_SDK_MKDIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))

ifeq ($(strip $(TRE_PROGRAM)),)
$(error tre.mk: set TRE_PROGRAM = <name> before including it)
endif

ifneq ($(wildcard $(TRE_SDK_MKDIR)/runtime/serve.c),)
# a trevisor source tree: headers in include/, the SDK built in build/sdk/
TRE_SDK_INCDIR ?= $(abspath $(TRE_SDK_MKDIR)/../include)
TRE_SDK_LIBDIR ?= $(abspath $(TRE_SDK_MKDIR)/../build/sdk)
TREVISOR       ?= $(abspath $(TRE_SDK_MKDIR)/../build/trevisor)
TRE_SDK_TREE   := 1
else
# installed: <prefix>/share/trevisor-sdk/tre.mk
TRE_SDK_INCDIR ?= $(abspath $(TRE_SDK_MKDIR)/../../include/trevisor-sdk)
TRE_SDK_LIBDIR ?= $(abspath $(TRE_SDK_MKDIR)/../../lib/trevisor-sdk)
TREVISOR       ?= trevisor
endif

TRE_SRCS   ?= $(TRE_PROGRAM).c
TRE_LIBC   ?= glibc
TRE_CFLAGS ?= -O2 -g -Wall -Wextra
TRE_LDLIBS ?=
TRE_KEY    ?= vendor.key
TRE_SIGNER ?= trevisor
TRE_CC     ?= $(if $(filter musl,$(TRE_LIBC)),musl-gcc,$(CC))

TRE_SDK_A  := $(TRE_SDK_LIBDIR)/libtre-sdk.a
TRE_CRT0   := $(TRE_SDK_LIBDIR)/tre-crt0.o
TRE_ALL_CFLAGS := -std=gnu11 $(TRE_CFLAGS) -I$(TRE_SDK_INCDIR)

ifeq ($(TRE_LIBC),glibc)
TRE_LINK := -static $(TRE_SRCS) $(TRE_SDK_A) $(TRE_LDLIBS)
else ifeq ($(TRE_LIBC),glibc-pie)
TRE_LINK := -static-pie $(TRE_SRCS) $(TRE_SDK_A) $(TRE_LDLIBS)
else ifeq ($(TRE_LIBC),musl)
TRE_LINK := -static $(TRE_SRCS) $(TRE_SDK_A) $(TRE_LDLIBS)
else ifeq ($(TRE_LIBC),none)
TRE_LINK := -static -nostdlib -ffreestanding -fno-stack-protector -fno-pie -no-pie \
            $(TRE_CRT0) $(TRE_SRCS) $(TRE_SDK_A) $(TRE_LDLIBS) -lgcc
else
$(error tre.mk: TRE_LIBC must be glibc, glibc-pie, musl or none, not '$(TRE_LIBC)')
endif

ifeq ($(TRE_SIGNER),minisign)
TRE_SIGN_CMD = minisign -S -s $(TRE_KEY) -m $< -x $@
else
TRE_SIGN_CMD = $(TREVISOR) sign -s $(TRE_KEY) -x $@ $<
endif

.PHONY: all unsigned clean
all: $(TRE_PROGRAM).minisig
unsigned: $(TRE_PROGRAM)

ifdef TRE_SDK_TREE
# keep the tree's SDK up to date (the program relinks only if it changed)
.PHONY: tre-sdk-tree
tre-sdk-tree:
	@$(MAKE) -s --no-print-directory -C $(TRE_SDK_MKDIR)/.. build/sdk/libtre-sdk.a \
		build/sdk/tre-crt0.o
$(TRE_SDK_A) $(TRE_CRT0): tre-sdk-tree ;
endif

$(TRE_PROGRAM): $(TRE_SRCS) $(TRE_SDK_A) $(if $(filter none,$(TRE_LIBC)),$(TRE_CRT0)) \
                $(wildcard *.h) $(TRE_SDK_INCDIR)/trevisor/tre.h
	$(TRE_CC) $(TRE_ALL_CFLAGS) -o $@ $(TRE_LINK)

$(TRE_PROGRAM).minisig: $(TRE_PROGRAM)
	$(TRE_SIGN_CMD)

clean:
	rm -f $(TRE_PROGRAM) $(TRE_PROGRAM).minisig
