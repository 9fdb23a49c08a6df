//! beamr's core: wasmtime engine, modules, instances and their call protocol, with
//! no knowledge of Erlang.
//!
//! The NIF crate (`beamr_nif`) is a thin layer over this one: it converts terms to the
//! plain values used here and maps [`Error`] to error tuples. Everything that can be
//! tested without a BEAM is tested here.
//!
//! Imports point down, never around (`scripts/core-imports.escript` checks it). From
//! the bottom: plain data and settings (`error`, `value`, `source`, `proposals`,
//! `engine`, `limits`); the exchange between a driver and a parked call (`exchange`)
//! and the store's data and epoch callback (`store`); what runs on a store
//! (`host_import`, `emscripten`, `typed`, `call_slot`); the load-time rewrites
//! (`prepare`); compiled modules and their caches (`module`, described by
//! `introspect`) and links (`link`); then instances (`instance`) and their items
//! (`items`).

mod call_slot;
pub mod compile_pool;
pub mod emscripten;
pub mod engine;
pub mod error;
mod exchange;
pub mod gate;
mod host_import;
pub mod initial_tables;
pub mod instance;
pub mod introspect;
pub mod items;
pub mod limits;
pub mod link;
pub mod memory;
pub mod memory_budget;
pub mod memory_extent;
pub mod module;
pub mod prepare;
pub mod proposals;
mod reaper;
pub mod snapshot;
pub mod source;
pub mod stacks;
pub mod start_cost;
pub mod store;
mod typed;
pub mod value;
mod zero_pages;

pub use engine::Variant;
pub use error::{Error, SnapshotError};
pub use instance::start::{Started, Starting};
pub use instance::{Callee, Instance, Slice, Step, StopHandle, Target};
pub use introspect::{describe, function_exists, ItemType};
pub use items::TableEntry;
pub use limits::Options;
pub use link::Link;
pub use module::{compile, compile_for, CompiledModule, ExportDesc, ImportDesc, Kind};
pub use value::{Arg, SpecialFloat};
pub use wasmtime::{FuncType, Val, ValType};

// Kept at their old paths for compatibility: the load-time rewrites moved under
// `prepare`, the disk cache and `aot` artifacts under `module`.
pub use prepare::{bulk_chunks, legacy_eh, reserved_exports};
/// The disk cache and `aot` artifacts (see `module/disk_cache.rs`), at their old path.
pub mod disk_cache {
    pub use crate::module::disk_cache::*;
    pub use crate::module::{load_artifact, precompile};
}
