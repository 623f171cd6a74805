#!/bin/sh
# scripts/fuzz.sh — builds every fuzz/fuzz_*.c as a libFuzzer target (clang, ASan+UBSan)
# against the library sources, runs each for a while on a copy of its seed corpus, and
# prints one PASS/FAIL line per target. It never writes into the repository's corpora.
# usage: scripts/fuzz.sh BUILD_DIR [SECONDS]     (SECONDS per target, default 20)
#   BUILD_DIR/fuzz/            the targets and their logs
#   BUILD_DIR/fuzz/artifacts/  crashing inputs (fuzz_<name>-crash-...)
#   FUZZ_CC overrides the compiler (default clang).
set -u

if [ $# -lt 1 ]; then
    echo "usage: $0 BUILD_DIR [SECONDS]" >&2
    exit 2
fi
secs=${2:-20}
case $secs in
    ''|*[!0-9]*) echo "fuzz: SECONDS must be a number" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1/fuzz" || exit 1
out=$(cd "$1/fuzz" && pwd)
cc=${FUZZ_CC:-clang}
cflags="-g -O1 -std=gnu11 -D_GNU_SOURCE -Iinclude -Isrc $(pkg-config --cflags p11-kit-1) -fno-sanitize-recover=undefined"
libs="-lcrypto -lsodium -lcapstone -ltss2-esys -ltss2-tctildr -ltss2-mu -ltss2-rc -lpthread -lrt"

cd "$root" || exit 1
if ! command -v "$cc" >/dev/null 2>&1; then
    echo "fuzz: $cc not found" >&2
    echo "FAIL fuzz: no compiler"
    exit 1
fi
mkdir -p "$out/obj" "$out/artifacts" "$out/corpus" "$out/logs"

# The library: every src/*/*.c except the command (src/cli), instrumented for coverage.
# A source that does not compile is left out with a warning; a target that needs it then
# fails to link and is reported as FAIL.
rm -f "$out/libfuzz.a" "$out"/obj/*.o
objs=""
for src in src/*/*.c; do
    case $src in src/cli/*) continue ;; esac
    obj="$out/obj/$(echo "$src" | tr '/' '_' | sed 's/\.c$/.o/')"
    # shellcheck disable=SC2086
    if $cc $cflags -fsanitize=fuzzer-no-link,address,undefined -c "$src" -o "$obj" \
            2>"$out/logs/build.log.tmp"; then
        objs="$objs $obj"
    else
        echo "fuzz: warning: $src does not compile; left out of the fuzz library" >&2
        sed 's/^/    /' "$out/logs/build.log.tmp" | head -5 >&2
    fi
done
rm -f "$out/logs/build.log.tmp"
# shellcheck disable=SC2086
[ -n "$objs" ] && ar rcs "$out/libfuzz.a" $objs

fails=0
for target in fuzz/fuzz_*.c; do
    [ -e "$target" ] || continue
    name=$(basename "$target" .c)
    seeds=fuzz/corpus/${name#fuzz_}
    bin=$out/$name
    log=$out/logs/$name.log

    lib=""
    [ -f "$out/libfuzz.a" ] && lib=$out/libfuzz.a
    # shellcheck disable=SC2086
    if ! $cc $cflags -fsanitize=fuzzer,address,undefined "$target" $lib $libs \
            -o "$bin" >"$log" 2>&1; then
        echo "fuzz: $name does not build:" >&2
        head -20 "$log" | sed 's/^/    /' >&2
        echo "FAIL $name"
        fails=$((fails + 1))
        continue
    fi

    corpus=$out/corpus/${name#fuzz_}
    rm -rf "$corpus"
    mkdir -p "$corpus"
    [ -d "$seeds" ] && cp -R "$seeds"/. "$corpus"/ 2>/dev/null

    if "$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix="$out/artifacts/$name-" -print_final_stats=1 \
            "$corpus" >>"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        echo "PASS $name (${runs:-?} runs in ${secs}s)"
    else
        echo "fuzz: $name failed; log $log, artifacts in $out/artifacts/:" >&2
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -10 \
            | sed 's/^/    /' >&2
        echo "FAIL $name"
        fails=$((fails + 1))
    fi
done

[ "$fails" -eq 0 ]
