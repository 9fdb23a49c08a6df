//! A live instance: the [`Instance`] type, its lifecycle (stop, drop) and what it
//! tells about itself; the operations on it live in the files of `instance/`.
//!
//! Every call runs as a wasmtime async call on a fiber, polled by hand. A poll ends in
//! one of four ways, reported as a [`Step`]: the call finished, it reached an import
//! (the fiber is parked inside the import's host function until the driver answers),
//! its time slice ran out (the epoch callback yielded), or it failed. Nothing ever
//! blocks waiting for an answer: the driver is free until it calls [`Instance::resume`].
//! The state machine that does this is `instance/call.rs`; instantiation is
//! `instance/start.rs`, the export cache `instance/exports.rs`, snapshots
//! `instance/snapshot.rs`; globals, tables and memory are in `items.rs`. This file
//! imports only the ones its fields need (`exports.rs`), and they import it.

use crate::call_slot::CallFuture;
use crate::error::Error;
use crate::initial_tables::InitialFuncs;
use crate::module::{CompiledModule, ImportDesc};
use crate::reaper::INLINE_BYTES;
use crate::snapshot::StateRefs;
use crate::store::Shared;
use exports::Resolved;
use fuel::Fuel;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use wasmtime::{Memory, Store, Val};

mod call;
mod exports;
mod fuel;
mod snapshot;
pub(crate) mod start;

pub use exports::{Callee, Target};
// Kept at their old paths for compatibility: they moved to `store.rs`.
pub use crate::store::{Host, DIRTY_SLICE_TICKS};

/// Which kind of scheduler thread is polling: normal ones get short time slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slice {
    Normal,
    Dirty,
}

/// How far a poll got.
pub enum Step {
    /// The innermost call level finished with these results.
    Done(Vec<Val>),
    /// The innermost call level is parked in import `index` (into the module's imports).
    Import { index: usize, args: Vec<Val> },
    /// The time slice ran out; poll again with [`Instance::proceed`].
    Yield,
    /// The innermost call level failed.
    Failed(Error),
}

enum State {
    Idle(Store<Host>),
    Running(CallFuture),
    Stopped,
}

/// A handle that stops an instance from any thread, without its lock.
#[derive(Clone)]
pub struct StopHandle(Arc<Shared>);

impl StopHandle {
    /// Marks the instance stopped; a running call traps at the next epoch tick.
    pub fn stop(&self) {
        self.0.stopped.store(true, Ordering::SeqCst);
    }

    pub fn is_stopped(&self) -> bool {
        self.0.stopped.load(Ordering::SeqCst)
    }

    /// Makes a running call trap at the next epoch tick, so that whoever holds the
    /// instance can [`Instance::abandon`] it promptly.
    pub fn abandon(&self) {
        self.0.abandoned.store(true, Ordering::SeqCst);
    }
}

/// A wasm instance with its store. Not thread-safe by itself: the owner serializes
/// access (the NIF keeps it behind a mutex).
pub struct Instance {
    module: Arc<CompiledModule>,
    handle: wasmtime::Instance,
    memory: Option<Memory>,
    shared: Arc<Shared>,
    state: State,
    /// Imports the active call levels are inside, outermost first.
    imports_waiting: Vec<usize>,
    /// True when the innermost level is parked in the last of `imports_waiting`.
    parked: bool,
    /// The deadlines of the outer levels, restored as re-entrant calls return.
    saved_deadlines: Vec<u64>,
    exports: Resolved,
    /// Imports of linked modules, numbered after the module's own (see `link.rs`).
    linked_imports: Vec<ImportDesc>,
    /// Modules were linked into the store (their memories are not `memory`).
    linked: bool,
    /// The functions of the initial tables, resolved at the first snapshot, restore
    /// or table read that needs them (see `initial_tables.rs`).
    initial_funcs: Option<Arc<InitialFuncs>>,
    /// The state a snapshot covers, found through the reserved exports.
    state_refs: StateRefs,
    /// Fuel accounting, on a metered instance.
    fuel: Fuel,
    /// The box the last outermost call's future ran in, for the next one.
    spare_call: Option<CallFuture>,
}

