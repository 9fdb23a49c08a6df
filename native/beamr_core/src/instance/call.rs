//! The call state machine: starting a call (fresh, or re-entrant while one is parked
//! in an import), driving it a slice at a time, answering or failing the import it is
//! parked in, and running closures on the live store ([`Instance::with_store`]).
//!
//! While a call is parked in an import, memory access and re-entrant calls are carried
//! out by that host function through its `Caller`, over the exchange in `exchange.rs`,
//! so they see and change the live store; the driver polls the innermost call level
//! directly (see [`poll_innermost`]).

use super::exports::{Callee, Target};
use super::{Instance, Slice, State, Step};
use crate::call_slot::{place, CallFuture, CallOutput};
use crate::engine::{note_activity, ticks};
use crate::error::Error;
use crate::exchange::Event;
use crate::store::{drop_pending_exception, Command, Host, Shared, StoreTask};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;
use wasmtime::{AsContextMut, Extern, Ref, StoreContextMut, Val, ValType};

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

impl Instance {
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
    /// `args` fills the vector in place: handing it over by value and back would move
    /// it through memory, and that copy stalls on store forwarding.
    ///
    /// Unlike [`Instance::resolve`] and [`Instance::call`], a cached export is borrowed
    /// rather than shared, which spares an atomic add and subtract per call.
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
                    if let Err(e) = self.fuel.arm(&mut store) {
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
            // The output is handed on whole: taking it apart here would copy it, and
            // the copy stalls on store forwarding.
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
            self.fuel.settle(&store);
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
}
