//! The data every beamr store carries ([`Host`]), and the epoch callback that ends a
//! call's slices, stops it and times it out. The bottom of the instance machinery:
//! everything that touches a store (instances, imports, links, the emscripten runtime,
//! typed calls) imports this, and it imports only the exchange, limits and engine clock
//! whose state it holds.

use crate::engine::{note_activity, ticks};
use crate::error::Interrupt;
use crate::exchange;
use crate::limits::Limits;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use wasmtime::{AsContextMut, RootScope, StoreContextMut, UpdateDeadline};

/// The exchange between an instance's driver and its store (see `exchange.rs`).
pub(crate) type Shared = exchange::Shared<Host>;
/// What a driver asks of the host function a call on this store is parked in.
pub(crate) type Command = exchange::Command<Host>;
/// A closure a driver runs on the live store.
pub(crate) type StoreTask = exchange::StoreTask<Host>;

mod emscripten;
pub(crate) use emscripten::{EmState, Exports};

/// The data every beamr store carries.
pub struct Host {
    pub(crate) shared: Arc<Shared>,
    pub(crate) limits: Limits,
    /// emscripten's per-instance runtime variables (see `store/emscripten.rs`).
    pub(crate) emscripten: EmState,
}

/// The ticks a slice on a dirty scheduler runs before it yields (see [`crate::engine::TICK`]).
pub const DIRTY_SLICE_TICKS: u64 = 20;

pub(crate) fn on_epoch(store: StoreContextMut<'_, Host>) -> wasmtime::Result<UpdateDeadline> {
    note_activity();
    let shared = &store.data().shared;
    if shared.stopped.load(Ordering::Relaxed) {
        return Err(wasmtime::Error::new(Interrupt::Stopped));
    }
    if shared.abandoned.load(Ordering::Relaxed) {
        return Err(wasmtime::Error::new(Interrupt::Abandoned));
    }
    if shared.deadline_passed() {
        return Err(wasmtime::Error::new(Interrupt::Timeout));
    }
    // A normal-scheduler slice yields once it has seen a full tick go by (it has run
    // at least one and at most two ticks); a tick that lands just after the slice began
    // does not cut it short. A dirty slice yields too, after longer, so that the
    // driver queues again for a dirty scheduler: calls that spin forever then take
    // turns with every other long call instead of keeping the dirty schedulers.
    let ran = ticks().wrapping_sub(shared.slice_start.load(Ordering::Relaxed));
    let slice = if shared.dirty.load(Ordering::Relaxed) {
        DIRTY_SLICE_TICKS
    } else {
        2
    };
    Ok(if ran < slice {
        UpdateDeadline::Continue(1)
    } else {
        UpdateDeadline::Yield(1)
    })
}

/// An uncaught wasm exception stays on the store as its pending exception; the call
/// already reports it as an error, so release it (the store stays usable and the
/// exception object does not outlive the call).
pub(crate) fn drop_pending_exception(mut ctx: impl AsContextMut) {
    let mut scope = RootScope::new(&mut ctx);
    scope.as_context_mut().take_pending_exception();
}
