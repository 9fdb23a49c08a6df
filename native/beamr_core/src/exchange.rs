//! The hand-over point between the driver and a call suspended in an import.
//!
//! While a call runs, its store lives inside the call's future, and the only code that
//! can touch that store is the import host function the call is suspended in. The
//! driver (the NIF, on whatever scheduler thread polls next) therefore talks to that
//! host function through this exchange: it leaves one [`Command`], polls the call's
//! future, and reads back one [`Event`]. Polling is synchronous and the host function
//! runs on the call's fiber, on the polling thread, inside the poll; so the exchange
//! needs no lock and no atomic: it is a set of plain slots (see [`Slot`]).
//!
//! The exchange also keeps one spare value vector: the results vector of an answered
//! import becomes the argument vector of the next import, so a round trip does not
//! allocate in the core.

use crate::error::Error;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Instant;
use wasmtime::{Func, StoreContextMut, Val};

/// What the driver asks of the host function a call is suspended in.
pub(crate) enum Command<D: 'static> {
    /// The import's results: the host function returns them to wasm.
    Return(Vec<Val>),
    /// The import failed: the host function raises this error into wasm.
    Fail(String),
    /// Run a closure on the live store (memory access, introspection).
    Store(StoreTask<D>),
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

type StoreFn<'f, D> = dyn FnMut(StoreContextMut<'_, D>) + 'f;

/// A closure borrowed from the driver's stack for the length of one poll.
pub(crate) struct StoreTask<D: 'static>(*mut StoreFn<'static, D>);

// SAFETY: the pointer is only dereferenced by the host function during the poll that
// the driver makes right after posting it, on the driver's thread, while the closure it
// points to is alive on the driver's stack (see `Instance::with_store`).
unsafe impl<D> Send for StoreTask<D> {}

impl<D> StoreTask<D> {
    /// Wraps a closure the caller keeps alive, and un-posted, until the poll returns.
    ///
    /// # Safety
    /// The task must be run (or dropped) before `task` goes out of scope.
    pub(crate) unsafe fn new<'f>(task: &mut StoreFn<'f, D>) -> StoreTask<D> {
        let ptr: *mut StoreFn<'f, D> = task;
        // SAFETY: lifetime erasure only; see the type's comment.
        StoreTask(unsafe {
            std::mem::transmute::<*mut StoreFn<'f, D>, *mut StoreFn<'static, D>>(ptr)
        })
    }

    pub(crate) fn run(self, store: StoreContextMut<'_, D>) {
        // SAFETY: see `StoreTask::new`.
        unsafe { (*self.0)(store) }
    }
}

/// A slot for one value, passed between an instance's driver and its host functions.
///
/// Only two parties ever touch the slots of an instance, and never at the same time:
/// its driver, which holds the instance exclusively (`&mut Instance`) while it posts a
/// command, polls the call's future and takes the event; and the import host function
/// that poll resumes, which runs inside the poll, on the polling thread. Other holders
/// of [`Shared`] (stop handles, on any thread) only use its atomics.
pub(crate) struct Slot<T>(UnsafeCell<Option<T>>);

// SAFETY: see the type's comment: the slot is only used by whoever polls the instance's
// call, one thread at a time under the instance's exclusive borrow; `T: Send` lets the
// value cross from one polling thread to the next.
unsafe impl<T: Send> Sync for Slot<T> {}

impl<T> Default for Slot<T> {
    fn default() -> Slot<T> {
        Slot(UnsafeCell::new(None))
    }
}

impl<T> Slot<T> {
    #[inline]
    fn put(&self, value: T) {
        // SAFETY: no other access is in progress (see the type's comment), and no
        // reference into the cell outlives this statement.
        unsafe { *self.0.get() = Some(value) }
    }

    #[inline]
    fn take(&self) -> Option<T> {
        // SAFETY: as in `put`.
        unsafe { (*self.0.get()).take() }
    }
}

/// A re-entrant call in progress, as the driver polls it: the parked host function
/// that started it (see `host_import.rs`).
pub(crate) trait Reentered {
    /// Polls the re-entrant call once; `Ready` when it has finished (its outcome is
    /// then kept for the host function, which reports it when next polled).
    fn poll_reentry(&mut self) -> std::task::Poll<()>;
}

