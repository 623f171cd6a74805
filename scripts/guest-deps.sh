#!/bin/sh
# scripts/guest-deps.sh — installs the host tools the guest image needs, only those missing:
#   image   cpio, binutils (readelf) and xz-utils, to build it (busybox and the kernel are not
#           installed: guest/build-image.sh downloads their .debs into its cache)
#   qemu    qemu-system-x86, to boot it
#   all     both
# Needs root (or sudo) the first time; a no-op afterwards.
set -eu
case ${1:-all} in
    image) pkgs="cpio binutils xz-utils" ;;
    qemu)  pkgs="qemu-system-x86" ;;
    all)   pkgs="cpio binutils xz-utils qemu-system-x86" ;;
    *) echo "usage: scripts/guest-deps.sh [image|qemu|all]" >&2; exit 2 ;;
esac
# shellcheck disable=SC2086
exec "$(dirname "$0")/deps.sh" $pkgs
