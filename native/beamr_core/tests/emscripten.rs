//! emscripten's `invoke_*` trampolines and `_emscripten_throw_longjmp`, answered
//! natively, on a hand-written module shaped like emscripten's output: exported
//! `stackSave`/`stackRestore`/`setThrew`, a stack pointer global, a function table.

mod common;

use beamr_core::{compile, Arg, Error, Instance, Slice, Step, Target, Val};
use common::{call_until, done, settle};
use std::time::{Duration, Instant};

const MODULE: &str = r#"
(module
  (import "env" "invoke_vi" (func $invoke_vi (param i32 i32)))
  (import "env" "invoke_ii" (func $invoke_ii (param i32 i32) (result i32)))
  (import "env" "_emscripten_throw_longjmp" (func $throw_longjmp))
  (import "env" "host" (func $host (param i32) (result i32)))
  (memory (export "memory") 1)
  (global $sp (mut i32) (i32.const 4096))
  (global $threw (mut i32) (i32.const 0))
  (table (export "__indirect_function_table") 5 funcref)
  (elem (i32.const 1) $jumper $via_host $spin $trapper)
  (func (export "stackSave") (result i32) global.get $sp)
  (func (export "stackRestore") (param i32) local.get 0 global.set $sp)
  (func (export "setThrew") (param i32 i32) local.get 0 global.set $threw)
  ;; Takes 64 bytes of stack, then longjmps when its argument is not zero.
  (func $jumper (param i32)
    global.get $sp i32.const 64 i32.sub global.set $sp
    local.get 0 if call $throw_longjmp end)
  (func $via_host (param i32) (result i32) local.get 0 call $host i32.const 1 i32.add)
  (func $spin (param i32) (result i32) (loop br 0) i32.const 0)
  (func $trapper (param i32) (result i32)
    global.get $sp i32.const 64 i32.sub global.set $sp
    unreachable)
  ;; invoke_vi(jumper, jump): returns (__THREW__, stack pointer).
  (func (export "try_jump") (param i32) (result i32 i32)
    i32.const 0 global.set $threw
    i32.const 1 local.get 0 call $invoke_vi
    global.get $threw global.get $sp)
  (func (export "invoke") (param i32 i32) (result i32)
    local.get 0 local.get 1 call $invoke_ii)
  (func (export "sp") (result i32) global.get $sp)
  (func (export "jump") call $throw_longjmp))
"#;

fn instance() -> Instance {
    let module = compile(MODULE.as_bytes()).unwrap();
    Instance::new(module, None).unwrap()
}

fn ints(step: Step) -> Vec<i32> {
    done(step).iter().map(Val::unwrap_i32).collect()
}

#[test]
fn a_longjmp_is_caught_by_invoke_which_restores_the_stack_and_sets_threw() {
    let mut i = instance();
    assert_eq!(
        ints(call_until(&mut i, "try_jump", &[Arg::Int(1)], None)),
        [1, 4096]
    );
    // Without a longjmp the callee's stack use stands and nothing is thrown.
    assert_eq!(
        ints(call_until(&mut i, "try_jump", &[Arg::Int(0)], None)),
        [0, 4032]
    );
}

#[test]
fn an_import_inside_an_invoke_callee_parks_and_resumes() {
    let mut i = instance();
    let Step::Import { index, args } =
        call_until(&mut i, "invoke", &[Arg::Int(2), Arg::Int(5)], None)
    else {
        panic!("expected the host import")
    };
    // The first import the driver sees is `host`: invoke_ii itself never reaches it.
    assert_eq!(i.module().imports()[index].name, "host");
    assert_eq!(args[0].unwrap_i32(), 5);
    // Memory stays reachable while parked under invoke_.
    assert_eq!(i.memory_size().unwrap(), 65536);
    let step = i.resume(vec![Val::I32(41)], Slice::Normal);
    assert_eq!(ints(settle(&mut i, step)), [42]);
}

#[test]
fn a_trap_in_an_invoke_callee_propagates_after_restoring_the_stack() {
    let mut i = instance();
    match call_until(&mut i, "invoke", &[Arg::Int(4), Arg::Int(0)], None) {
        Step::Failed(Error::Trap(m)) => assert!(m.contains("unreachable"), "{m}"),
        _ => panic!("expected a trap"),
    }
    assert_eq!(ints(call_until(&mut i, "sp", &[], None)), [4096]);
}

#[test]
fn a_longjmp_without_invoke_fails_the_call_and_keeps_the_instance() {
    let mut i = instance();
    match call_until(&mut i, "jump", &[], None) {
        Step::Failed(Error::Trap(m)) => assert!(m.contains("longjmp"), "{m}"),
        _ => panic!("expected a failure"),
    }
    assert_eq!(
        ints(call_until(&mut i, "try_jump", &[Arg::Int(1)], None)),
        [1, 4096]
    );
}

#[test]
fn a_bad_table_index_fails_the_call() {
    let mut i = instance();
    match call_until(&mut i, "invoke", &[Arg::Int(0), Arg::Int(0)], None) {
        Step::Failed(Error::Trap(m)) => assert!(m.contains("table index 0"), "{m}"),
        _ => panic!("expected a failure"),
    }
}

#[test]
fn deadlines_and_stop_reach_inside_an_invoke_callee() {
    let mut i = instance();
    let deadline = Some(Instant::now() + Duration::from_millis(30));
    let step = call_until(&mut i, "invoke", &[Arg::Int(3), Arg::Int(0)], deadline);
    assert!(matches!(step, Step::Failed(Error::Timeout)));
    assert_eq!(
        ints(call_until(&mut i, "try_jump", &[Arg::Int(1)], None)),
        [1, 4096]
    );

    // A spinning callee yields its time slice like any call, and stop ends it.
    let callee = i.resolve(Target::Name("invoke")).unwrap();
    let step = i.call(&callee, vec![Val::I32(3), Val::I32(0)], Slice::Normal, None);
    assert!(matches!(step, Step::Yield));
    i.stop_handle().stop();
    let mut step = i.proceed(Slice::Normal);
    while let Step::Yield = step {
        step = i.proceed(Slice::Normal);
    }
    assert!(matches!(step, Step::Failed(Error::Stopped)));
}