/// A [`Reentered`] with its lifetime erased: valid while its host function's future
/// lives, which outlasts its place on the stack (see [`Shared::push_nested`]).
pub(crate) type ReenteredPtr = *mut (dyn Reentered + 'static);

/// A [`ReenteredPtr`] on the stack of re-entrant calls.
#[derive(Clone, Copy)]
struct NestedCall(ReenteredPtr);

// SAFETY: the pointer is only dereferenced by the instance's driver, during its
// exclusive use of the instance (as the slots are, see `Slot`), on whichever thread
// drives it then; the host function it points into is parked meanwhile.
unsafe impl Send for NestedCall {}

/// State shared by an instance's driver, its store's data and its stop handle. `D` is
/// the store's data type (see `store.rs`), which holds this state in turn.
pub(crate) struct Shared<D: 'static> {
    pub(crate) stopped: AtomicBool,
    /// Set while a call tree whose caller went away is being unwound.
    pub(crate) abandoned: AtomicBool,
    /// True while the call is being polled from a dirty scheduler (no time slicing).
    pub(crate) dirty: AtomicBool,
    /// The tick at which the current poll began.
    pub(crate) slice_start: AtomicU64,
    /// Nanoseconds since [`base`] after which the call times out; 0 for none.
    deadline: AtomicU64,
    /// Calls nested inside imports right now (see [`Shared::nest`]).
    nesting: AtomicU32,
    command: Slot<Command<D>>,
    event: Slot<Event>,
    spare: Slot<Vec<Val>>,
    /// The re-entrant calls in progress, innermost last. The driver polls the
    /// innermost directly: polling the outermost call instead resumed every nested
    /// fiber in turn, so a step at depth d cost d fiber switches.
    reentered: Slot<Vec<NestedCall>>,
}

impl<D> Default for Shared<D> {
    fn default() -> Shared<D> {
        Shared {
            stopped: AtomicBool::default(),
            abandoned: AtomicBool::default(),
            dirty: AtomicBool::default(),
            slice_start: AtomicU64::default(),
            deadline: AtomicU64::default(),
            nesting: AtomicU32::default(),
            command: Slot::default(),
            event: Slot::default(),
            spare: Slot::default(),
            reentered: Slot::default(),
        }
    }
}

fn base() -> Instant {
    static BASE: once_cell::sync::Lazy<Instant> = once_cell::sync::Lazy::new(Instant::now);
    *BASE
}

impl<D> Shared<D> {
    /// Leaves `c` for the host function that the next poll resumes.
    #[inline]
    pub(crate) fn post_command(&self, c: Command<D>) {
        self.command.put(c);
    }

    /// The command left for this host function, if any.
    #[inline]
    pub(crate) fn take_command(&self) -> Option<Command<D>> {
        self.command.take()
    }

    /// Reports `e` to the driver (from a host function).
    #[inline]
    pub(crate) fn post_event(&self, e: Event) {
        self.event.put(e);
    }

    /// What the host function reported during the last poll.
    #[inline]
    pub(crate) fn take_event(&self) -> Option<Event> {
        self.event.take()
    }

    /// Registers a re-entrant call for the driver to poll directly.
    ///
    /// # Safety
    /// `r` must stay valid (its future neither moved nor dropped) until it is popped
    /// or the stack is cleared; the driver pops a call once it finishes and clears the
    /// stack before it drops the outermost call.
    pub(crate) unsafe fn push_nested<'a>(&self, r: *mut (dyn Reentered + 'a)) {
        // SAFETY: lifetime erasure only; the caller keeps `r` valid as documented.
        let r: ReenteredPtr = unsafe { std::mem::transmute(r) };
        let mut stack = self.reentered.take().unwrap_or_default();
        stack.push(NestedCall(r));
        self.reentered.put(stack);
    }

    /// The innermost re-entrant call, if any.
    pub(crate) fn nested_top(&self) -> Option<ReenteredPtr> {
        let stack = self.reentered.take()?;
        let top = stack.last().map(|c| c.0);
        self.reentered.put(stack);
        top
    }

    /// How many re-entrant calls are registered.
    pub(crate) fn nested_len(&self) -> usize {
        let Some(stack) = self.reentered.take() else {
            return 0;
        };
        let n = stack.len();
        self.reentered.put(stack);
        n
    }

    /// Forgets the innermost re-entrant call (it finished).
    pub(crate) fn pop_nested(&self) {
        if let Some(mut stack) = self.reentered.take() {
            stack.pop();
            self.reentered.put(stack);
        }
    }

    /// Forgets every re-entrant call (the outermost call ended or is being dropped).
    pub(crate) fn clear_nested(&self) {
        if let Some(mut stack) = self.reentered.take() {
            stack.clear();
            self.reentered.put(stack);
        }
    }

    /// An empty value vector, reusing the spare one if there is one.
    #[inline]
    pub(crate) fn spare_vals(&self) -> Vec<Val> {
        self.spare.take().unwrap_or_default()
    }

    /// Keeps `v`'s allocation as the spare vector (small ones only).
    #[inline]
    pub(crate) fn recycle_vals(&self, mut v: Vec<Val>) {
        if v.capacity() <= 16 {
            v.clear();
            self.spare.put(v);
        }
    }

    /// Enters one more nested level, unless that passes the node's limit: every
    /// level holds a fiber stack, so the limit bounds them.
    pub(crate) fn nest(&self) -> Result<(), Error> {
        let max = crate::limits::max_nesting();
        if self.nesting.load(Ordering::Relaxed) >= max {
            return Err(Error::NestingTooDeep(max));
        }
        self.nesting.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Leaves a level [`Shared::nest`] entered.
    pub(crate) fn unnest(&self) {
        self.nesting.fetch_sub(1, Ordering::Relaxed);
    }

    /// No level is nested (the outermost call ended, however it ended).
    pub(crate) fn reset_nesting(&self) {
        self.nesting.store(0, Ordering::Relaxed);
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
