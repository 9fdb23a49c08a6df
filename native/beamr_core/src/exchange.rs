//! The hand-over point between the driver and a call suspended in an import.
//!
//! While a call runs, its store lives inside the call's future, and the only code that
//! can touch that store is the import host function the call is suspended in. The
//! driver (the NIF, on whatever scheduler thread polls next) therefore talks to that
//! host function through this exchange: it leaves one [`Command`], polls the call's
//! future, and reads back one [`Event`]. Polling is synchronous, and the host function
//! runs on the call's fiber, which runs on the polling thread; so the exchange is a pair
//! of thread-local cells: no lock, no atomic, no reference count on the way. Nothing
//! stays in them between polls (the driver takes what the poll left), so a call that
//! moves to another scheduler thread finds that thread's cells as empty as it left the
//! previous one's.
//!
//! The exchange also keeps one spare value vector per thread: the results vector of an
//! answered import becomes the argument vector of the next import, so a round trip
//! does not allocate in the core.

use crate::error::Error;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;
use wasmtime::{Func, StoreContextMut, Val};

use crate::instance::Host;

/// What the driver asks of the host function a call is suspended in.
pub(crate) enum Command {
    /// The import's results: the host function returns them to wasm.
    Return(Vec<Val>),
    /// The import failed: the host function raises this error into wasm.
    Fail(String),
    /// Run a closure on the live store (memory access, introspection).
    Store(StoreTask),
    /// Call a function re-entrantly on the same store.
    Call {
        func: Func,
        args: Vec<Val>,
        results: usize,
    },
}

/// What the host function reports back.
pub(crate) enum Event {
    /// A call reached an import and is waiting for its results.
    Import { index: usize, args: Vec<Val> },
    /// A [`Command::Store`] closure ran.
    StoreDone,
    /// A [`Command::Call`] finished.
    CallDone(Result<Vec<Val>, Error>),
}

type StoreFn<'f> = dyn FnMut(StoreContextMut<'_, Host>) + 'f;

/// A closure borrowed from the driver's stack for the length of one poll.
pub(crate) struct StoreTask(*mut StoreFn<'static>);

// SAFETY: the pointer is only dereferenced by the host function during the poll that
// the driver makes right after posting it, on the driver's thread, while the closure it
// points to is alive on the driver's stack (see `Instance::with_store`).
unsafe impl Send for StoreTask {}

impl StoreTask {
    /// Wraps a closure the caller keeps alive, and un-posted, until the poll returns.
    ///
    /// # Safety
    /// The task must be run (or dropped) before `task` goes out of scope.
    pub(crate) unsafe fn new<'f>(task: &mut StoreFn<'f>) -> StoreTask {
        let ptr: *mut StoreFn<'f> = task;
        // SAFETY: lifetime erasure only; see the type's comment.
        StoreTask(unsafe { std::mem::transmute::<*mut StoreFn<'f>, *mut StoreFn<'static>>(ptr) })
    }

    pub(crate) fn run(self, store: StoreContextMut<'_, Host>) {
        // SAFETY: see `StoreTask::new`.
        unsafe { (*self.0)(store) }
    }
}

/// State shared by an instance's driver, its store's data and its stop handle.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) stopped: AtomicBool,
    /// Set while a call tree whose caller went away is being unwound.
    pub(crate) abandoned: AtomicBool,
    /// True while the call is being polled from a dirty scheduler (no time slicing).
    pub(crate) dirty: AtomicBool,
    /// The tick at which the current poll began.
    pub(crate) slice_start: AtomicU64,
    /// Nanoseconds since [`base`] after which the call times out; 0 for none.
    deadline: AtomicU64,
}

thread_local! {
    static COMMAND: Cell<Option<Command>> = const { Cell::new(None) };
    static EVENT: Cell<Option<Event>> = const { Cell::new(None) };
    static SPARE: Cell<Vec<Val>> = const { Cell::new(Vec::new()) };
}

/// Reports `e` to the driver polling on this thread (from a host function).
pub(crate) fn post_event(e: Event) {
    EVENT.set(Some(e));
}

/// An empty value vector, reusing the thread's spare one if there is one. A driver
/// that builds an import's results in it and hands the arguments of the next import
/// back to [`recycle_vals`] makes import round trips that allocate nothing.
pub fn spare_vals() -> Vec<Val> {
    SPARE.take()
}

/// Keeps `v`'s allocation as the thread's spare vector (small ones only).
pub fn recycle_vals(mut v: Vec<Val>) {
    if v.capacity() <= 16 {
        v.clear();
        SPARE.set(v);
    }
}

fn base() -> Instant {
    static BASE: once_cell::sync::Lazy<Instant> = once_cell::sync::Lazy::new(Instant::now);
    *BASE
}

impl Shared {
    /// Leaves `c` for the host function that the next poll on this thread resumes.
    pub(crate) fn post_command(&self, c: Command) {
        COMMAND.set(Some(c));
    }

    /// A command the last poll on this thread left unserved.
    pub(crate) fn take_command(&self) -> Option<Command> {
        COMMAND.take()
    }

    /// What the host function reported during the last poll on this thread.
    pub(crate) fn take_event(&self) -> Option<Event> {
        EVENT.take()
    }

    pub(crate) fn set_deadline(&self, at: Option<Instant>) {
        let ns = at.map_or(0, |t| {
            t.saturating_duration_since(base()).as_nanos().max(1) as u64
        });
        self.deadline.store(ns, Ordering::Relaxed);
    }

    /// The raw deadline, to save and restore around a re-entrant call.
    pub(crate) fn raw_deadline(&self) -> u64 {
        self.deadline.load(Ordering::Relaxed)
    }

    pub(crate) fn set_raw_deadline(&self, ns: u64) {
        self.deadline.store(ns, Ordering::Relaxed);
    }

    /// Tightens the deadline to `at` if that is sooner (or there was none).
    pub(crate) fn tighten_deadline(&self, at: Instant) {
        let current = self.raw_deadline();
        let ns = at.saturating_duration_since(base()).as_nanos().max(1) as u64;
        if current == 0 || ns < current {
            self.set_raw_deadline(ns);
        }
    }

    pub(crate) fn deadline_passed(&self) -> bool {
        let ns = self.deadline.load(Ordering::Relaxed);
        ns != 0 && base().elapsed().as_nanos() as u64 >= ns
    }
}

/// Resolves when the driver has left a command for this host function.
pub(crate) struct NextCommand;

impl Future for NextCommand {
    type Output = Command;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Command> {
        match COMMAND.take() {
            Some(c) => Poll::Ready(c),
            None => Poll::Pending,
        }
    }
}
