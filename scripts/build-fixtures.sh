#!/bin/sh
# Builds the compiled test fixtures with Debian's emscripten into _build/fixtures
# (git-ignored; nothing built is committed).
# Usage: build-fixtures.sh [cxx|lua|cxx64|lua64|aos|aos64|all].
#   cxx: test/fixtures/cxx/unwind.cpp, as unwind-weh.wasm (-fwasm-exceptions) and
#        unwind-jseh.wasm (-fexceptions: JS-style exceptions through invoke_*).
#   lua: Lua 5.4 compiled as C++ with -fwasm-exceptions plus test/fixtures/lua/aos.cpp,
#        as lua-aos.wasm. The Lua sources come from crates.io (the lua-src crate, via
#        `cargo fetch`) into a cache dir outside the tree, once.
#   cxx64, lua64: the same as memory64 modules, as AOS images are (unwind64-weh.wasm,
#        lua64-aos.wasm), at -O0: binaryen 108's wasm-opt asserts on memory64 at -O2,
#        and an -O1 C++ throw traps in V8 too. Emscripten 3.1.6's wasm64 setjmp/longjmp
#        and long double formatting trap (`unreachable`) in V8 as in beamr, so the
#        tests use these builds for exceptions, not for those.
#   aos, aos64: the AOS-like process (test/fixtures/lua/process.cpp running
#        process.lua, embedded as a generated header), as lua-process.wasm (wasm32,
#        -O2) and lua64-process.wasm (memory64, -O2 as well, with tf_compare64.c so
#        that float formatting does not trap).
# Outputs are rebuilt only when their sources are newer. Fails loudly when the
# toolchain or a download is missing. BEAMR_FIXTURES_PREBUILT=1 builds nothing and only
# checks that the set's outputs are there: for a root without emscripten that runs
# fixtures built on the host (scripts/test-otp27.sh).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
what=${1:-all}
out=${BEAMR_FIXTURE_OUT:-$root/_build/fixtures}
cache=${BEAMR_FIXTURE_CACHE:-/var/tmp/beamr-fixture-cache}
lua_src_version=547.1.0
mkdir -p "$out"

# outputs SET: the files a set produces.
outputs() {
  case $1 in
    cxx) echo unwind-weh.wasm unwind-jseh.wasm ;;
    lua) echo lua-aos.wasm ;;
    cxx64) echo unwind64-weh.wasm ;;
    lua64) echo lua64-aos.wasm ;;
    aos) echo lua-process.wasm ;;
    aos64) echo lua64-process.wasm ;;
    all) echo unwind-weh.wasm unwind-jseh.wasm lua-aos.wasm unwind64-weh.wasm lua64-aos.wasm \
      lua-process.wasm lua64-process.wasm ;;
    *) echo "usage: $0 [cxx|lua|cxx64|lua64|aos|aos64|all]" >&2; exit 2 ;;
  esac
}

if [ "${BEAMR_FIXTURES_PREBUILT:-}" = 1 ]; then
  files=$(outputs "$what")
  for f in $files; do
    [ -f "$out/$f" ] || {
      echo "build-fixtures: BEAMR_FIXTURES_PREBUILT=1 but $out/$f is missing" >&2; exit 1; }
  done
  exit 0
fi

command -v em++ >/dev/null 2>&1 || {
  echo "build-fixtures: em++ not found (run scripts/ensure-deps.sh)" >&2; exit 1; }
# Debian's emscripten runs its JS optimizer with Debian's acorn, which a node from
# elsewhere does not look for.
export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}

# newer TARGET SOURCES...: true when TARGET is missing or older than any source.
stale() {
  target=$1; shift
  [ -f "$target" ] || return 0
  for s in "$@"; do [ "$s" -nt "$target" ] && return 0; done
  return 1
}

