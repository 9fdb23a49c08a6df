//! Optional proposals are off on the default engine and on only where a start or
//! compile option asks: a module using one fails to compile with an error that names
//! the option, and runs once it is given.

mod common;

use beamr_core::engine::Variant;
use beamr_core::module::compile_for;
use beamr_core::proposals::Optional;
use beamr_core::{compile, Error, Instance, Options, Val};
use common::{call, done};

const GC: &str = r#"(module (type $p (struct (field i32)))
    (func (export "seven") (result i32) (struct.new $p (i32.const 7)) struct.get $p 0))"#;
const RELAXED: &str = r#"(module (func (export "lane") (result i32)
    (i32x4.extract_lane 0 (i32x4.relaxed_trunc_f32x4_s (f32x4.splat (f32.const 3.5))))))"#;

fn refused_naming(wat: &str, option: &str) {
    match compile(wat.as_bytes()) {
        Err(Error::Compile(message)) => assert!(
            message.contains(&format!("proposals => [{option}]")),
            "{message}"
        ),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("the default engine compiled a module that needs {option}"),
    }
}

fn runs_with(wat: &str, option: &str, export: &str, expected: i32) {
    let variant = Variant {
        deterministic: false,
        optional: Optional::from_names([option]).unwrap(),
        ..Variant::DEFAULT
    };
    let module = compile_for(wat.as_bytes(), variant).unwrap();
    let options = Options {
        optional: variant.optional,
        ..Options::default()
    };
    let mut instance = Instance::with_options(module, None, &options).unwrap();
    match done(call(&mut instance, export, &[]))[..] {
        [Val::I32(n)] => assert_eq!(n, expected),
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn gc_is_off_by_default_and_on_by_option() {
    refused_naming(GC, "gc");
    runs_with(GC, "gc", "seven", 7);
}

#[test]
fn relaxed_simd_is_off_by_default_and_on_by_option() {
    refused_naming(RELAXED, "relaxed_simd");
    runs_with(RELAXED, "relaxed_simd", "lane", 3);
}

#[test]
fn a_module_compiled_for_one_engine_does_not_start_on_another() {
    let variant = Variant {
        deterministic: false,
        optional: Optional::from_names(["gc"]).unwrap(),
        ..Variant::DEFAULT
    };
    let module = compile_for(GC.as_bytes(), variant).unwrap();
    assert!(Instance::with_options(module, None, &Options::default()).is_err());
}
