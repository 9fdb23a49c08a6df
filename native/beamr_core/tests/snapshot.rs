//! Snapshots, limits, fuel and determinism, against real wasm through the core API.

use beamr_core::{
    compile, compile_for, Error, Instance, Options, Slice, SnapshotError, Step, Target, Val,
    Variant,
};
use proptest::prelude::*;

/// A module whose state lives in a non-exported mutable global, memory and a table.
const STATEFUL: &str = r#"
(module
  (memory 1 100)
  (global $counter (mut i32) (i32.const 0))
  (global $wide (mut i64) (i64.const 5))
  (global $x (mut f64) (f64.const 0.5))
  (table $t 4 funcref)
  (func $one (result i32) i32.const 1)
  (func $two (result i32) i32.const 2)
  (elem (i32.const 0) $one $two)
  (data (i32.const 100) "initial")
  (func (export "bump") (result i32)
    global.get $counter i32.const 1 i32.add global.set $counter
    global.get $wide i64.const 3 i64.mul global.set $wide
    i32.const 200 global.get $counter i32.store
    global.get $counter)
  (func (export "counter") (result i32) global.get $counter)
  (func (export "wide") (result i64) global.get $wide)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  (func (export "pages") (result i32) memory.size)
  (func (export "load") (param i32) (result i32) local.get 0 i32.load)
  (func (export "store") (param i32 i32) local.get 0 local.get 1 i32.store)
  (func (export "swap") (table.set $t (i32.const 3) (table.get $t (i32.const 1)))
                        (table.set $t (i32.const 1) (ref.null func)))
  (func (export "slot") (param i32) (result i32)
    local.get 0 table.get $t ref.is_null if (result i32) i32.const -1
    else local.get 0 call_indirect $t (result i32) end))
"#;

fn start(wat: &str) -> Instance {
    Instance::new(compile(wat.as_bytes()).unwrap(), None).unwrap()
}

fn call(i: &mut Instance, name: &str, args: Vec<Val>) -> Result<Vec<Val>, Error> {
    let callee = i.resolve(Target::Name(name))?;
    let mut step = i.call(&callee, args, Slice::Dirty, None);
    while let Step::Yield = step {
        step = i.proceed(Slice::Dirty);
    }
    match step {
        Step::Done(v) => Ok(v),
        Step::Failed(e) => Err(e),
        _ => panic!("unexpected import"),
    }
}

fn i32_of(v: Result<Vec<Val>, Error>) -> i32 {
    v.unwrap()[0].unwrap_i32()
}

#[test]
fn globals_memory_and_tables_are_restored_into_a_fresh_instance() {
    let mut a = start(STATEFUL);
    for _ in 0..3 {
        call(&mut a, "bump", vec![]).unwrap();
    }
    call(&mut a, "swap", vec![]).unwrap();
    assert_eq!(i32_of(call(&mut a, "grow", vec![Val::I32(2)])), 1);
    call(&mut a, "store", vec![Val::I32(3 * 65536 - 4), Val::I32(77)]).unwrap();
    let snap = a.serialize().unwrap();

    let mut b = start(STATEFUL);
    assert_eq!(i32_of(call(&mut b, "counter", vec![])), 0);
    b.deserialize(&snap).unwrap();
    assert_eq!(i32_of(call(&mut b, "counter", vec![])), 3);
    assert_eq!(call(&mut b, "wide", vec![]).unwrap()[0].unwrap_i64(), 135);
    assert_eq!(
        i32_of(call(&mut b, "pages", vec![])),
        3,
        "memory grown on restore"
    );
    assert_eq!(i32_of(call(&mut b, "load", vec![Val::I32(200)])), 3);
    assert_eq!(
        i32_of(call(&mut b, "load", vec![Val::I32(3 * 65536 - 4)])),
        77
    );
    assert_eq!(i32_of(call(&mut b, "slot", vec![Val::I32(1)])), -1);
    assert_eq!(i32_of(call(&mut b, "slot", vec![Val::I32(3)])), 2);
    assert_eq!(i32_of(call(&mut b, "slot", vec![Val::I32(0)])), 1);
    // Same state, same bytes.
    assert_eq!(b.serialize().unwrap(), snap);
    // And the restored instance goes on from there.
    assert_eq!(i32_of(call(&mut b, "bump", vec![])), 4);
}

#[test]
fn restore_over_a_used_instance_resets_what_the_snapshot_does_not_list() {
    let mut a = start(STATEFUL);
    let fresh = a.serialize().unwrap();
    call(&mut a, "bump", vec![]).unwrap();
    call(&mut a, "swap", vec![]).unwrap();
    call(&mut a, "store", vec![Val::I32(1000), Val::I32(5)]).unwrap();
    a.deserialize(&fresh).unwrap();
    assert_eq!(i32_of(call(&mut a, "counter", vec![])), 0);
    assert_eq!(i32_of(call(&mut a, "slot", vec![Val::I32(1)])), 2);
    assert_eq!(i32_of(call(&mut a, "slot", vec![Val::I32(3)])), -1);
    assert_eq!(i32_of(call(&mut a, "load", vec![Val::I32(1000)])), 0);
    assert_eq!(a.serialize().unwrap(), fresh);
}

