//! The epoch ticker parks when no wasm runs and wakes for the next call. In a file of
//! its own: a test process where nothing else keeps the ticker busy.

mod common;

use beamr_core::engine::{ticker_parked, ticks, IDLE_TICKS, TICK};
use beamr_core::{compile, Instance, Slice, Step, Target, Val};
use std::time::{Duration, Instant};

fn wait_until(what: &str, limit: Duration, cond: impl Fn() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < limit, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_ticker_parks_when_idle_and_a_call_wakes_it() {
    let mut i = Instance::new(compile(common::COUNT_WAT.as_bytes()).unwrap(), None).unwrap();
    let count = i.resolve(Target::Name("count")).unwrap();
    let step = i.call(&count, vec![Val::I32(1000)], Slice::Normal, None);
    common::done(common::settle(&mut i, step));

    // Nothing runs: after IDLE_TICKS ticks it parks, and the tick count stands still.
    let idle = TICK * IDLE_TICKS;
    wait_until("the ticker parks", idle * 20, ticker_parked);
    let parked_at = ticks();
    std::thread::sleep(TICK * 20);
    assert_eq!(ticks(), parked_at);

    // A call that never ends by itself still yields on a normal scheduler (the poll
    // woke the ticker), and stop ends it.
    let started = Instant::now();
    let step = i.call(&count, vec![Val::I32(-1)], Slice::Normal, None);
    assert!(matches!(step, Step::Yield));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(ticks() > parked_at);
    assert!(!ticker_parked());
    i.stop();
}
