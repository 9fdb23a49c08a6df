#!/bin/sh
# Checks Cargo.lock against the RustSec advisory database, offline: the snapshot in the
# workplace's shared folder (ADVISORY_DB names another); where there is none, the live
# database is fetched. Fails on any advisory that affects a locked crate, and when no
# database can be had: an audit that cannot run must not pass. Installs cargo-audit
# from crates.io when it is missing.
set -eu
cd "$(dirname "$0")/.."
db=""
for candidate in "${ADVISORY_DB:-}" ../shared/advisory-db /work/shared/advisory-db; do
  if [ -n "$candidate" ] && [ -d "$candidate/crates" ]; then
    db="$candidate"
    break
  fi
done
command -v cargo-audit >/dev/null 2>&1 || cargo install --locked --quiet cargo-audit
if [ -z "$db" ]; then
  echo "audit: no local advisory database; fetching rustsec/advisory-db" >&2
  exec timeout 300 cargo audit --stale --deny warnings --file Cargo.lock
fi
echo "audit: Cargo.lock against $db ($(head -n 1 "$db/SNAPSHOT.txt" 2>/dev/null || echo 'no snapshot note'))"
cargo audit --db "$db" --no-fetch --stale --deny warnings --file Cargo.lock
