#!/bin/sh
# Runs the project's EUnit suites and dialyzer on Erlang/OTP 27 (the OTP HyperBEAM runs
# on) inside a Debian 13 (trixie) root, with the NIF and the compiled fixtures built on
# the host (the root has no cargo and no emscripten).
#
# The root is made with debootstrap (minbase) from Debian's packages, then trixie's
# erlang-nox, erlang-dev, erlang-eunit, erlang-dialyzer, erlang-proper and rebar3 are
# installed in it with apt (which, unlike debootstrap, resolves the virtual packages
# some of their dependencies need). It is kept in BEAMR_TRIXIE_ROOT (default
# /var/tmp/beamr-trixie-root) between runs and made again when its marker file, written
# last, is missing or names another package set. Each run copies the working tree
# (without .git, _build, target), priv/beamr_nif.so and the fixtures into /beamr there,
# so rebar3 compiles everything afresh with OTP 27's compiler and the project's
# warnings_as_errors. Inside, BEAMR_NIF_PREBUILT=1 and BEAMR_FIXTURES_PREBUILT=1 make
# the rebar3 pre-hook and the fixture builder only check that the host's files are
# there. Dialyzer's OTP PLT stays in the root's /root/.cache/rebar3, so only the first
# run builds it.
#
# The suites run in new mount, network and PID namespaces: the root's /proc and /dev
# mounts exist only there (and are unmounted on exit besides), the network is a
# loopback of its own (the root's /etc/hosts names localhost and this host's name, for
# anything that resolves them or starts a distributed node; epmd, if one starts, is
# the root's and ends with the namespace), and no process outlives the run.
#
# Usage: test-otp27.sh [all|eunit|dialyzer] [rebar3 eunit options, e.g. --module=M]
# (default all). Needs root (or sudo);
# debootstrap is installed from Debian's packages when missing. Environment:
# BEAMR_DEBIAN_MIRROR (default http://deb.debian.org/debian), BEAMR_FIXTURE_OUT (where
# the host's fixtures are, as for build-fixtures.sh).
set -eu
project=$(cd "$(dirname "$0")/.." && pwd)
root=${BEAMR_TRIXIE_ROOT:-/var/tmp/beamr-trixie-root}
mirror=${BEAMR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=erlang-nox,erlang-dev,erlang-eunit,erlang-dialyzer,erlang-proper,rebar3,iproute2
marker=$root/.beamr-root-complete
what=${1:-all}
[ $# -eq 0 ] || shift

case $what in
  all|eunit|dialyzer) ;;
  --inside|--install) ;;
  *) echo "usage: $0 [all|eunit|dialyzer]" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  exec sudo -E sh "$0" "$what" "$@"
fi

# Mount points under the root, deepest first (from this namespace's mount table).
mounts_under() {
  awk -v r="$root" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts | sort -r
}

