#!/bin/sh
# `make fuzz`: builds the fuzz targets (libFuzzer through cargo-fuzz, on the stable
# toolchain, so without a sanitizer) and runs each for FUZZ_SECONDS (default 60).
# New corpus entries go to a scratch directory beside the build; the committed corpus
# is only read. Fails if any target finds a crash, timeout or broken invariant; the
# input is then in fuzz/artifacts/<target>/.
set -u
cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-60}
target_dir=${FUZZ_TARGET_DIR:-/var/tmp/beamr-fuzz-target}
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --version 0.13.2 || exit 1
fi
flags="-O -a --sanitizer none --codegen-units 16 --target-dir $target_dir"
# shellcheck disable=SC2086
cargo fuzz build $flags || exit 1
failed=""
for t in $(cargo fuzz list); do
    scratch="$target_dir/corpus/$t"
    mkdir -p "$scratch" "corpus/$t"
    echo "== fuzz $t for ${seconds}s"
    # shellcheck disable=SC2086
    if ! cargo fuzz run $flags "$t" "$scratch" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -max_len=16384 -len_control=0 \
        -print_final_stats=1; then
        failed="$failed $t"
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz: findings in:$failed (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: no findings"
