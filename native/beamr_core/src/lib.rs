//! beamr's core: wasmtime engine, modules, instances and their call protocol, with
//! no knowledge of Erlang.
//!
//! The NIF crate (`beamr_nif`) is a thin layer over this one: it converts terms to the
//! plain values used here and maps [`Error`] to error tuples. Everything that can be
//! tested without a BEAM is tested here.

pub mod emscripten;
pub mod engine;
pub mod error;
mod exchange;
pub mod instance;
pub mod legacy_eh;
pub mod memory;
pub mod module;
pub mod value;

pub use error::Error;
pub use instance::{Callee, Instance, Slice, Step, StopHandle, Target};
pub use module::{compile, CompiledModule, ExportDesc, ImportDesc, Kind};
pub use value::{Arg, SpecialFloat};
pub use wasmtime::{FuncType, Val, ValType};
