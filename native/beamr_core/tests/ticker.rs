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

/// The ticker runs at the lowest real-time priority where the process may have it
/// (`CAP_SYS_NICE`, or an `RLIMIT_RTPRIO` of at least 1), so that its ticks, which end
/// time slices, are not delayed behind busy threads; elsewhere it stays a normal
/// thread (with a short kernel slice).
#[cfg(target_os = "linux")]
#[test]
fn the_ticker_asks_for_real_time_priority() {
    let _ = beamr_core::engine::engine();
    let expected = if may_be_real_time() {
        libc::SCHED_FIFO
    } else {
        libc::SCHED_OTHER
    };
    // The thread names itself and sets its policy as it starts: wait for both.
    wait_until(
        "the ticker runs under its policy",
        Duration::from_secs(5),
        || {
            ticker_tid().is_some_and(|tid| {
                // SAFETY: sched_getscheduler only reads the policy of the thread `tid` names.
                unsafe { libc::sched_getscheduler(tid) == expected }
            })
        },
    );
}

/// The thread id of the `beamr-epoch` thread, once it has its name.
#[cfg(target_os = "linux")]
fn ticker_tid() -> Option<i32> {
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .filter_map(|t| t.ok())
        .find(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "beamr-epoch")
        })
        .and_then(|t| t.file_name().to_string_lossy().parse().ok())
}

/// Whether this process may make a thread `SCHED_FIFO` at priority 1.
#[cfg(target_os = "linux")]
fn may_be_real_time() -> bool {
    const CAP_SYS_NICE: u32 = 23;
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap())
        .unwrap_or(0);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the limit into `limit`, a valid rlimit.
    let rtprio =
        unsafe { libc::getrlimit(libc::RLIMIT_RTPRIO, &mut limit) } == 0 && limit.rlim_cur >= 1;
    effective & (1 << CAP_SYS_NICE) != 0 || rtprio
}
