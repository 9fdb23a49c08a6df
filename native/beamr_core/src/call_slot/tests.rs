//! The reused box, run for real: functions sharing a signature each run their own
//! code (the borrowed `TypedFunc` is swapped), typed and dynamic calls alternate, a
//! box is reused only when it fits, and calls parked in imports are dropped, unwound
//! and restarted without losing what their future borrows.

use crate::{compile, Error, Instance, Slice, Step, Target, Val};

const WAT: &str = r#"(module
  (import "env" "ask" (func $ask (param i32) (result i32)))
  (func (export "inc") (param i32) (result i32) local.get 0 i32.const 1 i32.add)
  (func (export "dbl") (param i32) (result i32) local.get 0 i32.const 2 i32.mul)
  (func (export "via") (param i32) (result i32) local.get 0 call $ask i32.const 100 i32.add)
  (func (export "neg") (param f64) (result f64) local.get 0 f64.neg)
  (func (export "mix") (param i32 f64) (result f64)
    local.get 1 local.get 0 f64.convert_i32_s f64.add)
  (func (export "boom") (param i32) (result i32) unreachable))"#;

fn start() -> Instance {
    Instance::new(compile(WAT.as_bytes()).unwrap(), None).unwrap()
}

/// Calls `name` through `call_target`, as the NIF does, and settles time-slice yields.
fn step(i: &mut Instance, name: &str, args: Vec<Val>) -> Step {
    let made = |types: &[wasmtime::ValType], spare: &mut Vec<Val>| {
        assert_eq!(types.len(), args.len(), "argument count of {name}");
        spare.extend(args);
        true
    };
    let mut s = i
        .call_target(Target::Name(name), Slice::Normal, None, made)
        .unwrap();
    while let Step::Yield = s {
        s = i.proceed(Slice::Normal);
    }
    s
}

fn i32_of(i: &mut Instance, name: &str, x: i32) -> Result<i32, Error> {
    match step(i, name, vec![Val::I32(x)]) {
        Step::Done(v) => Ok(v[0].unwrap_i32()),
        Step::Failed(e) => Err(e),
        _ => panic!("{name} did not finish"),
    }
}

fn f64_of(i: &mut Instance, name: &str, args: Vec<Val>) -> f64 {
    match step(i, name, args) {
        Step::Done(v) => v[0].unwrap_f64(),
        _ => panic!("{name} did not finish"),
    }
}

#[test]
fn functions_sharing_a_signature_each_run_their_own_code() {
    let mut i = start();
    for x in 0..200 {
        assert_eq!(i32_of(&mut i, "inc", x), Ok(x + 1));
        assert_eq!(i32_of(&mut i, "dbl", x), Ok(2 * x));
        if x % 3 == 0 {
            assert_eq!(i32_of(&mut i, "dbl", x), Ok(2 * x));
        }
    }
}

#[test]
fn typed_dynamic_and_failing_calls_alternate() {
    let mut i = start();
    for x in 0..50 {
        assert_eq!(i32_of(&mut i, "inc", x), Ok(x + 1));
        assert_eq!(
            f64_of(&mut i, "neg", vec![Val::F64(1.5f64.to_bits())]),
            -1.5
        );
        // (i32, f64) -> f64 has no typed entry point: the dynamic path.
        let mixed = f64_of(&mut i, "mix", vec![Val::I32(x), Val::F64(0.5f64.to_bits())]);
        assert_eq!(mixed, x as f64 + 0.5);
        assert!(matches!(i32_of(&mut i, "boom", x), Err(Error::Trap(_))));
    }
}

#[test]
fn a_finished_call_leaves_its_box_to_the_next_of_its_kind() {
    let mut i = start();
    assert_eq!(i32_of(&mut i, "inc", 1), Ok(2));
    let first = i.spare_call_address().expect("a box after a call");
    for x in 0..10 {
        assert_eq!(i32_of(&mut i, "dbl", x), Ok(2 * x));
        assert_eq!(
            i.spare_call_address(),
            Some(first),
            "same signature, same box"
        );
    }
    f64_of(&mut i, "neg", vec![Val::F64(2f64.to_bits())]);
    let other = i.spare_call_address().expect("a box after a call");
    assert_ne!(
        other, first,
        "another signature's future needs a box of its own"
    );
    assert_eq!(i32_of(&mut i, "inc", 5), Ok(6));
}

#[test]
fn calls_parked_in_imports_are_unwound_stopped_and_followed() {
    let mut i = start();
    for round in 0..20 {
        let Step::Import { args, .. } = step(&mut i, "via", vec![Val::I32(round)]) else {
            panic!("via did not reach its import");
        };
        assert_eq!(args[0].unwrap_i32(), round);
        if round % 2 == 0 {
            // The caller went away: the parked call is unwound in place.
            i.abandon();
        } else {
            let done = i.resume(vec![Val::I32(round * 10)], Slice::Normal);
            assert!(matches!(done, Step::Done(ref v) if v[0].unwrap_i32() == round * 10 + 100));
        }
        assert!(i.is_idle());
        assert_eq!(i32_of(&mut i, "dbl", round), Ok(2 * round));
    }
    // Stopping drops a parked call's future with the store.
    assert!(matches!(
        step(&mut i, "via", vec![Val::I32(1)]),
        Step::Import { .. }
    ));
    i.stop();
    assert_eq!(i32_of(&mut i, "inc", 1), Err(Error::Stopped));
}
