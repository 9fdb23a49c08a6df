//! Generated modules start and run: compiled by beamr (load-time rewrites included),
//! started and every exported function called with generated arguments, on either
//! engine, bounded by a deadline (and fuel on the deterministic engine). Traps,
//! timeouts and running out of fuel are fine; a module that validates with beamr's
//! features must compile, a call must end in its declared result types or a runtime
//! error (never another kind of error, a panic or an abort), and the instance's
//! snapshot restores into a fresh instance exactly, or is refused as unsupported.

use super::{drive, smith};
use arbitrary::Unstructured;
use beamr_core::proposals::base_features as engine_features;
use beamr_core::{
    compile_for, Error, Instance, Kind, Options, SnapshotError, Target, Val, ValType,
};
use std::time::{Duration, Instant};
use wasmparser::Validator;

/// How long starting an instance or one call may run.
const BOUND: Duration = Duration::from_millis(100);
/// The fuel of one call on the deterministic engine.
const FUEL: u64 = 1_000_000;

pub fn check(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(deterministic) = u.arbitrary::<bool>() else {
        return;
    };
    let Ok(wasm) = smith::module(&mut u, 8) else {
        return;
    };
    if Validator::new_with_features(engine_features())
        .validate_all(&wasm)
        .is_err()
    {
        return;
    }
    let options = Options {
        max_memory: 64 << 20,
        max_table_elements: 10_000,
        deterministic,
        ..Options::default()
    };
    let module = match compile_for(&wasm, options.variant()) {
        Ok(m) => m,
        // Names under beamr's reserved prefix are refused, as documented.
        Err(Error::Compile(m)) if exports_reserved_name(&wasm) => {
            assert!(m.contains("reserved by beamr"), "refused with {m}");
            return;
        }
        // One name imported twice with two types cannot be linked to one definition.
        Err(Error::Instantiate(m)) if imports_a_name_twice(&wasm) => {
            assert!(m.contains("incompatible import type"), "refused with {m}");
            return;
        }
        Err(e) => panic!("a valid module was refused: {e}"),
    };
    assert!(
        !exports_reserved_name(&wasm),
        "a reserved export name was accepted"
    );
    let start = |deadline| Instance::with_options(module.clone(), Some(deadline), &options);
    let mut instance = match start(Instant::now() + BOUND) {
        Ok(i) => i,
        Err(e) => {
            assert!(
                matches!(
                    e,
                    Error::Instantiate(_)
                        | Error::ImportDuringStart { .. }
                        | Error::Trap(_)
                        | Error::Timeout
                        | Error::OutOfFuel
                ),
                "start failed with {e:?}"
            );
            return;
        }
    };
    for export in module.exports() {
        if export.kind != Kind::Func {
            continue;
        }
        let callee = instance
            .resolve(Target::Name(&export.name))
            .expect("an exported function resolves");
        let Some(args) = callee
            .params
            .iter()
            .map(|t| drive::arg(&mut u, t))
            .collect::<Option<Vec<Val>>>()
        else {
            continue;
        };
        if deterministic {
            instance.set_fuel_budget(Some(FUEL)).unwrap();
        }
        let deadline = Instant::now() + BOUND;
        match drive::call(&mut instance, &export.name, args, Some(deadline)) {
            Ok(results) => {
                let wasmtime::ExternType::Func(ty) = &export.ty else {
                    unreachable!("a function export")
                };
                let types: Vec<ValType> = ty.results().collect();
                assert_eq!(results.len(), types.len(), "{}: result count", export.name);
                for (v, t) in results.iter().zip(&types) {
                    assert!(fits(v, t), "{}: result {v:?} is no {t}", export.name);
                }
            }
            Err(e) => assert!(
                matches!(
                    e,
                    Error::Trap(_) | Error::Timeout | Error::OutOfFuel | Error::ImportAborted(_)
                ),
                "{}: failed with {e:?}",
                export.name
            ),
        }
    }
    snapshot_round_trip(&mut instance, || start(Instant::now() + BOUND).ok());
}

/// Whether the module exports a name under beamr's reserved prefix.
fn exports_reserved_name(wasm: &[u8]) -> bool {
    wasmparser::Parser::new(0).parse_all(wasm).any(|p| match p {
        Ok(wasmparser::Payload::ExportSection(r)) => r
            .into_iter()
            .any(|e| e.is_ok_and(|e| beamr_core::reserved_exports::is_reserved(e.name))),
        _ => false,
    })
}

/// Whether the module imports one (module, name) pair more than once.
fn imports_a_name_twice(wasm: &[u8]) -> bool {
    let mut seen = std::collections::HashSet::new();
    wasmparser::Parser::new(0).parse_all(wasm).any(|p| match p {
        Ok(wasmparser::Payload::ImportSection(r)) => r
            .into_imports()
            .any(|i| i.is_ok_and(|i| !seen.insert((i.module, i.name)))),
        _ => false,
    })
}

fn snapshot_round_trip(i: &mut Instance, fresh: impl FnOnce() -> Option<Instance>) {
    let snap = match i.serialize() {
        Ok(s) => s,
        Err(e) => {
            assert!(
                matches!(e, Error::Snapshot(SnapshotError::Unsupported(_))),
                "serialize failed with {e:?}"
            );
            return;
        }
    };
    // A start function that timed out this time is no finding.
    let Some(mut other) = fresh() else {
        return;
    };
    other
        .deserialize(&snap)
        .unwrap_or_else(|e| panic!("a snapshot of the same module was refused: {e:?}"));
    assert!(
        other.serialize().unwrap() == snap,
        "a restored snapshot serializes differently"
    );
}

/// A generated argument of type `t`; null for nullable references, `None` for the rest.
/// Whether a result is of its declared type (references by kind only).
fn fits(v: &Val, t: &ValType) -> bool {
    match (v, t) {
        (Val::I32(_), ValType::I32)
        | (Val::I64(_), ValType::I64)
        | (Val::F32(_), ValType::F32)
        | (Val::F64(_), ValType::F64)
        | (Val::V128(_), ValType::V128) => true,
        (v, ValType::Ref(r)) => v.ref_().is_some_and(|x| r.is_nullable() || !x.is_null()),
        _ => false,
    }
}
