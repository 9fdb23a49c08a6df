//! Freeing big stores away from the caller's thread.
//!
//! Dropping a store unmaps its linear memories, which takes time in proportion to the
//! memory the instance touched: milliseconds for a large one. That happens when an instance is stopped or its last
//! reference goes, which the NIF sees on a normal scheduler (a `stop` call, or the
//! garbage collection of a process), where nothing may run that long. Stores whose
//! memory is past [`INLINE_BYTES`] are therefore handed to a background thread to be
//! dropped; small ones, the common case, are dropped on the spot, which is cheaper
//! than a hand-over.

use once_cell::sync::Lazy;
use parking_lot::Mutex;
use std::sync::mpsc::{channel, Sender};

/// Stores with at most this much linear memory are dropped where they are released.
pub const INLINE_BYTES: usize = 1 << 20;

type Garbage = Box<dyn Send>;

static REAPER: Lazy<Mutex<Option<Sender<Garbage>>>> = Lazy::new(|| {
    let (tx, rx) = channel::<Garbage>();
    let spawned = std::thread::Builder::new()
        .name("beamr-reaper".into())
        .spawn(move || {
            for garbage in rx {
                drop(garbage);
            }
        });
    Mutex::new(spawned.ok().map(|_| tx))
});

/// Drops `value` on the reaper thread (or here, if that thread could not be started).
pub(crate) fn drop_later<T: Send + 'static>(value: T) {
    let garbage: Garbage = Box::new(value);
    let refused = match &*REAPER.lock() {
        Some(tx) => tx.send(garbage).err().map(|e| e.0),
        None => Some(garbage),
    };
    drop(refused);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    struct Flag(Arc<AtomicBool>, std::thread::ThreadId);

    impl Drop for Flag {
        fn drop(&mut self) {
            assert_ne!(std::thread::current().id(), self.1);
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn values_are_dropped_on_another_thread() {
        let dropped = Arc::new(AtomicBool::new(false));
        drop_later(Flag(dropped.clone(), std::thread::current().id()));
        let started = Instant::now();
        while !dropped.load(Ordering::SeqCst) {
            assert!(started.elapsed() < Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
