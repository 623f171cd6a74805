#!/bin/sh
# guest/build-image.sh — builds the user environment's kernel and initramfs from Debian
# packages: $OUT/vmlinuz, $OUT/vmlinux and $OUT/initrd.cpio.gz (see guest/README.md).
# It downloads with `apt-get download` into $CACHE and unpacks with dpkg-deb | tar: it
# never installs a package, never runs a package's maintainer scripts or initramfs hooks,
# and never writes outside $OUT and $CACHE. A second run with the cache filled is offline.
#
# Environment (guest/guest.mk sets these):
#   OUT            output directory (build/guest)
#   CACHE          download cache (build/guest/cache; shared by SAN=1)
#   GUEST_EXTRA    extra files, whitespace-separated SRC:DEST pairs; DEST is an absolute path
#                  in the image; a leading '?' makes a missing SRC a note instead of an error
#   GUEST_MODULES  kernel modules, in the order /init insmods them
#   GUEST_TESTS    directory whose *.sh go to /tests in the image (guest/tests)
#   GUEST_KERNEL_PKG  pin a kernel image package (default: what linux-image-amd64 depends on)
#   SOURCE_DATE_EPOCH  mtime of every file in the image (default 0), for a reproducible initrd
# shellcheck disable=SC2012  # ls | head picks one file of a known, plain name
set -eu

here=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-build/guest}
CACHE=${CACHE:-$OUT/cache}
GUEST_TESTS=${GUEST_TESTS:-$here/tests}
GUEST_EXTRA=${GUEST_EXTRA:-}
GUEST_MODULES=${GUEST_MODULES:-virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
    virtio_pci vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}
export LC_ALL=C

say() { echo "guest-image: $*"; }
die() { echo "guest-image: error: $*" >&2; exit 1; }

for t in apt-get apt-cache dpkg-deb tar cpio gzip xz readelf sha256sum; do
    command -v "$t" >/dev/null 2>&1 ||
        die "'$t' is missing (run scripts/guest-deps.sh image)"
done

mkdir -p "$OUT" "$CACHE"
OUT=$(cd "$OUT" && pwd)
CACHE=$(cd "$CACHE" && pwd)

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

# ---- resolving and downloading, once: $CACHE/pins records the apt snapshot we used ----
# One line per package: "ROLE PACKAGE VERSION FILE". Both packages are resolved together,
# from one apt snapshot; later runs use the pinned .debs and never ask apt again.
pins=$CACHE/pins

candidate() {   # PACKAGE -> candidate version, or nothing
    apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p' | grep -v '(none)' || true
}

resolve_kernel_pkg() {
    if [ -n "${GUEST_KERNEL_PKG:-}" ]; then
        echo "$GUEST_KERNEL_PKG"
        return
    fi
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: *\(linux-image-[0-9][^ ]*\).*/\1/p' | head -n 1
}

resolve_all() {
    kpkg=$(resolve_kernel_pkg)
    if [ -z "$kpkg" ] || [ -z "$(candidate "$kpkg")" ] || [ -z "$(candidate busybox-static)" ]
    then
        say "apt lists do not know the packages; running apt-get update"
        $SUDO apt-get update -qq || die "apt-get update failed"
        kpkg=$(resolve_kernel_pkg)
    fi
    [ -n "$kpkg" ] || die "cannot resolve the image package linux-image-amd64 depends on"
    kver=$(candidate "$kpkg")
    bver=$(candidate busybox-static)
    [ -n "$kver" ] || die "apt has no candidate for $kpkg"
    [ -n "$bver" ] || die "apt has no candidate for busybox-static"
    say "pinning $kpkg $kver and busybox-static $bver"
    printf 'kernel %s %s\nbusybox busybox-static %s\n' "$kpkg" "$kver" "$bver" > "$pins.new"
    mv "$pins.new" "$pins"
}

download() {    # PACKAGE VERSION -> path of the .deb in $CACHE
    pkg=$1 ver=$2
    # apt names the file PACKAGE_VERSION_ARCH.deb with ':' in VERSION written as %3a
    stem=$CACHE/${pkg}_$(echo "$ver" | sed 's/:/%3a/g')_
    f=$(ls "$stem"*.deb 2>/dev/null | head -n 1 || true)
    if [ -z "$f" ]; then
        say "downloading $pkg=$ver" >&2
        sandbox=""
        [ "$(id -u)" -eq 0 ] && sandbox="-o APT::Sandbox::User=root"
        # shellcheck disable=SC2086
        (cd "$CACHE" && apt-get download -q $sandbox "$pkg=$ver" >/dev/null) ||
            die "apt-get download $pkg=$ver failed (a security update may have replaced it:" \
                "run 'make guest-refresh')"
        f=$(ls "$stem"*.deb | head -n 1)
    fi
    echo "$f"
}

