# beamr: the two set-up commands are `make demo` and `make test`.
.PHONY: all deps build demo test test-otp27 bench icount lint audit fuzz shell clean

all: build

deps:
	@sh scripts/ensure-deps.sh

build: deps
	rebar3 compile

demo: build
	escript scripts/demo.escript

# Every test: the Rust core and NIF crates, then the EUnit suites against the real NIF.
# The compiled fixtures are built first, outside the suites' time limits (a fresh
# machine builds emscripten's wasm64 libraries once, about 2 minutes).
test: deps
	cargo test --release --workspace
	sh scripts/build-fixtures.sh all
	rebar3 eunit

# The EUnit suites and dialyzer again on Erlang/OTP 27 (HyperBEAM's), in a Debian trixie
# root kept in /var/tmp (scripts/test-otp27.sh), with the NIF and fixtures built here.
test-otp27: deps
	sh scripts/build-nif.sh
	sh scripts/build-fixtures.sh all
	sh scripts/test-otp27.sh

bench: build
	sh scripts/build-fixtures.sh lua && sh scripts/build-fixtures.sh aos && sh scripts/build-fixtures.sh aos64
	cargo build --profile release-lto -p beamr_core --example lua_handle --example call_cost
	escript scripts/bench.escript

# Instructions per call and per import round trip (callgrind; needs valgrind).
icount: build
	sh scripts/icount.sh

# The core's imports without circles (scripts/core-imports.escript), then the linters.
lint: deps
	escript scripts/core-imports.escript
	cargo fmt --all --check
	cargo clippy --release --workspace --all-targets -- -D warnings
	rebar3 dialyzer

# Cargo.lock against the RustSec advisory database, offline (scripts/audit.sh).
audit:
	sh scripts/audit.sh

# Coverage-guided fuzzing: every target in fuzz/ for FUZZ_SECONDS each (default 60);
# fails on any finding. Installs cargo-fuzz from crates.io when missing.
fuzz: deps
	sh fuzz/run.sh

shell: build
	rebar3 shell

clean:
	rebar3 clean
	cargo clean
	rm -f priv/beamr_nif.so
