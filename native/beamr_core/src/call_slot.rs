//! The heap home of a running call's future, kept from one call to the next.
//!
//! A call's future owns the store while the call runs and must stay pinned from its
//! first poll, so it lives on the heap. Boxing a fresh one per call would cost an
//! allocation, a free and a copy of the whole future state on every call, a visible
//! share of a short one. Instead each instance keeps the box of its last call: the next call of
//! the same kind (the same signature's typed entry point, or the dynamic path) drops
//! the finished future in place and writes its new one into the same box. A call of
//! another kind gets a box of its own.
//!
//! A typed call also needs its `TypedFunc` for as long as it runs. Sharing it into
//! each call's future would be an atomic add and subtract per call; instead the box keeps
//! the shared handle between calls and the future borrows from it (see
//! [`place_borrowing`]).

use crate::store::Host;
use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use wasmtime::{Store, Val};

/// What a call's future hands back: the store, and the results or the failure.
pub(crate) type CallOutput = (Store<Host>, wasmtime::Result<Vec<Val>>);

/// A pinned box holding one call's future (a finished one until the box is reused).
pub(crate) trait CallSlot: Send {
    /// Polls the call, which must not have finished. Once it is ready the box may be
    /// handed to [`place`] for reuse.
    fn poll_call(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<CallOutput>;

    /// The slot as `Any`, to find out whether [`place`] may reuse it for a future type.
    fn as_any(self: Pin<&mut Self>) -> Pin<&mut dyn Any>;
}

/// A running call (or, between calls, the empty box it ran in).
pub(crate) type CallFuture = Pin<Box<dyn CallSlot>>;

struct Slot<F, T> {
    /// Structurally pinned: only ever set or cleared through `Pin::set`. Declared
    /// before `keep`, so that it is dropped first.
    fut: Option<F>,
    /// What `fut` borrows: replaced only while `fut` is `None`.
    keep: Option<Arc<T>>,
}

impl<F, T> CallSlot for Slot<F, T>
where
    F: Future<Output = CallOutput> + Send + 'static,
    T: Send + Sync + 'static,
{
    fn poll_call(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<CallOutput> {
        // SAFETY: `fut` is structurally pinned: it is never moved out of the slot,
        // only replaced or cleared in place through `Pin::set`.
        let mut fut = unsafe { self.map_unchecked_mut(|s| &mut s.fut) };
        let Some(running) = fut.as_mut().as_pin_mut() else {
            // The driver never polls a call it saw finish (its state is idle then).
            unreachable!("polled an empty call slot");
        };
        // A finished future stays until the box is reused (`reuse_or_new`): dropping
        // it here would keep the output in a temporary across the drop and copy it
        // out after, a copy that stalls on store forwarding.
        running.poll(cx)
    }

    fn as_any(self: Pin<&mut Self>) -> Pin<&mut dyn Any> {
        // SAFETY: only the reference's type changes; nothing is moved.
        unsafe { self.map_unchecked_mut(|s| s as &mut dyn Any) }
    }
}

/// Puts `fut` in `spare`'s box if that box last held a future of the same type and is
/// empty, else in a new box.
pub(crate) fn place<F>(fut: F, spare: &mut Option<CallFuture>) -> CallFuture
where
    F: Future<Output = CallOutput> + Send + 'static,
{
    let mut slot = reuse_or_new::<F, ()>(spare);
    set(slot_of::<F, ()>(&mut slot), fut);
    slot
}

/// As [`place`], for a future made by `make` from a `&T` that it holds for as long
/// as it runs: the box keeps a share of `keep` for it, taken only when the box held
/// another one (or none) before.
pub(crate) fn place_borrowing<T, F>(
    keep: &Arc<T>,
    make: impl FnOnce(&'static T) -> F,
    spare: &mut Option<CallFuture>,
) -> CallFuture
where
    T: Send + Sync + 'static,
    F: Future<Output = CallOutput> + Send + 'static,
{
    let mut slot = reuse_or_new::<F, T>(spare);
    let concrete = slot_of::<F, T>(&mut slot);
    // `fut` is `None` (see `reuse_or_new`), so nothing borrows `keep` while it changes.
    if !concrete.keep.as_ref().is_some_and(|k| Arc::ptr_eq(k, keep)) {
        concrete.keep = Some(keep.clone());
    }
    let held: *const T = concrete.keep.as_deref().expect("just set");
    // SAFETY: the `T` lives in an `Arc` that the box holds until `fut` is dropped:
    // `keep` is only replaced while `fut` is `None`, and `fut` is dropped before it
    // (field order). The future is the only holder of the reference.
    let fut = make(unsafe { &*held });
    set(concrete, fut);
    slot
}

/// `spare`'s box if it is an empty `Slot<F, T>`, else a new one.
fn reuse_or_new<F, T>(spare: &mut Option<CallFuture>) -> CallFuture
where
    F: Future<Output = CallOutput> + Send + 'static,
    T: Send + Sync + 'static,
{
    if let Some(mut slot) = spare.take() {
        if let Some(s) = downcast::<F, T>(&mut slot) {
            // A spare box holds a finished call's future (see `poll_call`): drop it
            // before anything new goes in.
            // SAFETY: as in `set`, `fut`'s place is pinned; `Pin::set` drops in place.
            unsafe { Pin::new_unchecked(&mut s.fut) }.set(None);
            return slot;
        }
    }
    Box::pin(Slot::<F, T> {
        fut: None,
        keep: None,
    })
}

/// The slot in `slot`'s box, as its concrete type, if it is one.
fn downcast<F, T>(slot: &mut CallFuture) -> Option<&mut Slot<F, T>>
where
    F: Future<Output = CallOutput> + Send + 'static,
    T: Send + Sync + 'static,
{
    // SAFETY: the reference is only narrowed to its concrete type; nothing is moved
    // out of the pinned box, and `fut` is only ever touched through `set`.
    unsafe { slot.as_mut().as_any().get_unchecked_mut() }.downcast_mut::<Slot<F, T>>()
}

/// [`downcast`] for a box known to hold a `Slot<F, T>`.
fn slot_of<F, T>(slot: &mut CallFuture) -> &mut Slot<F, T>
where
    F: Future<Output = CallOutput> + Send + 'static,
    T: Send + Sync + 'static,
{
    downcast(slot).expect("reuse_or_new made a slot of this type")
}

/// Writes `fut` into `slot`, which lives in a pinned box.
fn set<F, T>(slot: &mut Slot<F, T>, fut: F) {
    // SAFETY: `slot` is inside a pinned box (it came from `downcast`), so `fut`'s
    // place is pinned; `Pin::set` drops the old future in place and writes the new
    // one there.
    unsafe { Pin::new_unchecked(&mut slot.fut) }.set(Some(fut));
}

#[cfg(test)]
mod tests;
