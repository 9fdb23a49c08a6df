//! An instance's snapshots: [`Instance::serialize`] and [`Instance::deserialize`] over
//! the format in `snapshot.rs`, and the state they cover, found once at start through
//! the reserved exports ([`state_refs`]) together with each table's initial contents.

use super::Instance;
use crate::error::Error;
use crate::initial_tables::{Initial, InitialFuncs, TableInit};
use crate::module::CompiledModule;
use crate::snapshot::{self, StateRefs};
use crate::store::Host;
use std::sync::Arc;
use wasmtime::{Extern, Ref, Store};

impl Instance {
    /// The instance's whole state in the snapshot format (see `snapshot.rs`), written
    /// into a buffer that `alloc` provides for the exact length, so the bytes are
    /// copied once. Works between calls and while a call is parked in an import.
    pub fn serialize_into<B: AsMut<[u8]>>(
        &mut self,
        alloc: impl FnOnce(usize) -> B,
    ) -> Result<B, Error> {
        let refs = self.state_refs.clone();
        let funcs = self.initial_funcs()?;
        let hash = *self.module.hash();
        self.with_store(|mut store| {
            let plan = snapshot::plan(&mut store, &refs, &funcs, &hash)?;
            let mut out = alloc(plan.len());
            snapshot::write(&mut store, &refs, &plan, out.as_mut())?;
            Ok(out)
        })?
    }

    /// [`Instance::serialize_into`] a fresh vector.
    pub fn serialize(&mut self) -> Result<Vec<u8>, Error> {
        self.serialize_into(|n| vec![0u8; n])
    }

    /// Restores a snapshot taken of an instance of the same module, or a BEAMR raw
    /// memory snapshot (recognized by the missing magic).
    pub fn deserialize(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let refs = self.state_refs.clone();
        let hash = *self.module.hash();
        if !snapshot::has_magic(bytes) {
            return self.with_store(|store| snapshot::restore_raw(store, &refs, bytes))?;
        }
        let parsed = snapshot::parse(bytes)?;
        let funcs = self.initial_funcs()?;
        // Linked modules may own the memory; then nothing is known of its pages.
        let fresh_from = self.module.memory_extent().filter(|_| !self.linked);
        self.with_store(|store| {
            snapshot::restore(store, &refs, &funcs, &hash, &parsed, fresh_from)
        })?
    }

    /// The functions of the initial tables, resolved in the store on first use.
    pub(crate) fn initial_funcs(&mut self) -> Result<Arc<InitialFuncs>, Error> {
        if let Some(funcs) = &self.initial_funcs {
            return Ok(funcs.clone());
        }
        let (handle, module) = (self.handle, self.module.clone());
        let refs = self.state_refs.clone();
        let funcs = self.with_store(|store| {
            Arc::new(InitialFuncs::resolve(
                store,
                &handle,
                module.wasmtime_module(),
                module.initial_tables(),
                &refs.tables,
            ))
        })?;
        self.initial_funcs = Some(funcs.clone());
        Ok(funcs)
    }
}

/// Finds the state a snapshot covers through the reserved exports, and each table's
/// initial contents: from the module when it determines them (no slot is read), else
/// read slot by slot now (see `initial_tables.rs`).
pub(super) fn state_refs(
    store: &mut Store<Host>,
    handle: &wasmtime::Instance,
    module: &CompiledModule,
) -> StateRefs {
    let exports = module.state_exports();
    let memory = (exports.memory.as_ref())
        .and_then(|at| handle.get_module_export(&mut *store, at)?.into_memory());
    let globals = (exports.globals.iter())
        .filter_map(|(i, at)| {
            Some((
                *i,
                handle.get_module_export(&mut *store, at)?.into_global()?,
            ))
        })
        .collect();
    let mut tables = Vec::with_capacity(exports.tables.len());
    for (i, at) in &exports.tables {
        let Some(t) = handle
            .get_module_export(&mut *store, at)
            .and_then(Extern::into_table)
        else {
            continue;
        };
        let initial = match module.initial_tables().table(*i) {
            TableInit::Known(entries) => Initial::Known(entries.clone()),
            TableInit::Unknown => {
                let read = (0..t.size(&*store))
                    .map(|slot| match t.get(&mut *store, slot) {
                        Some(Ref::Func(f)) => f,
                        _ => None,
                    })
                    .collect();
                Initial::Read(read)
            }
        };
        tables.push((*i, t, initial));
    }
    StateRefs {
        memory,
        globals,
        tables,
    }
}
