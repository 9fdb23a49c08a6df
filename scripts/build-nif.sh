#!/bin/sh
# Builds the NIF (profile release-lto: release with whole-program LTO, see Cargo.toml)
# and places it in priv/, where beamr_nif loads it.
# Honours CARGO_TARGET_DIR so CI can keep cargo's artifacts outside the clone.
set -eu
cd "$(dirname "$0")/.."
cargo build --profile release-lto --quiet -p beamr_nif
target="${CARGO_TARGET_DIR:-target}"
mkdir -p priv
case "$(uname -s)" in
  Darwin) lib="$target/release-lto/libbeamr_nif.dylib" ;;
  *) lib="$target/release-lto/libbeamr_nif.so" ;;
esac
# Copy to a temporary name and rename, so a running VM never maps a half-written file.
cp "$lib" priv/beamr_nif.so.tmp
mv priv/beamr_nif.so.tmp priv/beamr_nif.so