#[test]
fn a_snapshot_is_taken_and_restored_while_parked_in_an_import() {
    let wat = r#"(module (import "env" "tick" (func $tick))
        (global $g (mut i32) (i32.const 0)) (memory 1)
        (func (export "run") (result i32) i32.const 41 global.set $g call $tick global.get $g)
        (func (export "g") (result i32) global.get $g))"#;
    let mut a = start(wat);
    let callee = a.resolve(Target::Name("run")).unwrap();
    let step = a.call(&callee, vec![], Slice::Dirty, None);
    assert!(matches!(step, Step::Import { .. }));
    let snap = a.serialize().unwrap();
    let mut b = start(wat);
    b.deserialize(&snap).unwrap();
    assert_eq!(i32_of(call(&mut b, "g", vec![])), 41);
    // Restore while parked changes the live store the parked call sees.
    let mut c = start(wat);
    let zero = c.serialize().unwrap();
    a.deserialize(&zero).unwrap();
    match a.resume(vec![], Slice::Dirty) {
        Step::Done(v) => assert_eq!(v[0].unwrap_i32(), 0),
        _ => panic!("call did not finish"),
    }
}

#[test]
fn beamr_raw_snapshots_are_accepted_and_grow_memory() {
    let mut a = start(STATEFUL);
    let mut raw = vec![0u8; 2 * 65536];
    raw[300..304].copy_from_slice(&9i32.to_le_bytes());
    a.deserialize(&raw).unwrap();
    assert_eq!(i32_of(call(&mut a, "pages", vec![])), 2);
    assert_eq!(i32_of(call(&mut a, "load", vec![Val::I32(300)])), 9);
}

#[test]
fn other_modules_and_newer_versions_are_refused_without_change() {
    let mut a = start(STATEFUL);
    call(&mut a, "bump", vec![]).unwrap();
    let snap = a.serialize().unwrap();
    let other = STATEFUL.replace("initial", "другой");
    let mut b = start(&other);
    assert_eq!(
        b.deserialize(&snap),
        Err(Error::Snapshot(SnapshotError::WrongModule))
    );
    assert_eq!(i32_of(call(&mut b, "counter", vec![])), 0);

    let mut newer = snap.clone();
    newer[8..12].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(
        a.deserialize(&newer),
        Err(Error::Snapshot(SnapshotError::Version(2)))
    );
    assert_eq!(
        a.deserialize(&snap[..snap.len() - 10]),
        Err(Error::Snapshot(SnapshotError::Truncated))
    );
}

#[test]
fn memory_limit_makes_grow_return_minus_one_and_the_instance_goes_on() {
    let options = Options {
        max_memory: 3 * 65536,
        ..Options::default()
    };
    let mut a =
        Instance::with_options(compile(STATEFUL.as_bytes()).unwrap(), None, &options).unwrap();
    assert_eq!(i32_of(call(&mut a, "grow", vec![Val::I32(2)])), 1);
    assert_eq!(i32_of(call(&mut a, "grow", vec![Val::I32(1)])), -1);
    assert_eq!(i32_of(call(&mut a, "pages", vec![])), 3);
    assert_eq!(i32_of(call(&mut a, "bump", vec![])), 1);
    // A snapshot bigger than the limit is refused and changes nothing.
    let mut big = start(STATEFUL);
    call(&mut big, "grow", vec![Val::I32(5)]).unwrap();
    let snap = big.serialize().unwrap();
    let mut small =
        Instance::with_options(compile(STATEFUL.as_bytes()).unwrap(), None, &options).unwrap();
    assert!(matches!(
        small.deserialize(&snap),
        Err(Error::Snapshot(SnapshotError::DoesNotFit(_)))
    ));
    assert_eq!(i32_of(call(&mut small, "counter", vec![])), 0);
}

#[test]
fn table_limit_makes_table_grow_fail() {
    let wat = r#"(module (table $t 1 funcref)
        (func (export "grow") (param i32) (result i32) ref.null func local.get 0 table.grow $t))"#;
    let options = Options {
        max_table_elements: 10,
        ..Options::default()
    };
    let mut a = Instance::with_options(compile(wat.as_bytes()).unwrap(), None, &options).unwrap();
    assert_eq!(i32_of(call(&mut a, "grow", vec![Val::I32(9)])), 1);
    assert_eq!(i32_of(call(&mut a, "grow", vec![Val::I32(1)])), -1);
}

