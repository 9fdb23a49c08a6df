//! Typed and dynamic import host functions against each other: for every signature in
//! the typed table, a module whose export passes its arguments straight to the import
//! and returns the import's results, instantiated once with each binding. Arguments
//! must reach the driver and results must reach wasm bit for bit (i64 extremes, NaN
//! payloads, signalling NaNs, negative zero), and wrong answers must fail alike.

use super::{Binding, TYPED_SIGNATURES};
use crate::engine::{engine_for, Variant};
use crate::module::describe_with;
use crate::{Error, Instance, Slice, Step, Target, Val};
use std::sync::Arc;

const I32S: &[i32] = &[0, 1, -1, i32::MIN, i32::MAX, 0x1234_5678];
const I64S: &[i64] = &[0, -1, i64::MIN, i64::MAX, 0x0123_4567_89ab_cdef, 1 << 32];
const F32S: &[u32] = &[
    0x7fc0_0001, // quiet NaN with a payload
    0xffc0_0000, // negative quiet NaN
    0x7f80_0001, // signalling NaN
    0x8000_0000, // -0.0
    0x7f80_0000, // infinity
    0x3fc0_0000, // 1.5
];
const F64S: &[u64] = &[
    0x7ff8_0000_0000_0001,
    0xfff8_0000_0000_0000,
    0x7ff0_0000_0000_0001,
    0x8000_0000_0000_0000,
    0x7fef_ffff_ffff_ffff, // f64::MAX
    0x3ff8_0000_0000_0000,
];

/// The value types of one side of a HyperBEAM signature, `"(iI)F"` -> params `iI`.
fn types(signature: &str) -> (&str, &str) {
    let (params, results) = signature.split_once(')').expect("signature");
    (&params[1..], results)
}

fn wat_type(c: char) -> &'static str {
    match c {
        'i' => "i32",
        'I' => "i64",
        'f' => "f32",
        'F' => "f64",
        _ => panic!("type {c}"),
    }
}

/// The `k`-th test value of type `c`.
fn value(c: char, k: usize) -> Val {
    match c {
        'i' => Val::I32(I32S[k % I32S.len()]),
        'I' => Val::I64(I64S[k % I64S.len()]),
        'f' => Val::F32(F32S[k % F32S.len()]),
        'F' => Val::F64(F64S[k % F64S.len()]),
        _ => panic!("type {c}"),
    }
}

/// A value of another type than `c`, for wrong answers.
fn wrong(c: char) -> Val {
    match c {
        'i' => Val::I64(7),
        _ => Val::I32(7),
    }
}

/// Bit-exact identity of two values (NaNs included).
fn bits(v: &Val) -> (char, u64) {
    match v {
        Val::I32(n) => ('i', *n as u32 as u64),
        Val::I64(n) => ('I', *n as u64),
        Val::F32(b) => ('f', *b as u64),
        Val::F64(b) => ('F', *b),
        other => panic!("unexpected value {other:?}"),
    }
}

fn same(a: &[Val], b: &[Val]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| bits(x) == bits(y))
}

/// An instance of the pass-through module for `signature`, its import bound as `binding`.
fn instance(signature: &str, binding: Binding) -> Instance {
    let (params, results) = types(signature);
    let decl = |kind: &str, cs: &str| {
        if cs.is_empty() {
            String::new()
        } else {
            let ts: Vec<&str> = cs.chars().map(wat_type).collect();
            format!("({kind} {})", ts.join(" "))
        }
    };
    let (p, r) = (decl("param", params), decl("result", results));
    let gets: String = (0..params.len())
        .map(|i| format!("local.get {i} "))
        .collect();
    let wat = format!(
        r#"(module
             (import "env" "f" (func $f {p} {r}))
             (func (export "go") {p} {r} {gets} call $f))"#
    );
    let engine = engine_for(Variant::DEFAULT);
    let module = wasmtime::Module::new(engine, &wat).expect(&wat);
    let compiled = describe_with(
        module,
        [0; 32],
        Variant::DEFAULT,
        crate::initial_tables::InitialTables::unknown(),
        binding,
    )
    .unwrap();
    assert_eq!(compiled.imports()[0].signature, signature);
    Instance::new(Arc::new(compiled), None).unwrap()
}