[ -s "$pins" ] || resolve_all
if [ -n "${GUEST_KERNEL_PKG:-}" ] && ! grep -q "^kernel $GUEST_KERNEL_PKG " "$pins"; then
    resolve_all
fi
read -r _ kpkg kver <<EOF
$(grep '^kernel ' "$pins")
EOF
read -r _ bpkg bver <<EOF
$(grep '^busybox ' "$pins")
EOF
kdeb=$(download "$kpkg" "$kver")
bdeb=$(download "$bpkg" "$bver")

# ---- unpacking, once per .deb ----
kx=$CACHE/x/$(basename "$kdeb" .deb)
if [ ! -e "$kx/.done" ]; then
    say "unpacking vmlinuz and modules from $(basename "$kdeb")"
    rm -rf "$kx"; mkdir -p "$kx"
    # the kernel, its config, modules.builtin, and every virtio/vsock module (a superset of
    # GUEST_MODULES, so changing that list needs no new unpack)
    m='./lib/modules/*'
    dpkg-deb --fsys-tarfile "$kdeb" | tar -x -C "$kx" --wildcards \
        './boot/vmlinuz-*' './boot/config-*' "$m/modules.builtin" \
        "$m/kernel/drivers/virtio/*" "$m/kernel/net/vmw_vsock/*" \
        "$m/kernel/drivers/net/*virtio*" "$m/kernel/drivers/net/net_failover*" \
        "$m/kernel/net/core/failover*" "$m/kernel/drivers/char/hw_random/virtio*" ||
        die "dpkg-deb | tar failed on $kdeb"
    touch "$kx/.done"
fi
bx=$CACHE/x/$(basename "$bdeb" .deb)
if [ ! -e "$bx/.done" ]; then
    rm -rf "$bx"; mkdir -p "$bx"
    dpkg-deb --fsys-tarfile "$bdeb" | tar -x -C "$bx" ./bin/busybox ||
        die "dpkg-deb | tar failed on $bdeb"
    touch "$bx/.done"
fi

vmlinuz=$(ls "$kx"/boot/vmlinuz-* | head -n 1)
krel=${vmlinuz##*/vmlinuz-}
moddir=$kx/lib/modules/$krel
[ -d "$moddir" ] || die "no /lib/modules/$krel in $kdeb"
busybox=$bx/bin/busybox
if readelf -l "$busybox" | grep -q 'program interpreter'; then
    die "$busybox is not static"
fi

# ---- the image tree ----
root=$OUT/root
rm -rf "$root"
mkdir -p "$root"
for d in bin sbin usr/bin usr/sbin dev proc sys tmp run root etc tests progs \
         "lib/modules/$krel"; do
    mkdir -p "$root/$d"
done
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"

cp "$busybox" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
"$busybox" --list-full | while read -r applet; do
    case $applet in
        bin/busybox|linuxrc|init|sbin/init) continue ;;
    esac
    mkdir -p "$root/$(dirname "$applet")"
    ln -s /bin/busybox "$root/$applet"
done

# modules: each must be a file in this kernel (or built in, then skipped); each dependency
# must come earlier in the list or be built in. Compressed modules are decompressed, since
# busybox insmod hands the file to init_module() as it is.
: > "$root/etc/modules.order"
loaded=" "
for m in $GUEST_MODULES; do
    f=$(find "$moddir/kernel" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" \
            -o -name "$m.ko.gz" | head -n 1)
    if [ -z "$f" ]; then
        if grep -q "/$m\.ko\$" "$moddir/modules.builtin" 2>/dev/null; then
            say "module $m is built into $krel; not loaded"
            loaded="$loaded$m "
            continue
        fi
        die "module $m is neither in $kpkg's modules nor built in (is it unpacked above?)"
    fi
    dst=$root/lib/modules/$krel/$m.ko
    case $f in
        *.ko.xz)  xz -dc "$f" > "$dst" ;;
        *.ko.zst) zstd -qdc "$f" > "$dst" ;;
        *.ko.gz)  gzip -dc "$f" > "$dst" ;;
        *)        cp "$f" "$dst" ;;
    esac
    chmod 0644 "$dst"
    deps=$(readelf -p .modinfo "$dst" 2>/dev/null | sed -n 's/.*\] *depends=//p' | tr ',' ' ')
    for d in $deps; do
        case $loaded in
            *" $d "*) ;;
            *) grep -q "/$d\.ko\$" "$moddir/modules.builtin" ||
                   die "module $m needs $d, which is not before it in GUEST_MODULES" ;;
        esac
    done
    loaded="$loaded$m "
    echo "$m" >> "$root/etc/modules.order"
done

cp "$here/init" "$root/init"
chmod 0755 "$root/init"
echo "$krel" > "$root/etc/trevisor-kernel"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\n' > "$root/etc/group"
echo trevisor-guest > "$root/etc/hostname"