#[test]
fn deep_recursion_traps_and_the_instance_stays_usable() {
    let wat = r#"(module (func $r (export "r") (param i32) (result i32)
        local.get 0 i32.const 1 i32.add call $r)
        (func (export "ok") (result i32) i32.const 7))"#;
    let mut a = start(wat);
    match call(&mut a, "r", vec![Val::I32(0)]) {
        Err(Error::Trap(m)) => assert!(m.contains("stack"), "{m}"),
        other => panic!("expected a stack overflow, got {other:?}"),
    }
    assert_eq!(i32_of(call(&mut a, "ok", vec![])), 7);
}

const LOOP: &str = r#"(module (memory 1)
  (global $acc (mut f64) (f64.const 0))
  (func (export "work") (param i32) (result i32) (local i32)
    block loop local.get 0 i32.eqz br_if 1
      local.get 1 local.get 0 i32.add local.set 1
      global.get $acc f64.const 0 f64.const 0 f64.div f64.add global.set $acc
      local.get 0 i32.const 1 i32.sub local.set 0 br 0 end end
    i32.const 8 global.get $acc f64.store
    local.get 1)
  (func (export "nan_bits") (result i64) i32.const 8 i64.load))"#;

fn metered() -> Instance {
    let options = Options {
        deterministic: true,
        ..Options::default()
    };
    let module = compile_for(LOOP.as_bytes(), Variant::DETERMINISTIC).unwrap();
    Instance::with_options(module, None, &options).unwrap()
}

#[test]
fn fuel_exhaustion_is_an_error_and_the_next_call_succeeds() {
    let mut a = metered();
    a.set_fuel_budget(Some(100)).unwrap();
    assert!(matches!(
        call(&mut a, "work", vec![Val::I32(1000)]),
        Err(Error::OutOfFuel)
    ));
    assert_eq!(a.fuel_consumed().unwrap(), Some(100));
    assert_eq!(i32_of(call(&mut a, "work", vec![Val::I32(10)])), 55);
    let used = a.fuel_consumed().unwrap().unwrap();
    assert!(used > 10, "fuel consumed {used}");
    a.set_fuel_budget(Some(used)).unwrap();
    assert_eq!(i32_of(call(&mut a, "work", vec![Val::I32(10)])), 55);
    assert_eq!(a.fuel_consumed().unwrap(), Some(used));
    // The default engine does not meter.
    let mut plain = start(LOOP);
    assert_eq!(plain.set_fuel_budget(Some(1)), Err(Error::NotMetered));
}

#[test]
fn deterministic_runs_agree_on_outputs_fuel_and_snapshots() {
    let run = || {
        let mut a = metered();
        let out = i32_of(call(&mut a, "work", vec![Val::I32(5000)]));
        let fuel = a.fuel_consumed().unwrap();
        let nan = call(&mut a, "nan_bits", vec![]).unwrap()[0].unwrap_i64();
        (out, fuel, nan, a.serialize().unwrap())
    };
    let first = run();
    // NaN canonicalization: the stored NaN is the canonical one.
    assert_eq!(first.2 as u64, 0x7ff8_0000_0000_0000);
    for _ in 0..3 {
        assert_eq!(run(), first);
    }
}

fn stateful_snapshot() -> Vec<u8> {
    let mut a = start(STATEFUL);
    call(&mut a, "bump", vec![]).unwrap();
    call(&mut a, "swap", vec![]).unwrap();
    a.serialize().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any change to a snapshot (outside the magic, whose loss makes it raw memory)
    /// is refused, and nothing panics.
    #[test]
    fn mutated_snapshots_are_refused(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let snap = stateful_snapshot();
        let mut bad = snap.clone();
        for (at, byte) in &edits {
            let i = 8 + at.index(bad.len() - 8);
            bad[i] ^= byte | 1;
        }
        let mut b = start(STATEFUL);
        prop_assert!(matches!(b.deserialize(&bad), Err(Error::Snapshot(_))));
        prop_assert_eq!(i32_of(call(&mut b, "counter", vec![])), 0);
    }

    #[test]
    fn truncated_snapshots_are_refused(cut in any::<prop::sample::Index>()) {
        let snap = stateful_snapshot();
        let len = 8 + cut.index(snap.len() - 8);
        let mut b = start(STATEFUL);
        prop_assert!(matches!(b.deserialize(&snap[..len]), Err(Error::Snapshot(_))));
    }

    /// Arbitrary bytes after the magic never panic.
    #[test]
    fn arbitrary_bytes_never_panic(tail in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut bytes = b"BEAMRSNP".to_vec();
        bytes.extend_from_slice(&tail);
        let mut b = start(STATEFUL);
        prop_assert!(b.deserialize(&bytes).is_err());
    }
}
