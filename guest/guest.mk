# guest/guest.mk — included by the top-level Makefile: the user environment's kernel and
# initramfs, built from Debian packages by guest/build-image.sh (see guest/README.md).
# Not part of `all`: the first run downloads ~70 MB (then cached, and offline).
#   make guest-image        $(B)/guest/{vmlinuz,vmlinux,initrd.cpio.gz,MANIFEST}
#   make guest-boot-test    boot the image under QEMU TCG and check /init's contract
#   make guest-shell        boot it with a shell on this terminal (Ctrl-A X quits QEMU)
#   make guest-refresh      forget the pinned kernel/busybox: the next guest-image re-resolves
#   make guest-deps         install the host tools (cpio, qemu-system-x86)
# Variables (set or extend them in the top-level Makefile, before or after the include):
#   GUEST_EXTRA     SRC:DEST pairs copied into the image; '?SRC:DEST' if SRC may be missing
#   GUEST_MODULES   kernel modules /init insmods, in dependency order (checked at build)
#   GUEST_CACHE     download cache, shared by build/ and build/san/
#   GUEST_APPEND    the kernel command line the boot targets use before their own words
# guest-image builds $(B)/client/tre-static first; to build more before it, add
# prerequisites anywhere in the Makefile: `guest-image: $(MY_STATIC_CLIENTS)`.

ifeq ($(B),)
$(error guest/guest.mk: include it after B (build or build/san) is set)
endif
_guest_saved_goal := $(.DEFAULT_GOAL)

GUEST_B        = $(B)/guest
GUEST_CACHE   ?= build/guest/cache
GUEST_MODULES ?= virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci \
                 vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport
GUEST_PROGS   ?= add-glibc ecdsa-sign
GUEST_EXTRA   ?= ?$(B)/client/tre-static:/bin/tre \
                 $(foreach p,$(GUEST_PROGS),?$(B)/progs/$(p):/progs/$(p) \
                                            ?$(B)/progs/$(p).minisig:/progs/$(p).minisig)
GUEST_APPEND  ?= console=ttyS0 quiet panic=-1
GUEST_TIMEOUT ?= 120

.PHONY: guest-image guest-deps guest-refresh guest-boot-test guest-shell guest-clean

guest-image: $(B)/client/tre-static
	@scripts/guest-deps.sh image
	@OUT='$(GUEST_B)' CACHE='$(GUEST_CACHE)' GUEST_MODULES='$(strip $(GUEST_MODULES))' \
		GUEST_EXTRA='$(strip $(GUEST_EXTRA))' GUEST_TESTS=guest/tests guest/build-image.sh

guest-deps:
	@scripts/guest-deps.sh all

guest-boot-test: guest-image
	@scripts/guest-deps.sh qemu
	@GUEST_APPEND='$(GUEST_APPEND)' GUEST_TIMEOUT='$(GUEST_TIMEOUT)' \
		guest/boot-test.sh '$(GUEST_B)'

guest-shell: guest-image
	@scripts/guest-deps.sh qemu
	@k='$(GUEST_B)/vmlinux'; [ -s "$$k" ] || k='$(GUEST_B)/vmlinuz'; \
		guest/boot.sh -t 0 "$$k" '$(GUEST_B)/initrd.cpio.gz' $(GUEST_APPEND)

guest-refresh:
	rm -rf '$(GUEST_CACHE)/pins' '$(GUEST_CACHE)/x' '$(GUEST_CACHE)'/*.deb

guest-clean:
	rm -rf '$(GUEST_B)/root' '$(GUEST_B)/vmlinuz' '$(GUEST_B)/initrd.cpio.gz' \
		'$(GUEST_B)/MANIFEST' '$(GUEST_B)/vmlinux'

# keep the including Makefile's default goal (`all`), wherever this file is included
.DEFAULT_GOAL := $(_guest_saved_goal)
