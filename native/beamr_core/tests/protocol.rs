//! The call protocol end to end, driven from Rust the way the NIF drives it.

mod common;

use beamr_core::engine::TICK;
use beamr_core::{compile, Arg, Error, Instance, Slice, Step, Target, Val};
use common::{call, done, settle};
use std::time::{Duration, Instant};

const MODULE: &str = r#"
(module
  (import "env" "mul" (func $mul (param i64 i64) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello")
  (func $fac (export "fac") (param f64) (result f64)
    local.get 0 f64.const 1 f64.lt
    if (result f64) f64.const 1
    else local.get 0 local.get 0 f64.const 1 f64.sub call $fac f64.mul end)
  (func (export "pow") (param i64 i64) (result i64) (local $acc i64)
    i64.const 1 local.set $acc
    block loop
      local.get 1 i64.eqz br_if 1
      local.get $acc local.get 0 call $mul local.set $acc
      local.get 1 i64.const 1 i64.sub local.set 1
      br 0 end end
    local.get $acc)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
  (func (export "pair") (result i32 i64) i32.const -1 i64.const 7)
  (func (export "spin") (loop br 0))
  (table (export "__indirect_function_table") 2 funcref)
  (elem (i32.const 1) func $fac))
"#;

fn instance() -> Instance {
    Instance::new(compile(MODULE.as_bytes()).unwrap(), None).unwrap()
}

#[test]
fn plain_call_returns_results() {
    let mut i = instance();
    let r = done(call(&mut i, "fac", &[Arg::Float(5.0)]));
    assert_eq!(r[0].unwrap_f64(), 120.0);
    let r = done(call(&mut i, "pair", &[]));
    assert_eq!((r[0].unwrap_i32(), r[1].unwrap_i64()), (-1, 7));
}

#[test]
fn imports_suspend_and_resume() {
    let mut i = instance();
    let mut step = call(&mut i, "pow", &[Arg::Int(3), Arg::Int(4)]);
    let mut rounds = 0;
    let result = loop {
        match step {
            Step::Import { index, args } => {
                assert_eq!(i.module().imports()[index].name, "mul");
                assert_eq!(i.pending_import().unwrap().name, "mul");
                rounds += 1;
                let product = args[0].unwrap_i64() * args[1].unwrap_i64();
                let next = i.resume(vec![Val::I64(product)], Slice::Normal);
                step = settle(&mut i, next);
            }
            other => break done(other),
        }
    };
    assert_eq!(result[0].unwrap_i64(), 81);
    assert_eq!(rounds, 4);
    assert!(i.is_idle());
}

#[test]
fn memory_and_reentrant_calls_work_inside_an_import() {
    let mut i = instance();
    let Step::Import { .. } = call(&mut i, "pow", &[Arg::Int(2), Arg::Int(1)]) else {
        panic!()
    };
    assert_eq!(i.read(16, 5, |b| b.to_vec()).unwrap(), b"hello");
    i.write(16, b"HELLO").unwrap();
    assert_eq!(i.memory_size().unwrap(), 65536);
    let nested = done(call(&mut i, "fac", &[Arg::Float(4.0)]));
    assert_eq!(nested[0].unwrap_f64(), 24.0);
    // A nested call that itself reaches the import.
    let Step::Import { .. } = call(&mut i, "pow", &[Arg::Int(5), Arg::Int(1)]) else {
        panic!()
    };
    let step = i.resume(vec![Val::I64(5)], Slice::Normal);
    let inner = done(settle(&mut i, step));
    assert_eq!(inner[0].unwrap_i64(), 5);
    let step = i.resume(vec![Val::I64(2)], Slice::Normal);
    let outer = done(settle(&mut i, step));
    assert_eq!(outer[0].unwrap_i64(), 2);
    assert_eq!(i.read(16, 5, |b| b.to_vec()).unwrap(), b"HELLO");
}

#[test]
fn failing_an_import_ends_the_call_and_keeps_the_instance() {
    let mut i = instance();
    let Step::Import { .. } = call(&mut i, "pow", &[Arg::Int(2), Arg::Int(1)]) else {
        panic!()
    };
    match i.fail_import("handler crashed".into(), Slice::Normal) {
        Step::Failed(Error::ImportAborted(m)) => assert_eq!(m, "handler crashed"),
        Step::Failed(e) => panic!("expected an aborted import, got {e:?}"),
        Step::Yield => panic!("expected an aborted import, got a yield"),
        Step::Done(_) | Step::Import { .. } => panic!("expected an aborted import"),
    }
    assert_eq!(
        done(call(&mut i, "add", &[Arg::Int(2), Arg::Int(3)]))[0].unwrap_i32(),
        5
    );
}

#[test]
fn traps_are_reported_and_the_instance_stays_usable() {
    let mut i = instance();
    match call(&mut i, "div", &[Arg::Int(1), Arg::Int(0)]) {
        Step::Failed(Error::Trap(m)) => assert!(m.contains("divide by zero"), "{m}"),
        _ => panic!("expected a trap"),
    }
    assert_eq!(
        done(call(&mut i, "div", &[Arg::Int(6), Arg::Int(3)]))[0].unwrap_i32(),
        2
    );
}

/// Starts `spin` (which loops forever) on a normal-scheduler slice, which must yield,
/// and stops the instance from another thread after `after`.
fn spin_and_stop_after(i: &mut Instance, after: Duration) -> std::thread::JoinHandle<()> {
    let callee = i.resolve(Target::Name("spin")).unwrap();
    assert!(matches!(
        i.call(&callee, vec![], Slice::Normal, None),
        Step::Yield
    ));
    let stop = i.stop_handle();
    std::thread::spawn(move || {
        std::thread::sleep(after);
        stop.stop();
    })
}

#[test]
fn long_calls_yield_and_stop_ends_them() {
    let mut i = instance();
    let t = spin_and_stop_after(&mut i, Duration::from_millis(20));
    let started = Instant::now();
    let mut step = i.proceed(Slice::Dirty);
    // Dirty slices end too (see the next test): the driver continues each.
    while matches!(step, Step::Yield) && started.elapsed() < Duration::from_secs(5) {
        step = i.proceed(Slice::Dirty);
    }
    t.join().unwrap();
    assert!(matches!(step, Step::Failed(Error::Stopped)));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(matches!(call_err(&mut i), Error::Stopped));
}

/// A slice on a dirty scheduler ends too, so that calls spinning forever take turns
/// on the dirty schedulers with every other long call.
#[test]
fn dirty_slices_end() {
    let mut i = instance();
    // Without dirty slices the proceed below would spin until this stop.
    let t = spin_and_stop_after(&mut i, Duration::from_secs(3));
    for _ in 0..3 {
        assert!(matches!(i.proceed(Slice::Dirty), Step::Yield));
    }
    i.stop();
    t.join().unwrap();
}

/// A normal-scheduler slice runs until it has seen a full epoch tick go by: calls far
/// shorter than a tick finish in their first slice even when a tick lands during them,
/// and a long call yields only after at least one whole tick.
#[test]
fn slices_yield_after_a_full_tick_not_at_the_first_one() {
    let mut i = Instance::new(compile(common::COUNT_WAT.as_bytes()).unwrap(), None).unwrap();
    let count = i.resolve(Target::Name("count")).unwrap();
    let mut run = |n: i32, slice| {
        let t = Instant::now();
        let step = i.call(&count, vec![Val::I32(n)], slice, None);
        let yielded = matches!(step, Step::Yield);
        done(settle(&mut i, step));
        (yielded, t.elapsed())
    };
    // Calibrate a call of a quarter to half a tick: at least one in four lands on a
    // tick, and would yield if the first tick cut slices short. Only a thread preempted
    // for a whole tick (a loaded machine) sees two ticks go by in one.
    let mut n = 1 << 16;
    while run(n, Slice::Dirty).1 < TICK / 4 && n < (1 << 30) {
        n *= 2;
    }
    let yields = (0..100).filter(|_| run(n, Slice::Normal).0).count();
    assert!(yields <= 12, "{yields} of 100 short calls yielded");

    let spin = i.resolve(Target::Name("count")).unwrap();
    let started = Instant::now();
    let step = i.call(&spin, vec![Val::I32(-1)], Slice::Normal, None);
    assert!(matches!(step, Step::Yield));
    assert!(started.elapsed() >= TICK);
    i.stop();
}

fn call_err(i: &mut Instance) -> Error {
    match i.resolve(Target::Name("add")) {
        Err(e) => e,
        Ok(_) => panic!("stopped instance resolved an export"),
    }
}

#[test]
fn deadlines_time_calls_out() {
    let mut i = instance();
    let callee = i.resolve(Target::Name("spin")).unwrap();
    let deadline = Some(Instant::now() + Duration::from_millis(30));
    let mut step = i.call(&callee, vec![], Slice::Dirty, deadline);
    while let Step::Yield = step {
        step = i.proceed(Slice::Dirty);
    }
    assert!(matches!(step, Step::Failed(Error::Timeout)));
    assert_eq!(
        done(call(&mut i, "add", &[Arg::Int(1), Arg::Int(1)]))[0].unwrap_i32(),
        2
    );
}

#[test]
fn indirect_calls_and_lookup_errors() {
    let mut i = instance();
    let callee = i.resolve(Target::Index(1)).unwrap();
    let step = i.call(&callee, vec![Val::F64(3f64.to_bits())], Slice::Normal, None);
    let r = done(settle(&mut i, step));
    assert_eq!(r[0].unwrap_f64(), 6.0);
    assert!(matches!(
        i.resolve(Target::Index(0)),
        Err(Error::BadTableIndex(0))
    ));
    assert!(matches!(
        i.resolve(Target::Index(u64::MAX)),
        Err(Error::BadTableIndex(_))
    ));
    assert!(matches!(
        i.resolve(Target::Name("nope")),
        Err(Error::UnknownExport(_))
    ));
    assert!(matches!(
        i.resolve(Target::Name("memory")),
        Err(Error::NotAFunction(_))
    ));
}

#[test]
fn hostile_memory_ranges_are_errors() {
    let mut i = instance();
    assert!(matches!(
        i.read(65536, 1, |_| ()),
        Err(Error::OutOfBounds { .. })
    ));
    assert!(matches!(
        i.read(u64::MAX, 2, |_| ()),
        Err(Error::OutOfBounds { .. })
    ));
    assert!(matches!(
        i.write(65535, b"ab"),
        Err(Error::OutOfBounds { .. })
    ));
    assert!(i.read(65536, 0, |b| b.len()).is_ok());
}

#[test]
fn invalid_modules_are_compile_errors() {
    assert!(matches!(
        compile(b"\0asm\x01\0\0\0\x99"),
        Err(Error::Compile(_))
    ));
    assert!(matches!(
        compile(b"(module (func (result i32)))"),
        Err(Error::Compile(_))
    ));
}

#[test]
fn memory64_modules_run() {
    let m = compile(
        br#"(module (memory (export "memory") i64 2)
             (func (export "poke") (param i64 i32) local.get 0 local.get 1 i32.store8))"#,
    )
    .unwrap();
    let mut i = Instance::new(m, None).unwrap();
    assert_eq!(i.memory_size().unwrap(), 131072);
    done(call(&mut i, "poke", &[Arg::Int(70000), Arg::Int(42)]));
    assert_eq!(i.read(70000, 1, |b| b[0]).unwrap(), 42);
    assert!(matches!(
        call(&mut i, "poke", &[Arg::Int(1 << 40), Arg::Int(1)]),
        Step::Failed(Error::Trap(_))
    ));
}

/// A start function runs a slice at a time: it yields, its deadline ends it, and
/// dropping it between slices (its caller went away) leaves nothing running.
#[test]
fn start_functions_run_in_slices() {
    use beamr_core::{Options, Started, Starting};
    let module = compile(b"(module (func $s (loop br 0)) (start $s))").unwrap();
    let deadline = Instant::now() + Duration::from_millis(200);
    let mut starting = Starting::new(
        module.clone(),
        Vec::new(),
        Some(deadline),
        &Options::default(),
    )
    .unwrap();
    let mut slices = 0;
    let made = loop {
        match starting.poll() {
            Started::Ready(made) => break made,
            Started::Yield(again) => {
                slices += 1;
                starting = again;
            }
        }
    };
    assert!(slices >= 2, "{slices} slices");
    assert!(matches!(made, Err(Error::Timeout)));
    let abandoned = Starting::new(module, Vec::new(), None, &Options::default()).unwrap();
    let Started::Yield(abandoned) = abandoned.poll() else {
        panic!("a start function spinning forever finished");
    };
    abandoned.discard();
}
