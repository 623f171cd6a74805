#!/bin/sh
# scripts/deps.sh — installs the Debian 12 packages trevisor builds and tests with (and any
# named on the command line), only those missing. Needs root (or sudo) the first time; a
# no-op afterwards.   usage: scripts/deps.sh [EXTRA-PACKAGE...]
set -eu
pkgs="build-essential clang libclang-rt-14-dev libssl-dev libsodium-dev libcapstone-dev
      musl-tools minisign openssl python3 pkg-config libtss2-dev swtpm swtpm-tools tpm2-tools
      softhsm2 opensc libp11-kit-dev $*"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
