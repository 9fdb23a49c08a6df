//! The instance's lock: one word that says both whether the instance is held and
//! whether anyone is queued for it.
//!
//! Nothing ever blocks on it: a NIF that finds it held queues its process (under the
//! instance's control lock) and returns `busy`, and whoever releases it wakes the
//! queue. Keeping "someone is queued" in the lock word itself lets the common call,
//! on an idle instance nobody waits for, take and release the instance with one
//! compare-and-swap each and leave the control lock alone: a release that finds the
//! word changed knows someone queued meanwhile and takes the slow way to wake them.
//! (A separate flag read after the release needed a full fence to be seen in order.)

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU8, Ordering};

/// The value is held by someone.
const HELD: u8 = 1;
/// Processes are queued for the value; changed only under the owner's control lock.
const QUEUED: u8 = 2;

/// A value behind the lock word; taken only by `try_take*`, never waited for.
pub struct Gate<T> {
    state: AtomicU8,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through a `Held`, of which at most one exists at
// a time (taking one sets `HELD` with acquire ordering, dropping it clears it with
// release ordering), so it moves between threads as a `Mutex<T>`'s value does.
unsafe impl<T: Send> Send for Gate<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Gate<T> {}

impl<T> Gate<T> {
    pub fn new(value: T) -> Gate<T> {
        Gate {
            state: AtomicU8::new(0),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the value if it is free and nobody is queued for it.
    #[inline]
    pub fn try_take_unqueued(&self) -> Option<Held<'_, T>> {
        self.state
            .compare_exchange(0, HELD, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Held::new(self))
    }

    /// Takes the value if it is free, whether or not anyone is queued.
    pub fn try_take(&self) -> Option<Held<'_, T>> {
        let mut now = self.state.load(Ordering::Relaxed);
        while now & HELD == 0 {
            match self.state.compare_exchange_weak(
                now,
                now | HELD,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(Held::new(self)),
                Err(seen) => now = seen,
            }
        }
        None
    }

    /// Marks the queue non-empty (under the control lock, after queuing). True when
    /// the value is still held, so its holder will see the mark as it releases; false
    /// when it was released first, and the caller should try to take it.
    pub fn mark_queued(&self) -> bool {
        self.state.fetch_or(QUEUED, Ordering::AcqRel) & HELD != 0
    }

    /// Marks the queue empty (under the control lock, after emptying it).
    pub fn mark_unqueued(&self) {
        self.state.fetch_and(!QUEUED, Ordering::Relaxed);
    }
}

/// The value, held. Dropping it releases the value and leaves any queue as it is;
/// the holder must then wake the queue itself (see [`Held::release_unqueued`]).
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

    /// Releases the value if nobody queued for it meanwhile; else hands it back, and
    /// the caller wakes the queue under the control lock.
    #[inline]
    pub fn release_unqueued(self) -> Result<(), Held<'a, T>> {
        match self
            .gate
            .state
            .compare_exchange(HELD, 0, Ordering::Release, Ordering::Relaxed)
        {
            Ok(_) => {
                std::mem::forget(self);
                Ok(())
            }
            Err(_) => Err(self),
        }
    }

    /// Releases the value and marks the queue empty: the caller holds the control
    /// lock and has taken the whole queue to wake it.
    pub fn release_dequeued(self) {
        self.gate.state.store(0, Ordering::Release);
        std::mem::forget(self);
    }
}

impl<T> Drop for Held<'_, T> {
    fn drop(&mut self) {
        self.gate.state.fetch_and(!HELD, Ordering::Release);
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
