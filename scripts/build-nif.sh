#!/bin/sh
# Builds the NIF and places it in priv/, where beamr_nif loads it. The cargo profile is
# release-lto (release with whole-program LTO, see Cargo.toml; its link takes about two
# minutes after any Rust change), or BEAMR_NIF_PROFILE: `release` rebuilds in seconds,
# for working on the Rust code, and makes calls about a fifth slower.
# Honours CARGO_TARGET_DIR so CI can keep cargo's artifacts outside the clone.
# BEAMR_NIF_PREBUILT=1 builds nothing and only checks that priv/beamr_nif.so is there:
# for a root without cargo that runs a NIF built on the host (scripts/test-otp27.sh).
set -eu
cd "$(dirname "$0")/.."
if [ "${BEAMR_NIF_PREBUILT:-}" = 1 ]; then
  [ -f priv/beamr_nif.so ] && exit 0
  echo "build-nif: BEAMR_NIF_PREBUILT=1 but priv/beamr_nif.so is missing" >&2
  exit 1
fi
profile="${BEAMR_NIF_PROFILE:-release-lto}"
cargo build --profile "$profile" --quiet -p beamr_nif
target="${CARGO_TARGET_DIR:-target}"
mkdir -p priv
case "$(uname -s)" in
  Darwin) lib="$target/$profile/libbeamr_nif.dylib" ;;
  *) lib="$target/$profile/libbeamr_nif.so" ;;
esac
# Copy to a temporary name and rename, so a running VM never maps a half-written file.
cp "$lib" priv/beamr_nif.so.tmp
mv priv/beamr_nif.so.tmp priv/beamr_nif.so
