//! The wider API from Rust: exported items between calls and inside an import, links
//! between a memory64 and a wasm32 module, and deleting a cached module in use.

use beamr_core::module::forget;
mod common;

use beamr_core::{compile, Arg, Error, Instance, Link, Slice, Step, TableEntry, Target, Val};
use common::{call, done, resume, settle};

const ITEMS: &str = r#"(module
  (import "env" "poke" (func $poke (param i32) (result i32)))
  (memory (export "memory") 1 3)
  (global $g (export "g") (mut i64) (i64.const 10))
  (global (export "c") i32 (i32.const 1))
  (table (export "t") 2 funcref)
  (elem (i32.const 1) $id)
  (func $id (param i32) (result i32) local.get 0)
  (func (export "run") (param i32) (result i32) local.get 0 call $poke)
  (func (export "get_g") (result i64) global.get $g))"#;

#[test]
fn globals_tables_and_growth_between_calls() {
    let mut i = Instance::new(compile(ITEMS.as_bytes()).unwrap(), None).unwrap();
    assert_eq!(i.global_get("g").unwrap().unwrap_i64(), 10);
    i.global_set("g", Val::I64(-5)).unwrap();
    assert_eq!(done(call(&mut i, "get_g", &[]))[0].unwrap_i64(), -5);
    assert_eq!(
        i.global_set("c", Val::I32(2)),
        Err(Error::ImmutableGlobal("c".into()))
    );
    assert!(matches!(
        i.global_set("g", Val::I32(2)),
        Err(Error::InvalidValue(_))
    ));
    assert!(matches!(
        i.global_get("t"),
        Err(Error::WrongKind {
            expected: "global",
            ..
        })
    ));
    assert_eq!(i.table_size("t").unwrap(), 2);
    assert_eq!(i.table_get("t", 0).unwrap(), TableEntry::Null);
    assert!(matches!(
        i.table_get("t", 1).unwrap(),
        TableEntry::Func { index: Some(1), signature, .. } if signature == "(i)i"
    ));
    assert_eq!(i.table_get("t", 2), Err(Error::BadTableIndex(2)));
    assert_eq!(i.memory_grow(2).unwrap(), 1);
    assert_eq!(
        i.memory_grow(1),
        Err(Error::CannotGrow { delta: 1, pages: 3 })
    );
    assert_eq!(i.memory_pages().unwrap(), 3);
}

#[test]
fn items_inside_an_import_see_the_live_store() {
    let mut i = Instance::new(compile(ITEMS.as_bytes()).unwrap(), None).unwrap();
    let callee = i.resolve(Target::Name("run")).unwrap();
    let step = i.call(&callee, vec![Val::I32(3)], Slice::Normal, None);
    let step = settle(&mut i, step);
    assert!(matches!(step, Step::Import { index: 0, .. }));
    i.global_set("g", Val::I64(99)).unwrap();
    assert_eq!(i.memory_grow(1).unwrap(), 1);
    let get_g = i.resolve(Target::Name("get_g")).unwrap();
    assert_eq!(
        done({
            let s = i.call(&get_g, vec![], Slice::Normal, None);
            settle(&mut i, s)
        })[0]
            .unwrap_i64(),
        99
    );
    assert_eq!(
        done({
            let s = i.resume(vec![Val::I32(4)], Slice::Normal);
            settle(&mut i, s)
        })[0]
            .unwrap_i32(),
        4
    );
    assert_eq!(i.global_get("g").unwrap().unwrap_i64(), 99);
    assert_eq!(i.memory_pages().unwrap(), 2);
}

const PROVIDER64: &str = r#"(module
  (import "env" "log" (func $log (param i64) (result i64)))
  (memory (export "mem") i64 1)
  (global (export "count") (mut i32) (i32.const 0))
  (func (export "put") (param i64 i64) local.get 0 local.get 1 i64.store)
  (func (export "get") (param i64) (result i64) local.get 0 i64.load)
  (func (export "log") (param i64) (result i64) local.get 0 call $log))"#;

const CONSUMER32: &str = r#"(module
  (import "p" "put" (func $put (param i64 i64)))
  (import "p" "get" (func $get (param i64) (result i64)))
  (import "p" "log" (func $log (param i64) (result i64)))
  (import "p" "count" (global $count (mut i32)))
  (import "env" "own" (func $own (result i32)))
  (memory (export "memory") 1)
  (func (export "roundtrip") (param i64 i64) (result i64)
    local.get 0 local.get 1 call $put
    global.get $count i32.const 1 i32.add global.set $count
    local.get 0 call $get)
  (func (export "count") (result i32) global.get $count)
  (func (export "log") (param i64) (result i64) local.get 0 call $log)
  (func (export "own") (result i32) call $own))"#;

#[test]
fn a_wasm32_module_linked_to_a_memory64_one() {
    let links = [Link {
        name: "p".into(),
        module: compile(PROVIDER64.as_bytes()).unwrap(),
    }];
    let consumer = compile(CONSUMER32.as_bytes()).unwrap();
    let mut i = Instance::new_linked(consumer.clone(), &links, None).unwrap();
    let big = 1i128 << 50;
    let out = done(call(&mut i, "roundtrip", &[Arg::Int(8), Arg::Int(big)]));
    assert_eq!(out[0].unwrap_i64() as i128, big);
    assert_eq!(done(call(&mut i, "count", &[]))[0].unwrap_i32(), 1);
    // The consumer's own import keeps its index; the provider's comes after the
    // consumer's five.
    match call(&mut i, "own", &[]) {
        Step::Import { index, .. } => {
            assert_eq!(index, 4);
            assert_eq!(i.import_desc(index).name, "own");
        }
        _ => panic!("expected the consumer's own import"),
    }
    done(resume(&mut i, vec![Val::I32(1)]));
    match call(&mut i, "log", &[Arg::Int(3)]) {
        Step::Import { index, args } => {
            assert_eq!(index, 5);
            let import = i.import_desc(index);
            assert_eq!(
                (import.module.as_str(), import.name.as_str()),
                ("env", "log")
            );
            assert_eq!(args[0].unwrap_i64(), 3);
        }
        _ => panic!("expected the provider's import"),
    }
    assert_eq!(done(resume(&mut i, vec![Val::I64(30)]))[0].unwrap_i64(), 30);
    // A second instance gets its own copy of the provider.
    let mut j = Instance::new_linked(consumer, &links, None).unwrap();
    assert_eq!(done(call(&mut j, "count", &[]))[0].unwrap_i32(), 0);
}

#[test]
fn a_forgotten_module_lives_on_in_its_instances() {
    let wat = r#"(module (func (export "forget_me") (result i32) i32.const 3))"#;
    let module = compile(wat.as_bytes()).unwrap();
    let mut i = Instance::new(module.clone(), None).unwrap();
    assert!(forget(module.hash()));
    assert!(!forget(module.hash()));
    drop(module);
    assert_eq!(done(call(&mut i, "forget_me", &[]))[0].unwrap_i32(), 3);
}