# The second stage, PID 1 of new namespaces: --install (mount and PID) installs the
# packages in a fresh root; --inside (mount, network and PID) runs the suites.
if [ "$what" = --inside ] || [ "$what" = --install ]; then
  stage=$what
  what=${1:-}
  [ $# -eq 0 ] || shift
  # Only ever PID 1 of the namespaces made below: its mounts must not reach the host's.
  [ "$$" -eq 1 ] || { echo "test-otp27: $stage is an internal stage" >&2; exit 2; }
  cleanup() {
    for m in $(mounts_under); do umount -l "$m" 2>/dev/null || true; done
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  mount -t proc proc "$root/proc"
  # A /dev of its own: a tmpfs with only the devices the BEAM and the tests use.
  mount -t tmpfs -o mode=755,nosuid dev "$root/dev"
  for d in null zero full random urandom tty; do
    : > "$root/dev/$d"
    mount --bind "/dev/$d" "$root/dev/$d"
  done
  mkdir -p "$root/dev/shm" "$root/dev/pts"
  mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm"
  # Only apt's log of package scripts' output wants a terminal; none is not an error.
  mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts" 2>/dev/null || true
  if [ "$stage" = --install ]; then
    # No package may start a daemon in the root.
    printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
      DEBIAN_FRONTEND=noninteractive /bin/sh -euc "apt-get update -qq
        apt-get install -y -qq --no-install-recommends $(echo "$packages" | tr , ' ') >/dev/null
        apt-get clean"
    exit $?
  fi
  chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 TERM=dumb BEAMR_NIF_PREBUILT=1 BEAMR_FIXTURES_PREBUILT=1 \
    /bin/sh /beamr-run.sh "$what" "$@"
  exit $?
fi

# A run killed outside the namespaces leaves no mounts, but check before deleting.
refuse_if_mounted() {
  if [ -n "$(mounts_under)" ]; then
    echo "test-otp27: $root has mounts; unmount them first:" >&2
    mounts_under >&2
    exit 1
  fi
}

if [ "$(cat "$marker" 2>/dev/null || true)" != "$packages" ]; then
  command -v debootstrap >/dev/null 2>&1 || {
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  refuse_if_mounted
  rm -rf "$root"
  echo "test-otp27: making a Debian trixie root in $root (debootstrap)"
  start=$(date +%s)
  log=$root.debootstrap.log
  debootstrap --variant=minbase trixie "$root" "$mirror" > "$log" 2>&1 || {
    echo "test-otp27: debootstrap failed; the end of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  }
  echo "test-otp27: installing $packages"
  unshare --mount --pid --fork --kill-child --propagation private sh "$0" --install
  echo "$packages" > "$marker"
  echo "test-otp27: root made in $(( $(date +%s) - start )) s"
fi

nif=$project/priv/beamr_nif.so
fixtures=${BEAMR_FIXTURE_OUT:-$project/_build/fixtures}
[ -f "$nif" ] || {
  echo "test-otp27: $nif is missing: build it on the host (sh scripts/build-nif.sh)" >&2; exit 1; }
ls "$fixtures"/*.wasm >/dev/null 2>&1 || {
  echo "test-otp27: no fixtures in $fixtures: build them on the host (sh scripts/build-fixtures.sh all)" >&2
  exit 1; }

refuse_if_mounted
rm -rf "$root/beamr"
mkdir -p "$root/beamr/_build/fixtures" "$root/beamr/priv"
tar -C "$project" --exclude=./.git --exclude=./_build --exclude=./target -cf - . |
  tar -C "$root/beamr" -xf -
cp "$nif" "$root/beamr/priv/beamr_nif.so"
cp "$fixtures"/*.wasm "$root/beamr/_build/fixtures/"
# Written every run: the host's name may have changed since the root was made.
cat > "$root/etc/hosts" <<EOF
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
127.0.1.1 $(hostname)
EOF

# What runs in the root. OTP 26 and later report calls to unknown modules by default;
# dev_wasm_env's calls to HyperBEAM's modules (present only in a node) are such calls,
# which OTP 25's dialyzer, the one rebar.config is written for, does not report and
# whose no_unknown option it refuses. So on OTP 27 dialyzer runs with rebar.config's
# warnings plus no_unknown, from a copy of rebar.config made in the root.
cat > "$root/beamr-run.sh" <<'EOF'
set -eu
ip link set lo up
cd /beamr
erl -noshell -eval 'io:format("OTP ~s, ERTS ~s~n",
    [erlang:system_info(otp_release), erlang:system_info(version)]), halt().'
what=$1
shift
eunit() { rebar3 eunit "$@"; }
dialyzer() {
  erl -noshell -eval '
    {ok, Terms} = file:consult("rebar.config"),
    D = proplists:get_value(dialyzer, Terms, []),
    W = proplists:get_value(warnings, D, []),
    D2 = lists:keystore(warnings, 1, D, {warnings, [no_unknown | W]}),
    T2 = lists:keystore(dialyzer, 1, Terms, {dialyzer, D2}),
    ok = file:write_file("rebar.otp27.config", [io_lib:format("~tp.~n", [T]) || T <- T2]),
    halt().'
  REBAR_CONFIG=rebar.otp27.config rebar3 dialyzer
}
case $what in
  all) eunit "$@"; dialyzer ;;
  eunit) eunit "$@" ;;
  dialyzer) dialyzer ;;
esac
EOF

exec unshare --mount --net --pid --fork --kill-child --propagation private sh "$0" --inside "$what" "$@"