# Runs an emscripten command for memory64. Debian ships emscripten's cache frozen, with
# wasm32 libraries only: memory64 builds get a cache of their own, where emscripten
# builds the wasm64 libraries a fixture needs once (about 2 minutes), and a node it
# can run (scripts/em-node-memory64).
em64() {
  EM_FROZEN_CACHE='' EM_CACHE=$cache/em64-cache EM_NODE_JS=$root/scripts/em-node-memory64 "$@"
}

build_cxx() {
  src=$root/test/fixtures/cxx/unwind.cpp
  exports=_throw_across,_throw_typed,_no_throw,_longjmp_across,_host_in_invoke,_spin_in_invoke,_longjmp_uncaught,_malloc,_free
  # host.js only declares host_add to emscripten's linker; it stays a wasm import.
  lib=$root/test/fixtures/cxx/host.js
  if stale "$out/unwind-weh.wasm" "$src" "$lib" "$0"; then
    em++ -O2 -fwasm-exceptions -sSTANDALONE_WASM=1 --no-entry --js-library "$lib" \
      -sEXPORTED_FUNCTIONS=$exports "$src" -o "$out/unwind-weh.wasm"
  fi
  # JS-style exceptions need emscripten's JS runtime (__cxa_throw and friends): a
  # STANDALONE_WASM build would stub __cxa_throw with abort, so build for JS and keep
  # the .wasm (beamr answers those imports natively).
  if stale "$out/unwind-jseh.wasm" "$src" "$lib" "$0"; then
    em++ -O2 -fexceptions --no-entry -sEXPORTED_FUNCTIONS=$exports --js-library "$lib" \
      "$src" -o "$out/unwind-jseh.js"
    rm -f "$out/unwind-jseh.js"
  fi
}

build_cxx64() {
  src=$root/test/fixtures/cxx/unwind.cpp
  exports=_throw_across,_throw_typed,_no_throw
  lib=$root/test/fixtures/cxx/host.js
  if stale "$out/unwind64-weh.wasm" "$src" "$lib" "$0"; then
    em64 em++ -O0 -sMEMORY64=1 -fwasm-exceptions -sSTANDALONE_WASM=1 --no-entry \
      --js-library "$lib" -sEXPORTED_FUNCTIONS=$exports "$src" -o "$out/unwind64-weh.wasm"
  fi
}

fetch_lua() {
  manifest=$cache/lua-fetch
  dir=$cache/cargo-home/registry/src
  found=$(ls -d "$dir"/*/lua-src-$lua_src_version/lua-5.4.* 2>/dev/null | head -n 1 || true)
  if [ -z "$found" ]; then
    mkdir -p "$manifest/src"
    printf '[package]\nname = "lua-fetch"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nlua-src = "=%s"\n' \
      "$lua_src_version" > "$manifest/Cargo.toml"
    : > "$manifest/src/lib.rs"
    CARGO_HOME=$cache/cargo-home cargo fetch -q --manifest-path "$manifest/Cargo.toml" >&2
    found=$(ls -d "$dir"/*/lua-src-$lua_src_version/lua-5.4.* | head -n 1)
  fi
  echo "$found"
}

