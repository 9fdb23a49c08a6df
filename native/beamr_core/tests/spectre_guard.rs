//! The Spectre guard on heap accesses is on by default, and the node's opt-out gives
//! modules compiled after it an engine without it. Its own test binary: the setting is
//! process-wide.

mod common;

use beamr_core::engine::{choose, config_for, set_spectre_guard, spectre_guard};
use beamr_core::{compile, Arg, Instance, Step, Val, Variant};
use common::{call, done};
use std::hash::{DefaultHasher, Hash, Hasher};

const WAT: &str = r#"(module (memory i64 1 1)
    (func (export "load") (param i64) (result i32) local.get 0 i32.load))"#;

fn compatibility(variant: Variant) -> u64 {
    let engine = wasmtime::Engine::new(&config_for(variant)).unwrap();
    let mut h = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    h.finish()
}

#[test]
fn on_by_default_and_off_only_by_the_node_option() {
    let wasm = wat::parse_str(WAT).unwrap();
    assert!(spectre_guard());
    let guarded = compile(&wasm).unwrap();
    assert!(guarded.variant().spectre_guard);

    set_spectre_guard(false);
    let off = choose(&wasm, Variant::DEFAULT);
    assert!(!off.spectre_guard);
    assert_eq!(off.requested(), Variant::DEFAULT);
    // The option flips the engine's code generation, so its code is another engine's.
    assert_ne!(
        compatibility(off),
        compatibility(Variant {
            spectre_guard: true,
            ..off
        })
    );
    let unguarded = compile(&wasm).unwrap();
    assert!(!unguarded.variant().spectre_guard);
    assert!(!std::sync::Arc::ptr_eq(&guarded, &unguarded));
    // Bounds checks stay.
    let mut i = Instance::new(unguarded, None).unwrap();
    assert!(matches!(
        done(call(&mut i, "load", &[Arg::Int(0)]))[..],
        [Val::I32(0)]
    ));
    assert!(matches!(
        call(&mut i, "load", &[Arg::Int(65533)]),
        Step::Failed(_)
    ));
    // Modules compiled before keep their engine.
    assert!(guarded.variant().spectre_guard);

    set_spectre_guard(true);
    assert!(compile(&wasm).unwrap().variant().spectre_guard);
}
