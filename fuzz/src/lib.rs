//! The checks behind beamr's fuzz targets, one module per target, each a
//! `check(data)` that turns arbitrary bytes into a case and panics when an invariant
//! breaks (a panic is what libFuzzer reports as a crash). The same functions replay the
//! committed corpora and reproducers in `cargo test` (see
//! `native/beamr_core/tests/fuzz_replay.rs`), so this crate uses nothing of
//! libFuzzer's: only beamr_core, wasmtime and the wasm tool crates.

pub mod compile;
pub mod drive;
pub mod legacy_eh;
pub mod rewrites;
pub mod run_modules;
pub mod smith;
pub mod snapshots;