# lua_objects OBJDIR [em64] FLAGS...: compiles Lua's sources (as C++) into OBJDIR and
# prints the object list, each compiler run behind em64 when that is given (memory64).
lua_objects() {
  objs=$1; shift
  run=""
  if [ "$1" = em64 ]; then run=em64; shift; fi
  lua=$(fetch_lua)
  [ -f "$lua/lapi.c" ] || { echo "build-fixtures: no Lua sources in $lua" >&2; exit 1; }
  mkdir -p "$objs"
  list=""
  for c in "$lua"/*.c; do
    name=$(basename "$c" .c)
    case $name in lua|luac) continue ;; esac
    o=$objs/$name.o
    # As C++, Lua raises errors with throw and catches them with try/catch.
    if stale "$o" "$c" "$0"; then $run em++ "$@" -x c++ -c "$c" -o "$o" >&2; fi
    list="$list $o"
  done
  echo "$list"
}

# lua_link OUTPUT GLUE "OBJECTS" "DEPS" [em64] FLAGS...: Lua's objects and GLUE (a
# .cpp exporting handle) as OUTPUT, when any of them or of DEPS is newer.
lua_link() {
  output=$1 glue=$2 list=$3 deps=$4; shift 4
  run=""
  if [ "$1" = em64 ]; then run=em64; shift; fi
  lua=$(fetch_lua)
  if stale "$output" "$glue" "$0" $list $deps; then
    $run em++ "$@" -I"$lua" -I"$out" -sSTANDALONE_WASM=1 --no-entry \
      -sEXPORTED_FUNCTIONS=_handle,_malloc,_free \
      -sTOTAL_STACK=1048576 -sINITIAL_MEMORY=4194304 -sALLOW_MEMORY_GROWTH=1 \
      -sMAXIMUM_MEMORY=268435456 \
      "$glue" $list -o "$output"
  fi
}

lua_flags="-fwasm-exceptions -DLUA_COMPAT_5_3"

# build_lua FIXTURE [em64] FLAGS...: Lua and aos.cpp as $out/FIXTURE-aos.wasm.
build_lua() {
  fixture=$1; shift
  list=$(lua_objects "$out/$fixture-obj" "$@" $lua_flags)
  lua_link "$out/$fixture-aos.wasm" "$root/test/fixtures/lua/aos.cpp" "$list" "" "$@" $lua_flags
}

# process_header: test/fixtures/lua/process.lua as a C string in $out/process_lua.h.
process_header() {
  src=$root/test/fixtures/lua/process.lua
  header=$out/process_lua.h
  if grep -q ')PROCESS_LUA"' "$src"; then
    echo "build-fixtures: process.lua holds the raw string's delimiter" >&2; exit 1
  fi
  if stale "$header" "$src" "$0"; then
    { printf 'static const char process_lua[] = R"PROCESS_LUA('
      cat "$src"
      printf ')PROCESS_LUA";\n'; } > "$header.tmp"
    mv "$header.tmp" "$header"
  fi
}

# The AOS-like process (process.cpp running the embedded process.lua): wasm32 at -O2,
# on the lua set's objects.
build_aos() {
  process_header
  list=$(lua_objects "$out/lua-obj" -O2 $lua_flags)
  lua_link "$out/lua-process.wasm" "$root/test/fixtures/lua/process.cpp" "$list" \
    "$out/process_lua.h" -O2 $lua_flags
}

# The same as memory64, at -O2 too: binaryen 108's wasm-opt runs its passes on this
# module without asserting.
build_aos64() {
  process_header
  list=$(lua_objects "$out/lua64o2-obj" em64 -O2 -sMEMORY64=1 $lua_flags)
  # Long double comparisons with the result type their callers expect (see the file).
  tf=$root/test/fixtures/lua/tf_compare64.c
  if stale "$out/lua64o2-obj/tf_compare64.o" "$tf" "$0"; then
    em64 emcc -O2 -sMEMORY64=1 -c "$tf" -o "$out/lua64o2-obj/tf_compare64.o"
  fi
  list="$list $out/lua64o2-obj/tf_compare64.o"
  lua_link "$out/lua64-process.wasm" "$root/test/fixtures/lua/process.cpp" "$list" \
    "$out/process_lua.h" em64 -O2 -sMEMORY64=1 $lua_flags
}

build() {
  case $1 in
    cxx) build_cxx ;;
    lua) build_lua lua -O2 ;;
    cxx64) build_cxx64 ;;
    lua64) build_lua lua64 em64 -O0 -sMEMORY64=1 ;;
    aos) build_aos ;;
    aos64) build_aos64 ;;
    *) echo "usage: $0 [cxx|lua|cxx64|lua64|aos|aos64|all]" >&2; exit 2 ;;
  esac
}

if [ "$what" = all ]; then
  for one in cxx lua cxx64 lua64 aos aos64; do build "$one"; done
else
  build "$what"
fi
