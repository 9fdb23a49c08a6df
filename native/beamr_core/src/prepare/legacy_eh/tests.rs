//! The translation run for real: each construct of `test/fixtures/legacy_eh.wat`
//! (expected values derived by hand in that file's comments) translated, validated,
//! compiled by wasmtime and called through an [`Instance`].

use super::{prepare, translate, uses_legacy_eh};
use crate::proposals::widest_features as engine_features;
use crate::{compile, Arg, Error, Instance, Slice, Step, Target};
use std::borrow::Cow;
use wasmparser::Validator;

const FIXTURE: &str = include_str!("../../../../../test/fixtures/legacy_eh.wat");

fn fixture() -> Instance {
    Instance::new(compile(FIXTURE.as_bytes()).unwrap(), None).unwrap()
}

fn call(i: &mut Instance, name: &str, args: &[i64]) -> Result<i32, Error> {
    let callee = i.resolve(Target::Name(name))?;
    let args: Vec<Arg> = args.iter().map(|a| Arg::Int((*a).into())).collect();
    let vals = crate::value::to_vals(&args, callee.params.iter().cloned()).expect("argument types");
    let mut step = i.call(&callee, vals, Slice::Dirty, None);
    while let Step::Yield = step {
        step = i.proceed(Slice::Dirty);
    }
    match step {
        Step::Done(v) => Ok(v[0].unwrap_i32()),
        Step::Failed(e) => Err(e),
        Step::Import { index, .. } => panic!("unexpected import {index}"),
        Step::Yield => unreachable!(),
    }
}

fn check(name: &str, cases: &[(&[i64], i32)]) {
    let mut i = fixture();
    for (args, expected) in cases {
        assert_eq!(call(&mut i, name, args), Ok(*expected), "{name}{args:?}");
    }
}

#[test]
fn fixture_needs_translation_and_translates_to_a_valid_module() {
    let wasm = wat::parse_str(FIXTURE).unwrap();
    assert!(uses_legacy_eh(&wasm));
    let out = translate(&wasm).unwrap();
    assert!(!uses_legacy_eh(&out));
    Validator::new_with_features(engine_features())
        .validate_all(&out)
        .unwrap();
    // wasmtime itself refuses the original.
    assert!(wasmtime::Module::new(crate::engine::engine(), &wasm).is_err());
}

#[test]
fn catch_with_payload_from_two_frames_down() {
    check("catch_payload", &[(&[0], 7), (&[5], 105), (&[-100], 0)]);
}

#[test]
fn several_clauses_and_catch_all() {
    check(
        "clauses",
        &[(&[0], 10), (&[1], 61), (&[2], 37), (&[3], 99), (&[4], 50)],
    );
}

#[test]
fn rethrow_from_a_nested_catch_reaches_the_outer_try() {
    check("rethrow_outer", &[(&[0], 0), (&[9], 1009)]);
}

#[test]
fn rethrow_from_catch_all_through_a_block() {
    check("rethrow_all", &[(&[1], 41), (&[0], -2), (&[3], 0)]);
}

#[test]
fn delegate_to_an_outer_try() {
    check("delegate_outer", &[(&[0], 1), (&[5], 305)]);
}

#[test]
fn delegate_to_the_caller_is_caught_by_the_callers_try() {
    check("delegate_caller", &[(&[0], 1), (&[6], 406)]);
}

#[test]
fn delegate_to_a_block_and_to_a_rethrowing_try() {
    check("delegate_block", &[(&[0], 0), (&[2], 502)]);
    check("delegate_rethrow", &[(&[0], 1), (&[4], 704)]);
    check("delegate_chain", &[(&[0], 1), (&[8], 808)]);
}

#[test]
fn try_with_block_parameters_and_two_results() {
    check(
        "params",
        &[
            (&[7, 3], 1010),
            (&[7, 1], 2041),
            (&[7, 2], 3043),
            (&[7, 0], 4000),
        ],
    );
}

#[test]
fn branches_out_of_bodies_and_handlers() {
    check(
        "br_out",
        &[(&[1], 41), (&[3], 77), (&[0], 1006), (&[2], 6), (&[4], 6)],
    );
    check("loop_try", &[(&[6], 12), (&[0], 0), (&[1], 1)]);
    check("mixed", &[(&[0], 0), (&[5], 905)]);
}

#[test]
fn uncaught_exceptions_are_clear_errors_and_the_instance_survives() {
    let mut i = fixture();
    for name in ["uncaught", "delegate_uncaught"] {
        match call(&mut i, name, &[3]) {
            Err(Error::Trap(m)) => assert!(m.contains("exception"), "{name}: {m}"),
            other => panic!("{name}: expected an uncaught exception, got {other:?}"),
        }
    }
    assert_eq!(call(&mut i, "uncaught", &[0]), Ok(0));
    assert_eq!(call(&mut i, "delegate_uncaught", &[0]), Ok(1));
}

#[test]
fn modules_without_legacy_eh_are_returned_untouched() {
    let wasm = wat::parse_str(
        r#"(module (tag $t (param i32))
             (func (export "f") (result i32)
               block $h (result i32)
                 try_table (catch $t $h) i32.const 1 throw $t end
                 i32.const 0
               end))"#,
    )
    .unwrap();
    assert!(matches!(prepare(&wasm).unwrap(), Cow::Borrowed(b) if b == wasm.as_slice()));
}

#[test]
fn malformed_input_is_a_compile_error() {
    // A legacy module whose `rethrow` names a plain block: invalid, caught up front.
    let wasm = wat::parse_str(r#"(module (tag $t) (func try block rethrow 0 end catch $t end))"#);
    if let Ok(wasm) = wasm {
        match translate(&wasm) {
            Err(Error::Compile(m)) => assert!(m.contains("legacy exception"), "{m}"),
            other => panic!("expected a compile error, got {other:?}"),
        }
    }
    match prepare(b"(module (func try") {
        Err(Error::Compile(_)) => {}
        other => panic!("expected a compile error, got {other:?}"),
    }
}

#[test]
fn the_cache_key_is_the_hash_of_the_original_bytes() {
    use sha2::{Digest, Sha256};
    let wasm = wat::parse_str(FIXTURE).unwrap();
    for original in [FIXTURE.as_bytes(), wasm.as_slice()] {
        let module = compile(original).unwrap();
        let expected: [u8; 32] = Sha256::digest(original).into();
        assert_eq!(module.hash(), &expected);
        // A second compile of the same bytes is the cached one.
        assert!(std::sync::Arc::ptr_eq(&module, &compile(original).unwrap()));
    }
}
