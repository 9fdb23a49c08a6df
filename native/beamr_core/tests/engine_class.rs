//! The memory layout of a module's engine is picked from the module at load: a
//! memory64 module whose declared maximum fits the small reservation runs on an engine
//! of its own, every other module on the standard one; code compiled for one layout is
//! never run on the other; and bounds checks hold on the small layout.

mod common;

use beamr_core::disk_cache::{load_artifact, precompile};
use beamr_core::engine::{choose, config_for, Layout, SMALL64_RESERVATION};
use beamr_core::module::{cached_quick_for, compile_exactly, content_hash};
use beamr_core::{compile, Arg, Error, Instance, Link, Step, Val, Variant};
use common::{call, done};

/// The one i32 or i64 result of a finished call.
fn int(step: Step) -> i64 {
    match done(step)[..] {
        [Val::I32(n)] => n.into(),
        [Val::I64(n)] => n,
        ref other => panic!("{other:?}"),
    }
}

fn wasm(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap()
}

/// A memory64 module of 1 page, maximum 2, with loads, stores and growth.
const SMALL64: &str = r#"(module (memory (export "memory") i64 1 2)
    (func (export "load") (param i64) (result i32) local.get 0 i32.load)
    (func (export "store") (param i64 i32) local.get 0 local.get 1 i32.store)
    (func (export "grow") (param i64) (result i64) local.get 0 memory.grow))"#;

#[test]
fn the_layout_follows_the_module() {
    let small = |t: &str| choose(&wasm(t), Variant::DEFAULT).layout;
    assert_eq!(small(SMALL64), Layout::Small64);
    assert_eq!(small("(module (memory i64 192 32768))"), Layout::Small64);
    assert_eq!(
        small("(module (import \"m\" \"mem\" (memory i64 1 8)))"),
        Layout::Small64
    );
    // Past the reservation, no maximum, 32-bit, or no memory at all: standard.
    assert_eq!(small("(module (memory i64 1 32769))"), Layout::Standard);
    assert_eq!(small("(module (memory i64 1))"), Layout::Standard);
    assert_eq!(small("(module (memory 1 2))"), Layout::Standard);
    assert_eq!(small("(module (func))"), Layout::Standard);
    assert_eq!(
        small("(module (import \"m\" \"mem\" (memory 1 2)) (memory i64 1 2))"),
        Layout::Standard
    );
    // WAT text and junk are never given the small layout.
    assert_eq!(
        choose(SMALL64.as_bytes(), Variant::DEFAULT).layout,
        Layout::Standard
    );
    assert_eq!(
        choose(b"\0asm\x01\0\0\0\x05\xff", Variant::DEFAULT).layout,
        Layout::Standard
    );
    // The options' part of the variant is kept.
    let chosen = choose(&wasm(SMALL64), Variant::DETERMINISTIC);
    assert!(chosen.deterministic);
    assert_eq!(chosen.requested(), Variant::DETERMINISTIC);
    assert_eq!(SMALL64_RESERVATION, 32768 << 16);
}

#[test]
fn compiled_for_the_small_layout_and_bounds_checked() {
    let module = compile(&wasm(SMALL64)).unwrap();
    assert_eq!(module.variant().layout, Layout::Small64);
    let standard = compile(&wasm(&SMALL64.replace("i64 1 2", "i64 1"))).unwrap();
    assert_eq!(standard.variant().layout, Layout::Standard);
    let mut i = Instance::new(module, None).unwrap();
    let load = |i: &mut Instance, at: i128| call(i, "load", &[Arg::Int(at)]);
    done(call(&mut i, "store", &[Arg::Int(65532), Arg::Int(7)]));
    assert_eq!(int(load(&mut i, 65532)), 7);
    for at in [65533, 65536, 1 << 31, (1 << 31) - 4, -1] {
        assert!(matches!(load(&mut i, at), Step::Failed(_)), "load at {at}");
    }
    assert_eq!(int(call(&mut i, "grow", &[Arg::Int(1)])), 1);
    done(call(&mut i, "store", &[Arg::Int(131068), Arg::Int(9)]));
    assert_eq!(int(load(&mut i, 131068)), 9);
    assert!(matches!(load(&mut i, 131069), Step::Failed(_)));
    // The declared maximum still holds.
    assert_eq!(int(call(&mut i, "grow", &[Arg::Int(1)])), -1);
}

#[test]
fn the_two_layouts_configure_different_reservations() {
    let small = Variant {
        layout: Layout::Small64,
        ..Variant::DEFAULT
    };
    let standard = wasmtime::Engine::new(&config_for(Variant::DEFAULT)).unwrap();
    let reserved = wasmtime::Engine::new(&config_for(small)).unwrap();
    // wasmtime refuses code compiled with other tunables, the reservation included.
    let code = reserved.precompile_module(&wasm(SMALL64)).unwrap();
    // SAFETY: the bytes are wasmtime's own output from this process.
    assert!(unsafe { wasmtime::Module::deserialize(&standard, &code) }.is_err());
    assert!(unsafe { wasmtime::Module::deserialize(&reserved, &code) }.is_ok());
}

#[test]
fn an_artifact_of_one_layout_is_not_loaded_as_the_other() {
    let artifact = precompile(&wasm(SMALL64), Variant::DEFAULT).unwrap();
    let loaded = load_artifact(&artifact).unwrap();
    assert_eq!(loaded.variant().layout, Layout::Small64);
    // The header's variant byte, with the layout bit flipped.
    let mut relabelled = artifact.clone();
    relabelled[12] ^= Variant {
        layout: Layout::Small64,
        ..Variant::DEFAULT
    }
    .tag();
    assert!(matches!(load_artifact(&relabelled), Err(Error::Aot(_))));
}

#[test]
fn links_run_on_the_engine_of_the_module_they_serve() {
    let main = wasm(
        r#"(module (import "lib" "f" (func $f (result i32)))
        (memory 1) (func (export "g") (result i32) call $f))"#,
    );
    let lib = wasm(r#"(module (memory i64 1 1) (func (export "f") (result i32) i32.const 5))"#);
    let main = compile(&main).unwrap();
    assert_eq!(main.variant().layout, Layout::Standard);
    let on_its_own = compile(&lib).unwrap();
    assert_eq!(on_its_own.variant().layout, Layout::Small64);
    let link = |module| {
        vec![Link {
            name: "lib".into(),
            module,
        }]
    };
    assert!(Instance::new_linked(main.clone(), &link(on_its_own), None).is_err());
    let same = compile_exactly(&lib, content_hash(&lib), main.variant()).unwrap();
    let mut i = Instance::new_linked(main, &link(same), None).unwrap();
    assert_eq!(int(call(&mut i, "g", &[])), 5);
}

#[test]
fn quick_starts_find_either_layout() {
    for (text, layout) in [
        (
            r#"(module (memory i64 1 3) (func (export "f")))"#,
            Layout::Small64,
        ),
        (
            r#"(module (memory 1 3) (func (export "f")))"#,
            Layout::Standard,
        ),
    ] {
        let bytes = wasm(text);
        let hash = content_hash(&bytes);
        drop(Instance::new(compile(&bytes).unwrap(), None).unwrap());
        let found = cached_quick_for(&hash, Variant::DEFAULT).unwrap();
        assert_eq!(found.variant().layout, layout);
        assert!(cached_quick_for(&hash, Variant::DETERMINISTIC).is_none());
    }
}
