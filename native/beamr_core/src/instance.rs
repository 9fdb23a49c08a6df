//! A live instance and the state machine that drives its calls.
//!
//! Every call runs as a wasmtime async call on a fiber, polled by hand. A poll ends in
//! one of four ways, reported as a [`Step`]: the call finished, it reached an import
//! (the fiber is parked inside the import's host function until the driver answers),
//! its time slice ran out (the epoch callback yielded), or it failed. Nothing ever
//! blocks waiting for an answer: the driver is free until it calls [`Instance::resume`].
//! While a call is parked in an import, memory access ([`Instance::with_store`]) and
//! re-entrant calls ([`Instance::call`]) are carried out by that host function through
//! its `Caller`, over the exchange in `exchange.rs`, so they see and change the live
//! store.

use crate::call_slot::{place, CallFuture, CallOutput};
use crate::engine::{note_activity, ticks};
use crate::error::{Error, Interrupt};
use crate::exchange::{Command, Event, Shared, StoreTask};
use crate::initial_tables::{Initial, InitialFuncs, TableInit};
use crate::limits::{Limits, Options};
use crate::link::Link;
use crate::memory::{checked_range, cstring_range};
use crate::module::{CompiledModule, ImportDesc};
use crate::reaper::INLINE_BYTES;
use crate::snapshot::{self, StateRefs};
use crate::typed::{fast_call, FastCall};
use crate::value::signature;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;
mod starting;
pub use starting::{Started, Starting};

use wasmtime::{
    AsContextMut, Extern, Func, Linker, Memory, Ref, RootScope, Store, StoreContextMut,
    UpdateDeadline, Val, ValType,
};

/// The data every beamr store carries.
pub struct Host {
    pub(crate) shared: Arc<Shared>,
    limits: Limits,
    /// emscripten's per-instance runtime variables (see `emscripten.rs`).
    pub(crate) emscripten: crate::emscripten::EmState,
}

/// What to call: an export by name, or an entry of `__indirect_function_table`.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Name(&'a str),
    /// A name as bytes from outside, checked to be UTF-8 only the first time it is
    /// resolved (invalid UTF-8 names no export).
    NameBytes(&'a [u8]),
    Index(u64),
}

impl<'a> Target<'a> {
    /// The name's bytes, for a target that names an export.
    fn name_bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Target::Name(name) => Some(name.as_bytes()),
            Target::NameBytes(bytes) => Some(bytes),
            Target::Index(_) => None,
        }
    }
}

/// The exports an instance has resolved so far, by name: most instances call a
/// handful, found by a scan of a short list faster than hashing the name; any beyond
/// go into a map.
#[derive(Default)]
struct Resolved {
    few: Vec<(Box<[u8]>, Arc<Callee>)>,
    many: HashMap<Box<[u8]>, Arc<Callee>, BuildHasherDefault<Fnv>>,
}

impl Resolved {
    const FEW: usize = 8;

    fn get(&self, name: &[u8]) -> Option<&Arc<Callee>> {
        match self.few.iter().find(|(n, _)| **n == *name) {
            Some((_, callee)) => Some(callee),
            None if self.few.len() < Self::FEW => None,
            None => self.many.get(name),
        }
    }

    fn insert(&mut self, name: &[u8], callee: Arc<Callee>) {
        if self.few.len() < Self::FEW {
            self.few.push((name.into(), callee));
        } else {
            self.many.insert(name.into(), callee);
        }
    }

    fn clear(&mut self) {
        self.few.clear();
        self.many.clear();
    }
}

/// A resolved function: the handle, its parameter types and its result count, and a
/// typed entry point when its signature is a common one.
#[derive(Clone)]
pub struct Callee {
    pub func: Func,
    pub params: Arc<[ValType]>,
    pub results: usize,
    fast: Option<Arc<dyn FastCall>>,
}

impl Callee {
    fn new(store: &StoreContextMut<'_, Host>, func: Func) -> Callee {
        let ty = func.ty(store);
        let results = ty.results().len();
        Callee {
            func,
            params: ty.params().collect(),
            results,
            fast: fast_call(store, func, &signature(&ty)),
        }
    }
}

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
    /// Fuel for the next outermost call on a metered instance (`None`: unbounded).
    fuel_budget: Option<u64>,
    /// The fuel the store held when the outermost call started.
    fuel_start: u64,
    /// Fuel the last finished outermost call consumed.
    fuel_consumed: Option<u64>,
    /// The box the last outermost call's future ran in, for the next one.
    spare_call: Option<CallFuture>,
}