if [ -d "$GUEST_TESTS" ]; then
    for t in "$GUEST_TESTS"/*.sh; do
        [ -e "$t" ] || continue
        cp "$t" "$root/tests/"
        chmod 0755 "$root/tests/${t##*/}"
    done
fi

# extra files: SRC:DEST, '?SRC:DEST' for optional ones ('?' is not a glob here)
set -f
for e in $GUEST_EXTRA; do
    optional=0
    case $e in \?*) optional=1; e=${e#\?} ;; esac
    src=${e%%:*}
    dst=${e#*:}
    if [ "$src" = "$e" ] || [ -z "$src" ]; then die "GUEST_EXTRA entry '$e' is not SRC:DEST"; fi
    case $dst in
        /*) ;;
        *) die "GUEST_EXTRA entry '$e': DEST must be an absolute path" ;;
    esac
    case "/$dst/" in
        */../*|*/./*) die "GUEST_EXTRA entry '$e': DEST must not contain . or .." ;;
    esac
    case $dst in */) dst=$dst${src##*/} ;; esac
    if [ ! -f "$src" ]; then
        [ $optional -eq 1 ] && { say "not in the image (not built): $src"; continue; }
        die "GUEST_EXTRA: $src does not exist"
    fi
    mkdir -p "$root$(dirname "$dst")"
    cp "$src" "$root$dst"
    if [ -x "$src" ]; then chmod 0755 "$root$dst"; else chmod 0644 "$root$dst"; fi
    say "added $src -> $dst"
done
set +f

# ---- the cpio: sorted, owned by root, fixed mtimes and inode numbers ----
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$root" && find . -mindepth 1 -print0 | sort -z |
    cpio --null --quiet -o -H newc -R 0:0 --reproducible) | gzip -9n > "$OUT/initrd.cpio.gz.new"
mv "$OUT/initrd.cpio.gz.new" "$OUT/initrd.cpio.gz"
cp "$vmlinuz" "$OUT/vmlinuz.new"
mv "$OUT/vmlinuz.new" "$OUT/vmlinuz"

# vmlinux: the same kernel, taken out of the bzImage's compressed payload (once per .deb).
# It is an ELF with a PVH entry note, which QEMU boots directly: under TCG that skips ~7 s
# of the bzImage decompressing itself (and KASLR, which the decompressor does).
vmlinux=$kx/vmlinux
if [ ! -s "$vmlinux" ]; then
    rm -f "$OUT/vmlinux"
    # the payload is the first xz (or zstd) stream in the file; what follows it is ignored
    off=$(grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -n 1 | cut -d: -f1 || true)
    if [ -n "$off" ]; then
        tail -c +"$((off + 1))" "$vmlinuz" | xz -dc --single-stream \
            > "$vmlinux.new" 2>/dev/null || rm -f "$vmlinux.new"
    else
        off=$(grep -obUaP '\x28\xb5\x2f\xfd' "$vmlinuz" | head -n 1 | cut -d: -f1 || true)
        if [ -n "$off" ]; then
            tail -c +"$((off + 1))" "$vmlinuz" | zstd -qdc \
                > "$vmlinux.new" 2>/dev/null || true
        fi
    fi
    # keep it only if it is an ELF with a PVH entry (Xen note type 0x12)
    magic=$(head -c 4 "$vmlinux.new" 2>/dev/null | od -An -c | tr -d ' ')
    if [ "$magic" = "177ELF" ] && readelf -n "$vmlinux.new" 2>/dev/null | grep -q '(0x00000012)'
    then
        mv "$vmlinux.new" "$vmlinux"
    else
        rm -f "$vmlinux.new"
        say "note: no PVH vmlinux could be taken out of $krel's bzImage; use vmlinuz"
    fi
fi
if [ -s "$vmlinux" ]; then
    ln -f "$vmlinux" "$OUT/vmlinux" 2>/dev/null || cp "$vmlinux" "$OUT/vmlinux"
fi

{
    echo "kernel_release $krel"
    echo "kernel_package $kpkg $kver"
    echo "busybox_package $bpkg $bver"
    echo "modules $(tr '\n' ' ' < "$root/etc/modules.order")"
    (cd "$OUT" && sha256sum vmlinuz initrd.cpio.gz)
    if [ -s "$OUT/vmlinux" ]; then (cd "$OUT" && sha256sum vmlinux); fi
} > "$OUT/MANIFEST"
say "$OUT/vmlinuz ($krel, $kpkg $kver)"
if [ -s "$OUT/vmlinux" ]; then
    say "$OUT/vmlinux (the same kernel, decompressed, for PVH boot)"
fi
say "$OUT/initrd.cpio.gz ($(wc -c < "$OUT/initrd.cpio.gz") bytes, busybox $bver)"
