//! The gate under contention: holders, waiters and stops from many threads.

use super::*;
use parking_lot::Mutex;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

#[test]
fn a_held_value_cannot_be_taken_again_until_released() {
    let gate = Gate::new(5);
    let mut held = gate.try_take_unqueued().expect("free");
    *held += 1;
    assert!(gate.try_take_unqueued().is_none());
    assert!(gate.try_take().is_none());
    assert!(held.release_unqueued().is_ok());
    assert_eq!(*gate.try_take().expect("released"), 6);
}

#[test]
fn a_queue_mark_sends_the_holder_the_slow_way_and_blocks_the_fast_take() {
    let gate = Gate::new(());
    let held = gate.try_take_unqueued().expect("free");
    assert!(
        gate.mark_queued(),
        "still held, so the holder will see the mark"
    );
    let held = held.release_unqueued().expect_err("someone queued");
    drop(held);
    // Released but still marked: only a take that looks at the queue may have it.
    assert!(gate.try_take_unqueued().is_none());
    let held = gate.try_take().expect("free");
    held.release_dequeued();
    assert!(gate.try_take_unqueued().is_some());
}

#[test]
fn a_mark_after_the_release_tells_the_queuer_to_take_it_itself() {
    let gate = Gate::new(());
    gate.try_take_unqueued()
        .expect("free")
        .release_unqueued()
        .ok();
    assert!(
        !gate.mark_queued(),
        "released first: nobody would wake the queue"
    );
    gate.mark_unqueued();
    assert!(gate.try_take_unqueued().is_some());
}

/// The instance protocol over a gate: callers take the value on the fast path when
/// nobody is queued, else under a control lock, where one that finds it held queues
/// itself and waits to be woken. Checks that nobody is ever left waiting (a lost
/// wake-up times out) and that holders exclude each other (the count adds up).
#[test]
fn contended_takers_exclude_each_other_and_lose_no_wake_up() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 20_000;
    let gate = Arc::new(Gate::new(0u64));
    let queue: Arc<Mutex<Vec<mpsc::Sender<()>>>> = Arc::default();
    // All start together, so that they contend from the first round.
    let start = Arc::new(std::sync::Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (gate, queue, start) = (gate.clone(), queue.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let (wake_me, woken) = mpsc::channel();
                let wake_all = |held: Held<'_, u64>| {
                    let mut q = queue.lock();
                    let waiters = std::mem::take(&mut *q);
                    held.release_dequeued();
                    drop(q);
                    waiters.iter().for_each(|w| w.send(()).unwrap());
                };
                for _ in 0..ROUNDS {
                    let mut held = loop {
                        if let Some(h) = gate.try_take_unqueued() {
                            break h;
                        }
                        let mut q = queue.lock();
                        if let Some(h) = gate.try_take() {
                            break h;
                        }
                        q.push(wake_me.clone());
                        if !gate.mark_queued() {
                            if let Some(h) = gate.try_take() {
                                q.pop();
                                if q.is_empty() {
                                    gate.mark_unqueued();
                                }
                                break h;
                            }
                        }
                        drop(q);
                        woken
                            .recv_timeout(Duration::from_secs(5))
                            .expect("a queued taker was never woken");
                    };
                    // A non-atomic read-modify-write: lost updates if two held it.
                    // Held for a while, so that others find it held and queue.
                    let n = *held;
                    (0..50).for_each(|_| std::hint::spin_loop());
                    *held = n + 1;
                    if let Err(held) = held.release_unqueued() {
                        wake_all(held);
                    }
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(*gate.try_take().expect("free"), (THREADS * ROUNDS) as u64);
}