/// The ticks a slice on a dirty scheduler runs before it yields (see [`crate::engine::TICK`]).
pub const DIRTY_SLICE_TICKS: u64 = 20;

/// Every call on a metered instance gets this much fuel unless given a budget.
const UNBOUNDED_FUEL: u64 = u64::MAX / 2;

/// FNV-1a: export names are short, and SipHash showed up in the per-call profile.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

fn on_epoch(store: StoreContextMut<'_, Host>) -> wasmtime::Result<UpdateDeadline> {
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

/// Polls the innermost call level: the innermost re-entrant call when there is one
/// (the host function it is nested in is parked meanwhile), else the outermost call.
/// A re-entrant call that finishes is popped and the level around it polled, so its
/// host function reports the outcome; a host function that starts a re-entrant call
/// leaves it to be polled here at once.
fn poll_innermost(call: &mut CallFuture, shared: &Shared) -> Poll<CallOutput> {
    loop {
        let depth = shared.nested_len();
        let polled = match shared.nested_top() {
            // SAFETY: a registered call stays valid until popped or cleared (see
            // `Shared::push_nested`), and nothing else polls it or its host function.
            Some(r) => match unsafe { (*r).poll_reentry() } {
                Poll::Ready(()) => {
                    shared.pop_nested();
                    continue;
                }
                Poll::Pending => Poll::Pending,
            },
            None => poll_call(call),
        };
        if polled.is_pending() && shared.nested_len() > depth {
            continue;
        }
        return polled;
    }
}

fn poll_call(call: &mut CallFuture) -> Poll<CallOutput> {
    call.as_mut()
        .poll_call(&mut Context::from_waker(Waker::noop()))
}

/// Defines, in `linker`, fresh store-local items for every import that is not a function.
fn define_local_imports(
    linker: &mut Linker<Host>,
    store: &mut Store<Host>,
    module: &CompiledModule,
) -> wasmtime::Result<Option<Memory>> {
    let mut memory = None;
    for import in module.imports() {
        let Some(item) = crate::link::local_item(store, &import.ty)? else {
            continue;
        };
        if let Extern::Memory(m) = item {
            memory.get_or_insert(m);
        }
        linker.define(&*store, &import.module, &import.name, item)?;
    }
    Ok(memory)
}

impl Instance {
    /// Instantiates `module`. The start function, if any, runs to completion here (or
    /// until `deadline`); an import it reaches is refused, since no caller is there to
    /// answer it.
    pub fn new(module: Arc<CompiledModule>, deadline: Option<Instant>) -> Result<Instance, Error> {
        Instance::with_options(module, deadline, &Options::default())
    }

    /// As [`Instance::new`], with `links` instantiated first into the same store and
    /// satisfying the module's imports of their names (see `link.rs`).
    pub fn new_linked(
        module: Arc<CompiledModule>,
        links: &[Link],
        deadline: Option<Instant>,
    ) -> Result<Instance, Error> {
        Instance::start(module, links, deadline, &Options::default())
    }

    /// [`Instance::new`] with start options: memory and table limits. The module must
    /// have been compiled for `options.variant()` (in the memory layout it picked).
    pub fn with_options(
        module: Arc<CompiledModule>,
        deadline: Option<Instant>,
        options: &Options,
    ) -> Result<Instance, Error> {
        Instance::start(module, &[], deadline, options)
    }

    /// The general form: `links` instantiated first into the same store (see
    /// `link.rs`), then `module`, with start `options`. The module must have been
    /// compiled for `options.variant()` (in the memory layout it picked), every link for
    /// the module's own variant. Runs the start function to its end
    /// here, a dirty slice at a time (see [`Starting`] to hand back between slices).
    pub fn start(
        module: Arc<CompiledModule>,
        links: &[Link],
        deadline: Option<Instant>,
        options: &Options,
    ) -> Result<Instance, Error> {
        let mut starting = Starting::new(module, links.to_vec(), deadline, options)?;
        loop {
            match starting.poll() {
                Started::Ready(made) => return made,
                Started::Yield(again) => starting = again,
            }
        }
    }

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
        self.fuel_budget = budget;
        Ok(())
    }

    /// The fuel the last finished outermost call consumed.
    pub fn fuel_consumed(&self) -> Result<Option<u64>, Error> {
        if !self.is_metered() {
            return Err(Error::NotMetered);
        }
        Ok(self.fuel_consumed)
    }

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
            Arc::new(InitialFuncs::resolve(store, &handle, &module, &refs.tables))
        })?;
        self.initial_funcs = Some(funcs.clone());
        Ok(funcs)
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

    /// Runs `f` on the live store: directly when idle, through the host function when
    /// a call is parked in an import.
    pub fn with_store<R>(
        &mut self,
        f: impl FnOnce(StoreContextMut<'_, Host>) -> R,
    ) -> Result<R, Error> {
        if self.settle_stop() {
            return Err(Error::Stopped);
        }
        let fut = match &mut self.state {
            State::Idle(store) => return Ok(f(store.as_context_mut())),
            State::Running(fut) if self.parked => fut,
            State::Running(_) => return Err(Error::Busy),
            State::Stopped => return Err(Error::Stopped),
        };
        let mut f = Some(f);
        let mut out = None;
        let mut task = |store: StoreContextMut<'_, Host>| {
            if let Some(f) = f.take() {
                out = Some(f(store));
            }
        };
        // SAFETY: `task` outlives the poll below, and no pointer to it survives it: the
        // host function consumes the command during the poll, and any leftover is taken.
        self.shared
            .post_command(Command::Store(unsafe { StoreTask::new(&mut task) }));
        let poll = poll_innermost(fut, &self.shared);
        let leftover = self.shared.take_command();
        let event = self.shared.take_event();
        match (poll, event) {
            (Poll::Pending, Some(Event::StoreDone)) if leftover.is_none() => {}
            (Poll::Ready(out), _) => {
                // Cannot happen: a parked host function only returns on Return/Fail.
                self.finish(out);
                return Err(Error::InvalidState("call ended during store access"));
            }
            _ => return Err(Error::InvalidState("store access not served")),
        }
        out.ok_or(Error::InvalidState("store access not served"))
    }

    /// Finds a function to call. Exports are cached after the first lookup.
    pub fn resolve(&mut self, target: Target<'_>) -> Result<Arc<Callee>, Error> {
        let name = target.name_bytes();
        if let Some(c) = name.and_then(|n| self.exports.get(n)) {
            return Ok(c.clone());
        }
        let name = match name.map(std::str::from_utf8) {
            Some(Ok(name)) => Some(name),
            Some(Err(_)) => {
                let lossy = String::from_utf8_lossy(target.name_bytes().unwrap_or_default());
                return Err(Error::UnknownExport(lossy.into_owned()));
            }
            None => None,
        };
        let handle = self.handle;
        let callee = self.with_store(|mut store| match (name, target) {
            (Some(name), _) => match handle.get_export(&mut store, name) {
                Some(Extern::Func(func)) => Ok(Callee::new(&store, func)),
                Some(_) => Err(Error::NotAFunction(name.to_string())),
                None => Err(Error::UnknownExport(name.to_string())),
            },
            (None, Target::Index(index)) => {
                let table = match handle.get_export(&mut store, "__indirect_function_table") {
                    Some(Extern::Table(t)) => t,
                    _ => return Err(Error::NoTable),
                };
                match table.get(&mut store, index) {
                    Some(Ref::Func(Some(func))) => Ok(Callee::new(&store, func)),
                    _ => Err(Error::BadTableIndex(index)),
                }
            }
            (None, _) => Err(Error::InvalidState("a name target without a name")),
        })??;
        let callee = Arc::new(callee);
        if let Some(name) = name {
            self.exports.insert(name.as_bytes(), callee.clone());
        }
        Ok(callee)
    }

    /// Starts a call: a fresh one when idle, a re-entrant one when parked in an import.
    /// `args` must already match `callee.ty` (see [`crate::value::to_vals`]).
    pub fn call(
        &mut self,
        callee: &Callee,
        args: Vec<Val>,
        slice: Slice,
        deadline: Option<Instant>,
    ) -> Step {
        if self.settle_stop() {
            return Step::Failed(Error::Stopped);
        }
        match self.begin(callee, args, deadline) {
            Some(failed) => failed,
            None => self.drive(slice),
        }
    }

    /// Resolves `target` and starts a call with the arguments `args` puts, for its
    /// parameter types, in the empty vector it is given (a spare one, to reuse). Failing
    /// to resolve is a [`Step::Failed`]; `None` when `args` refused (it keeps its reason).
    ///
    /// `args` fills the vector in place: handing it over by value and back moved it
    /// through memory, and copying it stalled on store forwarding.
    ///
    /// Unlike [`Instance::resolve`] and [`Instance::call`], a cached export is borrowed
    /// rather than shared: its reference count was an atomic add and subtract per call.
    pub fn call_target(
        &mut self,
        target: Target<'_>,
        slice: Slice,
        deadline: Option<Instant>,
        args: impl FnOnce(&[ValType], &mut Vec<Val>) -> bool,
    ) -> Option<Step> {
        if self.settle_stop() {
            return Some(Step::Failed(Error::Stopped));
        }
        // The cache is moved out while the call starts, so that the export can be
        // borrowed from it as the instance changes; `begin` does not use it.
        let exports = std::mem::take(&mut self.exports);
        let Some(callee) = target.name_bytes().and_then(|n| exports.get(n)) else {
            self.exports = exports;
            return match self.resolve(target) {
                Ok(callee) => self.start_call(&callee, slice, deadline, args),
                Err(e) => Some(Step::Failed(e)),
            };
        };
        let mut values = self.spare_vals();
        let failed = if args(&callee.params, &mut values) {
            Some(self.begin(callee, values, deadline))
        } else {
            self.recycle_vals(values);
            None
        };
        self.exports = exports;
        // Matched by reference, so the common outcome (started) copies no step.
        match &failed {
            Some(None) => Some(self.drive(slice)),
            _ => failed.map(|f| f.expect("not started")),
        }
    }

    /// [`Instance::call_target`] once the callee is found.
    fn start_call(
        &mut self,
        callee: &Callee,
        slice: Slice,
        deadline: Option<Instant>,
        args: impl FnOnce(&[ValType], &mut Vec<Val>) -> bool,
    ) -> Option<Step> {
        let mut values = self.spare_vals();
        if !args(&callee.params, &mut values) {
            self.recycle_vals(values);
            return None;
        }
        Some(match self.begin(callee, values, deadline) {
            Some(failed) => failed,
            None => self.drive(slice),
        })
    }

    /// Starts a call as [`Instance::call`] describes, without running it: `Some` when
    /// it cannot start.
    fn begin(
        &mut self,
        callee: &Callee,
        args: Vec<Val>,
        deadline: Option<Instant>,
    ) -> Option<Step> {
        let expected = callee.params.len();
        if args.len() != expected {
            return Some(Step::Failed(Error::BadArity {
                expected,
                got: args.len(),
            }));
        }
        let results = callee.results;
        let func = callee.func;
        match std::mem::replace(&mut self.state, State::Stopped) {
            State::Idle(mut store) => {
                self.shared.set_deadline(deadline);
                store.set_epoch_deadline(1);
                if self.module.variant().deterministic {
                    let fuel = self.fuel_budget.take().unwrap_or(UNBOUNDED_FUEL);
                    self.fuel_start = fuel;
                    if let Err(e) = store.set_fuel(fuel) {
                        self.state = State::Idle(store);
                        return Some(Step::Failed(Error::Trap(format!("{e:#}"))));
                    }
                }
                let spare = &mut self.spare_call;
                let typed = match &callee.fast {
                    Some(fast) => fast.start(store, args, spare),
                    None => Err((store, args)),
                };
                self.state = State::Running(typed.unwrap_or_else(|(mut store, args)| {
                    let call = async move {
                        let mut out = vec![Val::I32(0); results];
                        let result = func.call_async(&mut store, &args, &mut out).await;
                        (store, result.map(|()| out))
                    };
                    place(call, spare)
                }));
            }
            State::Running(fut) if self.parked => {
                self.state = State::Running(fut);
                self.parked = false;
                self.saved_deadlines.push(self.shared.raw_deadline());
                if let Some(at) = deadline {
                    self.shared.tighten_deadline(at);
                }
                self.shared.post_command(Command::Call {
                    func,
                    args,
                    results,
                });
            }
            other => {
                self.state = other;
                return Some(Step::Failed(Error::Busy));
            }
        }
        None
    }

    /// Answers the import the innermost level is parked in and runs on.
    pub fn resume(&mut self, results: Vec<Val>, slice: Slice) -> Step {
        self.answer(Command::Return(results), slice)
    }

    /// Fails the import the innermost level is parked in: wasm traps out of that level.
    pub fn fail_import(&mut self, reason: String, slice: Slice) -> Step {
        self.answer(Command::Fail(reason), slice)
    }

    fn answer(&mut self, command: Command, slice: Slice) -> Step {
        if self.settle_stop() {
            return Step::Failed(Error::Stopped);
        }
        if !self.parked {
            return Step::Failed(Error::InvalidState("not waiting in an import"));
        }
        self.parked = false;
        self.imports_waiting.pop();
        self.shared.post_command(command);
        self.drive(slice)
    }

    /// Unwinds every call level in progress, as if each pending import had failed,
    /// leaving the instance idle and usable. For when the caller driving them is gone.
    pub fn abandon(&mut self) {
        self.shared.abandoned.store(true, Ordering::SeqCst);
        while let State::Running(_) = self.state {
            if self.parked {
                self.fail_import("caller exited".into(), Slice::Dirty);
            } else {
                self.drive(Slice::Dirty);
            }
        }
        self.shared.abandoned.store(false, Ordering::SeqCst);
    }

    /// Continues a call whose time slice ran out.
    pub fn proceed(&mut self, slice: Slice) -> Step {
        if self.settle_stop() {
            return Step::Failed(Error::Stopped);
        }
        if self.parked || !matches!(self.state, State::Running(_)) {
            return Step::Failed(Error::InvalidState("no call to continue"));
        }
        self.drive(slice)
    }

    fn drive(&mut self, slice: Slice) -> Step {
        let State::Running(fut) = &mut self.state else {
            return Step::Failed(Error::InvalidState("no call in progress"));
        };
        self.shared
            .dirty
            .store(slice == Slice::Dirty, Ordering::Relaxed);
        self.shared.slice_start.store(ticks(), Ordering::Relaxed);
        note_activity();
        match poll_innermost(fut, &self.shared) {
            // The output is handed on whole: taking it apart here copied it, and the
            // copy stalled on store forwarding.
            Poll::Ready(out) => self.finish(out),
            Poll::Pending => match self.shared.take_event() {
                Some(Event::Import { index, args }) => {
                    self.imports_waiting.push(index);
                    self.parked = true;
                    Step::Import { index, args }
                }
                Some(Event::CallDone(result)) => {
                    self.parked = true;
                    if let Some(outer) = self.saved_deadlines.pop() {
                        self.shared.set_raw_deadline(outer);
                    }
                    match result {
                        Ok(values) => Step::Done(values),
                        Err(e) => Step::Failed(e),
                    }
                }
                Some(Event::StoreDone) => Step::Failed(Error::InvalidState("stray store event")),
                None => {
                    if self.settle_stop() {
                        Step::Failed(Error::Stopped)
                    } else {
                        Step::Yield
                    }
                }
            },
        }
    }

    fn finish(&mut self, (mut store, result): CallOutput) -> Step {
        // Only an uncaught exception leaves one pending, and that call failed.
        if result.is_err() {
            drop_pending_exception(&mut store);
        }
        if self.module.variant().deterministic {
            let left = store.get_fuel().unwrap_or(0);
            self.fuel_consumed = Some(self.fuel_start.saturating_sub(left));
        }
        self.imports_waiting.clear();
        self.saved_deadlines.clear();
        self.shared.reset_nesting();
        self.shared.clear_nested();
        self.parked = false;
        if let State::Running(slot) = std::mem::replace(&mut self.state, State::Idle(store)) {
            self.spare_call = Some(slot);
        }
        if self.settle_stop() {
            return Step::Failed(Error::Stopped);
        }
        match result {
            Ok(values) => Step::Done(values),
            Err(e) => Step::Failed(Error::from_wasm(e)),
        }
    }

    /// Size of the default memory in bytes.
    pub fn memory_size(&mut self) -> Result<u64, Error> {
        let memory = self.memory.ok_or(Error::NoMemory)?;
        self.with_store(|store| memory.data_size(&store) as u64)
    }

    /// Hands `len` bytes at `offset` of the default memory to `f`.
    pub fn read<R>(
        &mut self,
        offset: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, Error> {
        let memory = self.memory.ok_or(Error::NoMemory)?;
        self.with_store(|store| {
            let data = memory.data(&store);
            checked_range(data.len(), offset, len).map(|r| f(&data[r]))
        })?
    }

    /// Runs `f` on the NUL-terminated string at `offset` (without its NUL), if it is at
    /// most `max` bytes long.
    pub fn read_cstring<R>(
        &mut self,
        offset: u64,
        max: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, Error> {
        let memory = self.memory.ok_or(Error::NoMemory)?;
        self.with_store(|store| {
            let data = memory.data(&store);
            cstring_range(data, offset, max).map(|r| f(&data[r]))
        })?
    }

    /// Copies `bytes` into the default memory at `offset`.
    pub fn write(&mut self, offset: u64, bytes: &[u8]) -> Result<(), Error> {
        let memory = self.memory.ok_or(Error::NoMemory)?;
        self.with_store(|mut store| {
            let data = memory.data_mut(&mut store);
            checked_range(data.len(), offset, bytes.len() as u64)
                .map(|r| data[r].copy_from_slice(bytes))
        })?
    }
}

/// Finds the state a snapshot covers through the reserved exports, and each table's
/// initial contents: from the module when it determines them (no slot is read), else
/// read slot by slot now (see `initial_tables.rs`).
impl Drop for Instance {
    fn drop(&mut self) {
        self.release_store();
    }
}

fn state_refs(
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
