//! The node-wide memory budget and what a restore costs in memory. A process of its
//! own (an integration test binary): the budget is process-wide.

mod common;

use beamr_core::memory_budget::{budget, set_budget, used};
use beamr_core::{compile, Arg, Error, Instance, Val};
use common::{call, done};

const MIB: u64 = 1 << 20;

/// A memory of `pages` pages (64 KiB each), growable by `grow(n)`.
fn growable(pages: u32) -> String {
    format!(
        r#"(module (memory (export "mem") {pages})
             (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
             (func (export "store") (param i32 i32) local.get 0 local.get 1 i32.store8))"#
    )
}

fn grow(i: &mut Instance, pages: i128) -> i32 {
    match done(call(i, "grow", &[Arg::Int(pages)]))[..] {
        [Val::I32(n)] => n,
        ref other => panic!("{other:?}"),
    }
}

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn budget_bounds_starts_and_growth_and_restores_cost_the_snapshot() {
    let original = budget();
    let base = used();

    // Starts and growth within a budget of 8 MiB more than what is held now.
    set_budget(base + 8 * MIB);
    let module = compile(growable(64).as_bytes()).unwrap(); // 4 MiB
    let mut a = Instance::new(module.clone(), None).unwrap();
    assert_eq!(used(), base + 4 * MIB);
    match Instance::new(compile(growable(80).as_bytes()).unwrap(), None) {
        Err(Error::MemoryBudget { requested, budget }) => {
            assert_eq!((requested, budget), (5 * MIB, base + 8 * MIB))
        }
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("a 5 MiB memory started with 4 MiB of budget left"),
    }
    assert_eq!(grow(&mut a, 80), -1, "growth past the budget");
    assert_eq!(grow(&mut a, 64), 64, "growth within it");
    assert_eq!(used(), base + 8 * MIB);
    drop(a);
    // Big stores are dropped on the reaper thread: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while used() != base && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(used(), base, "a dropped instance gives its memory back");

    // A small snapshot restored into a memory grown to 1 GiB and written at its end
    // clears it without touching the pages in between.
    set_budget(original);
    let mut fresh = Instance::new(module.clone(), None).unwrap();
    let snapshot = fresh.serialize().unwrap();
    let mut big = Instance::new(module, None).unwrap();
    assert_eq!(grow(&mut big, 16384 - 64), 64);
    let top = (1u64 << 30) - 1;
    done(call(
        &mut big,
        "store",
        &[Arg::Int(top as i128), Arg::Int(7)],
    ));
    done(call(&mut big, "store", &[Arg::Int(100), Arg::Int(7)]));
    let before = rss();
    big.deserialize(&snapshot).unwrap();
    let grew = rss().saturating_sub(before);
    assert!(grew < 64 * MIB, "restore made {grew} bytes resident");
    assert_eq!(
        big.memory_size().unwrap(),
        1 << 30,
        "memory does not shrink"
    );
    assert_eq!(big.read(top, 1, |b| b[0]).unwrap(), 0);
    assert_eq!(big.read(100, 1, |b| b[0]).unwrap(), 0);
    assert_eq!(big.serialize().unwrap().len(), {
        let mut grown = Instance::new(compile(growable(64).as_bytes()).unwrap(), None).unwrap();
        assert_eq!(grow(&mut grown, 16384 - 64), 64);
        grown.serialize().unwrap().len()
    });
}
