//! The instance's lock: a flag that says whether the instance is held, and one that
//! says whether anyone is queued for it.
//!
//! Nothing ever blocks on it: a NIF that finds it held queues its process (under the
//! instance's control lock) and returns `busy`, and whoever releases it wakes the
//! queue. The common call, on an idle instance nobody waits for, takes the instance
//! with one compare-and-swap and releases it with a plain store, leaving the control
//! lock alone. The release must still not miss a process that queues meanwhile: the
//! holder stores "released" and then looks at the queue flag, the queuer stores
//! "queued" and then looks at the held flag, and at least one of them must see the
//! other's store. That takes a fence on both sides; the holder's side runs on every
//! call and the queuer's only on contention, so it is an asymmetric fence
//! ([`fence`]): free for the holder, a `membarrier` system call for the queuer.

mod fence;

pub use fence::asymmetric as asymmetric_fence;

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

/// A value behind the lock; taken only by `try_take*`, never waited for.
pub struct Gate<T> {
    held: AtomicBool,
    /// Processes are queued for the value; changed only under the owner's control lock.
    queued: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through a `Held`, of which at most one exists at
// a time (taking one sets `held` with acquire ordering, dropping it clears it with
// release ordering), so it moves between threads as a `Mutex<T>`'s value does.
unsafe impl<T: Send> Send for Gate<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Gate<T> {}

impl<T> Gate<T> {
    pub fn new(value: T) -> Gate<T> {
        fence::init();
        Gate {
            held: AtomicBool::new(false),
            queued: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the value if it is free and nobody is queued for it.
    #[inline]
    pub fn try_take_unqueued(&self) -> Option<Held<'_, T>> {
        if self.queued.load(Ordering::Relaxed) {
            return None;
        }
        self.try_take()
    }

    /// Takes the value if it is free, whether or not anyone is queued.
    #[inline]
    pub fn try_take(&self) -> Option<Held<'_, T>> {
        self.held
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Held::new(self))
    }

    /// Marks the queue non-empty (under the control lock, after queuing). True when
    /// the value is still held, so its holder will see the mark as it releases; false
    /// when it was released first, and the caller should try to take it.
    pub fn mark_queued(&self) -> bool {
        self.queued.store(true, Ordering::Relaxed);
        fence::heavy();
        self.held.load(Ordering::Relaxed)
    }

    /// Marks the queue empty (under the control lock, after emptying it).
    pub fn mark_unqueued(&self) {
        self.queued.store(false, Ordering::Relaxed);
    }
}

/// The value, held. Dropping it releases the value and leaves any queue as it is;
/// the holder must then wake the queue itself (see [`Held::release`]).
pub struct Held<'a, T> {
    gate: &'a Gate<T>,
    /// Opts out of the automatic `Send` and `Sync` (which would follow the gate's):
    /// a shared `Held` hands out `&T`, so it may be shared only when `T: Sync`.
    _value: PhantomData<&'a mut T>,
}

// SAFETY: releasing from another thread is sound (the gate has no thread affinity),
// and the holder can move the value only as a `&mut T` could.
unsafe impl<T: Send> Send for Held<'_, T> {}
// SAFETY: a shared `Held` only gives out `&T`.
unsafe impl<T: Sync> Sync for Held<'_, T> {}

impl<'a, T> Held<'a, T> {
    fn new(gate: &'a Gate<T>) -> Self {
        Held {
            gate,
            _value: PhantomData,
        }
    }

    /// Releases the value. True when someone is queued for it: the caller must then
    /// take the queue under the control lock, [`Gate::mark_unqueued`], and wake it.
    #[inline]
    pub fn release(self) -> bool {
        let gate = self.gate;
        std::mem::forget(self);
        gate.held.store(false, Ordering::Release);
        fence::light();
        gate.queued.load(Ordering::Relaxed)
    }

    /// Releases the value with the queue marked as `queued`: the caller holds the
    /// control lock and has taken the whole queue to wake it (`false`), or has just
    /// queued someone whom the next holder must wake (`true`). The mark is stored
    /// first, so whoever takes the value next sees it.
    pub fn release_marking(self, queued: bool) {
        self.gate.queued.store(queued, Ordering::Relaxed);
        // The store above is ordered before the release of `held` below.
        drop(self);
    }
}

impl<T> Drop for Held<'_, T> {
    fn drop(&mut self) {
        self.gate.held.store(false, Ordering::Release);
    }
}

impl<T> Deref for Held<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this `Held` is the only one (see the `Sync` impl).
        unsafe { &*self.gate.value.get() }
    }
}

impl<T> DerefMut for Held<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this `Held` is the only one (see the `Sync` impl).
        unsafe { &mut *self.gate.value.get() }
    }
}

#[cfg(test)]
mod tests;
