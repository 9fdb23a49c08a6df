#!/bin/sh
# Installs what a fresh Debian machine lacks to build and test beamr: Erlang/OTP with
# its headers, EUnit, Dialyzer, PropEr and rebar3, from Debian's packages. Rust
# (cargo) is expected to be present; crates come from crates.io. Debian's emscripten
# (and node-acorn, which its JS optimizer needs) builds the compiled test fixtures.
set -eu
missing=""
command -v erl >/dev/null 2>&1 || missing="yes"
command -v rebar3 >/dev/null 2>&1 || missing="yes"
[ -d /usr/lib/erlang/lib ] && ls -d /usr/lib/erlang/lib/eunit-* >/dev/null 2>&1 || missing="yes"
ls -d /usr/lib/erlang/lib/proper-* >/dev/null 2>&1 || missing="yes"
command -v em++ >/dev/null 2>&1 || missing="yes"
[ -f /usr/share/nodejs/acorn/package.json ] || missing="yes"
if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq erlang-nox erlang-dev erlang-eunit erlang-dialyzer erlang-proper rebar3 \
    emscripten node-acorn >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
