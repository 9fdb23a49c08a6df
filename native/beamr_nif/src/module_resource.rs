//! The compiled-module handle `beamr:compile/1` returns, and finding the compiled
//! module behind whatever term names one: a module handle, an instance, or (on dirty
//! schedulers) the module's bytes.

use crate::errors;
use crate::instance::Handle;
use beamr_core::module::{compile_exactly, compile_hashed};
use beamr_core::{CompiledModule, Error, Variant};
use rustler::{Binary, Env, Resource, ResourceArc, Term};
use std::sync::Arc;

/// A compiled module, as the term `beamr:compile/1` returns.
pub struct ModuleResource {
    module: Arc<CompiledModule>,
}

#[rustler::resource_impl]
impl Resource for ModuleResource {}

impl ModuleResource {
    pub fn new(module: Arc<CompiledModule>) -> ModuleResource {
        ModuleResource { module }
    }

    pub fn module(&self) -> &Arc<CompiledModule> {
        &self.module
    }
}

/// Why a term names no compiled module.
#[derive(Debug)]
pub enum NoModule {
    /// It is neither a module handle nor an instance (nor bytes, where bytes are taken).
    NotAModule,
    /// It is bytes that did not compile.
    Core(Error),
}

/// The compiled module behind a module handle or an instance.
pub fn module_of_handle(term: Term) -> Option<Arc<CompiledModule>> {
    if let Ok(m) = term.decode::<ResourceArc<ModuleResource>>() {
        return Some(m.module.clone());
    }
    term.decode::<Handle>().ok().map(|i| i.module_arc())
}

/// As [`module_of_handle`], also compiling wasm/WAT bytes for `variant` (or finding
/// them in the cache), in the memory layout the module suits; only for NIFs on dirty
/// schedulers.
pub fn module_of(term: Term, variant: Variant) -> Result<Arc<CompiledModule>, NoModule> {
    module_or_bytes(term, |bytes, hash| compile_hashed(bytes, hash, variant))
}

/// As [`module_of`], bytes compiled for exactly `variant`, memory layout included: a
/// link shares its module's store, so its engine.
pub fn module_of_on(term: Term, variant: Variant) -> Result<Arc<CompiledModule>, NoModule> {
    module_or_bytes(term, |bytes, hash| compile_exactly(bytes, hash, variant))
}

fn module_or_bytes(
    term: Term,
    compile: impl FnOnce(&[u8], [u8; 32]) -> Result<Arc<CompiledModule>, Error>,
) -> Result<Arc<CompiledModule>, NoModule> {
    match term.decode::<Binary>() {
        Ok(bytes) => {
            compile(bytes.as_slice(), crate::image_hash::hash_of(&bytes)).map_err(NoModule::Core)
        }
        Err(_) => module_of_handle(term).ok_or(NoModule::NotAModule),
    }
}

impl NoModule {
    /// The error tuple: `{error, {bad_module, Term}}`, or the compile error.
    pub fn encode<'a>(self, env: Env<'a>, term: Term<'a>) -> Term<'a> {
        match self {
            NoModule::NotAModule => errors::bad_module(env, term),
            NoModule::Core(e) => errors::core_error(env, &e),
        }
    }
}