impl Instance {
    /// Whether calls on this instance are metered in fuel.
    pub fn is_metered(&self) -> bool {
        self.module.variant().deterministic
    }

    /// Sets the fuel budget of the next outermost call (`None`: unbounded). A call
    /// that exhausts it fails with [`Error::OutOfFuel`]; the instance stays usable.
    pub fn set_fuel_budget(&mut self, budget: Option<u64>) -> Result<(), Error> {
        if !self.is_metered() {
            return Err(Error::NotMetered);
        }
        self.fuel.budget = budget;
        Ok(())
    }

    /// The fuel the last finished outermost call consumed.
    pub fn fuel_consumed(&self) -> Result<Option<u64>, Error> {
        if !self.is_metered() {
            return Err(Error::NotMetered);
        }
        Ok(self.fuel.consumed)
    }

    pub fn module(&self) -> &Arc<CompiledModule> {
        &self.module
    }

    /// The wasmtime instance, for store operations in sibling modules (`items.rs`).
    pub(crate) fn handle(&self) -> wasmtime::Instance {
        self.handle
    }

    /// The memory reads and writes address, if any.
    pub(crate) fn default_memory(&self) -> Option<Memory> {
        self.memory
    }

    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.shared.clone())
    }

    /// Where the box kept for the next call's future is, if there is one.
    #[cfg(test)]
    pub(crate) fn spare_call_address(&self) -> Option<usize> {
        self.spare_call
            .as_ref()
            .map(|b| &**b as *const dyn crate::call_slot::CallSlot as *const () as usize)
    }

    /// No call is in progress.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle(_))
    }

    /// The import numbered `index` in a [`Step::Import`]: the module's own imports
    /// first, then those of its links.
    pub fn import_desc(&self, index: usize) -> &ImportDesc {
        let own = self.module.imports();
        match own.get(index) {
            Some(import) => import,
            None => &self.linked_imports[index - own.len()],
        }
    }

    /// The import the innermost call level is parked in, if it is parked in one.
    pub fn pending_import(&self) -> Option<&ImportDesc> {
        self.pending_import_index().map(|i| self.import_desc(i))
    }

    /// An empty value vector for the results of an import, reusing an allocation. A
    /// driver that builds results in it and hands the arguments of each import step
    /// back to [`Instance::recycle_vals`] makes round trips that allocate no vectors.
    #[inline]
    pub fn spare_vals(&self) -> Vec<Val> {
        self.shared.spare_vals()
    }

    /// Keeps `v`'s allocation for [`Instance::spare_vals`] (the next import's arguments).
    #[inline]
    pub fn recycle_vals(&self, v: Vec<Val>) {
        self.shared.recycle_vals(v)
    }

    /// The number of [`Instance::pending_import`], as [`Step::Import`] reports it.
    pub fn pending_import_index(&self) -> Option<usize> {
        if self.parked {
            self.imports_waiting.last().copied()
        } else {
            None
        }
    }

    /// Frees the store if the instance was stopped; true if it is (now) stopped.
    fn settle_stop(&mut self) -> bool {
        if self.shared.stopped.load(Ordering::SeqCst) {
            if !matches!(self.state, State::Stopped) {
                self.release_store();
                self.imports_waiting.clear();
                self.parked = false;
                self.exports.clear();
            }
            return true;
        }
        false
    }

    /// Takes the store (or the call holding it) out of the instance and frees it: here
    /// if its memory is small, else on the reaper thread (see `reaper.rs`).
    fn release_store(&mut self) {
        self.shared.clear_nested();
        let state = std::mem::replace(&mut self.state, State::Stopped);
        let small = match (&state, self.memory) {
            (State::Idle(store), Some(m)) => !self.linked && m.data_size(store) <= INLINE_BYTES,
            (State::Idle(_), None) => !self.linked,
            _ => false,
        };
        if small {
            drop(state);
        } else {
            crate::reaper::drop_later(state);
        }
    }

    /// Stops the instance now and frees its store (any parked call is unwound).
    pub fn stop(&mut self) {
        self.stop_handle().stop();
        self.settle_stop();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.release_store();
    }
}