fn settle(i: &mut Instance, mut step: Step) -> Step {
    while let Step::Yield = step {
        step = i.proceed(Slice::Dirty);
    }
    step
}

/// Calls `go` with `args` and expects to be parked in the import with exactly them.
fn park(i: &mut Instance, args: &[Val]) {
    let go = i.resolve(Target::Name("go")).unwrap();
    let step = i.call(&go, args.to_vec(), Slice::Dirty, None);
    match settle(i, step) {
        Step::Import {
            index: 0,
            args: got,
        } => {
            assert!(same(&got, args), "args {got:?} != {args:?}");
        }
        _ => panic!("expected the import"),
    }
}

/// Answers the parked import with `results` and returns how the call ended.
fn answer(i: &mut Instance, results: Vec<Val>) -> Result<Vec<Val>, Error> {
    let step = i.resume(results, Slice::Dirty);
    match settle(i, step) {
        Step::Done(out) => Ok(out),
        Step::Failed(e) => Err(e),
        _ => panic!("expected the call to end"),
    }
}

#[test]
fn every_typed_signature_round_trips_exactly_on_both_bindings() {
    for signature in TYPED_SIGNATURES {
        let (params, results) = types(signature);
        for binding in [Binding::Typed, Binding::Dynamic] {
            let mut i = instance(signature, binding);
            for round in 0..6 {
                let args: Vec<Val> = params
                    .chars()
                    .enumerate()
                    .map(|(k, c)| value(c, round + k))
                    .collect();
                let out: Vec<Val> = results
                    .chars()
                    .enumerate()
                    .map(|(k, c)| value(c, round + k + 1))
                    .collect();
                park(&mut i, &args);
                let got = answer(&mut i, out.clone())
                    .unwrap_or_else(|e| panic!("{signature} {binding:?}: {e}"));
                assert!(same(&got, &out), "{signature} {binding:?}: {got:?}");
            }
        }
    }
}

#[test]
fn wrong_answers_fail_alike_on_both_bindings() {
    for signature in TYPED_SIGNATURES {
        let (params, results) = types(signature);
        let args: Vec<Val> = params.chars().map(|c| value(c, 0)).collect();
        let mut answers: Vec<Vec<Val>> = vec![vec![Val::I32(1); results.len() + 1]];
        if let Some(c) = results.chars().next() {
            answers.push(vec![wrong(c)]);
        }
        for bad in answers {
            let failures: Vec<Error> = [Binding::Typed, Binding::Dynamic]
                .into_iter()
                .map(|binding| {
                    let mut i = instance(signature, binding);
                    park(&mut i, &args);
                    let failure = answer(&mut i, bad.clone()).expect_err(signature);
                    // The instance stays usable after a failed import.
                    park(&mut i, &args);
                    let out: Vec<Val> = results.chars().map(|c| value(c, 1)).collect();
                    assert!(same(&answer(&mut i, out.clone()).unwrap(), &out));
                    failure
                })
                .collect();
            assert_eq!(failures[0], failures[1], "{signature} answered {bad:?}");
        }
    }
}

#[test]
fn other_signatures_fall_back_to_the_dynamic_host_function() {
    // Multiple results and vectors are not in the typed table.
    for signature in ["(i)iI", "(IFf)fI", "(iiiiii)i"] {
        assert!(!TYPED_SIGNATURES.contains(&signature));
        let (params, results) = types(signature);
        let mut i = instance(signature, Binding::Typed);
        let args: Vec<Val> = params.chars().map(|c| value(c, 2)).collect();
        let out: Vec<Val> = results.chars().map(|c| value(c, 3)).collect();
        park(&mut i, &args);
        assert!(same(&answer(&mut i, out.clone()).unwrap(), &out));
    }
}
