//! The threads that compile large modules, few and apart from the schedulers.
//!
//! Compiling is not interruptible: cranelift runs a function to its end, and a module
//! built to be slow to compile (deeply nested blocks, say) can take seconds per
//! megabyte. So large modules are compiled here, not on a scheduler: the caller hands
//! over a job and waits for its answer in `receive`, with its timeout, and a caller
//! that stops waiting (timed out, or gone) cancels its job, which is skipped if it has
//! not begun. At most [`workers`] compilations run at once and at most [`QUEUE`] wait,
//! so the work callers can leave behind stays bounded, whatever they do.

use once_cell::sync::Lazy;
use parking_lot::Mutex;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;

/// Jobs that may wait for a worker; a submission past them is refused.
pub const QUEUE: usize = 64;

/// Modules at most this large are compiled where they are asked for: their compile
/// time is bounded by their size, and small, so the hand-over would cost more.
pub const INLINE_BYTES: usize = 64 * 1024;

type Job = Box<dyn FnOnce() + Send>;

/// How many compilations run at once: a quarter of the cores, at least one
/// (wasmtime spreads each compilation over every core by itself).
pub fn workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / 4).max(1)
}

static POOL: Lazy<Option<SyncSender<Job>>> = Lazy::new(|| {
    let (tx, rx) = sync_channel::<Job>(QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    let mut started = 0;
    for n in 0..workers() {
        let rx = rx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("beamr-compile-{n}"))
            .spawn(move || loop {
                // The lock is held only while waiting for the next job.
                let next = rx.lock().recv();
                match next {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            });
        started += spawned.is_ok() as usize;
    }
    (started > 0).then_some(tx)
});

/// Why a job was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// [`QUEUE`] jobs are waiting already.
    Full,
    /// No worker thread could be started.
    NoWorkers,
}

/// Queues `job` for a compile worker.
pub fn submit(job: impl FnOnce() + Send + 'static) -> Result<(), Refused> {
    let Some(tx) = &*POOL else {
        return Err(Refused::NoWorkers);
    };
    tx.try_send(Box::new(job)).map_err(|e| match e {
        TrySendError::Full(_) => Refused::Full,
        TrySendError::Disconnected(_) => Refused::NoWorkers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    #[test]
    fn jobs_run_off_the_caller_and_the_queue_is_bounded() {
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock();
        let ran = Arc::new(AtomicUsize::new(0));
        // Every worker blocks on the gate; the queue then fills.
        let mut taken = 0;
        let mut refused = None;
        for _ in 0..(workers() + QUEUE + 8) {
            let (gate, ran) = (gate.clone(), ran.clone());
            match submit(move || {
                drop(gate.lock());
                ran.fetch_add(1, Ordering::SeqCst);
            }) {
                Ok(()) => taken += 1,
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        assert_eq!(refused, Some(Refused::Full));
        assert!(taken <= workers() + QUEUE, "{taken} jobs taken");
        drop(held);
        let started = Instant::now();
        while ran.load(Ordering::SeqCst) < taken {
            assert!(started.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
