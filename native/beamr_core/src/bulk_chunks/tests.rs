//! The rewrite run for real: fills and copies of every size around the chunk edges,
//! overlapping both ways, out of bounds, in 32- and 64-bit memories, compared with a
//! model in Rust; the interruption it exists for; and modules it must leave alone.

use super::{bound, uses_bulk_memory, CHUNK};
use crate::{compile, Arg, Error, Instance, Slice, Step, Target};
use std::borrow::Cow;

/// Memory of 8 MiB (128 pages), growable, with `fill` and `copy` over it.
fn module(index: &str) -> String {
    let a = index;
    format!(
        r#"(module
  (memory (export "memory") {a} 128 65536)
  (func (export "fill") (param {a} i32 {a}) local.get 0 local.get 1 local.get 2 memory.fill)
  (func (export "copy") (param {a} {a} {a}) local.get 0 local.get 1 local.get 2 memory.copy)
  (func (export "grow") (param {a}) (result {a}) local.get 0 memory.grow))"#
    )
}

fn start(index: &str) -> Instance {
    Instance::new(compile(module(index).as_bytes()).unwrap(), None).unwrap()
}

fn call(i: &mut Instance, name: &str, args: &[u64]) -> Result<(), Error> {
    let callee = i.resolve(Target::Name(name))?;
    let args: Vec<Arg> = args.iter().map(|a| Arg::Int((*a).into())).collect();
    let vals = crate::value::to_vals(&args, callee.params.iter().cloned()).expect("argument types");
    let mut step = i.call(&callee, vals, Slice::Dirty, None);
    while let Step::Yield = step {
        step = i.proceed(Slice::Dirty);
    }
    match step {
        Step::Done(_) => Ok(()),
        Step::Failed(e) => Err(e),
        other => panic!("unexpected step {}", kind(&other)),
    }
}

fn kind(step: &Step) -> String {
    match step {
        Step::Done(_) => "done".into(),
        Step::Failed(e) => format!("failed: {e:?}"),
        Step::Yield => "yield".into(),
        Step::Import { index, .. } => format!("import {index}"),
    }
}

fn memory(i: &mut Instance) -> Vec<u8> {
    let len = i.memory_size().unwrap();
    i.read(0, len, |b| b.to_vec()).unwrap()
}

/// Memory filled with a pattern no two nearby chunks share.
fn patterned(index: &str) -> (Instance, Vec<u8>) {
    let mut i = start(index);
    let model: Vec<u8> = (0..8u64 << 20).map(|n| (n * 7 + n / 4093) as u8).collect();
    i.write(0, &model).unwrap();
    (i, model)
}

const SIZES: [u64; 8] = [
    0,
    1,
    CHUNK - 1,
    CHUNK,
    CHUNK + 1,
    2 * CHUNK,
    2 * CHUNK + 5,
    3 * CHUNK,
];

#[test]
fn the_test_module_has_bulk_memory_and_is_rewritten() {
    let wasm = wat::parse_str(module("i32")).unwrap();
    assert!(uses_bulk_memory(&wasm));
    let out = bound(&wasm).unwrap();
    assert!(matches!(out, Cow::Owned(_)));
    assert!(!uses_bulk_memory_outside_helpers(&out));
}

/// Only the two helpers (the last two functions) keep bulk instructions.
fn uses_bulk_memory_outside_helpers(wasm: &[u8]) -> bool {
    let bodies: Vec<_> = wasmparser::Parser::new(0)
        .parse_all(wasm)
        .filter_map(|p| match p.unwrap() {
            wasmparser::Payload::CodeSectionEntry(b) => Some(b),
            _ => None,
        })
        .collect();
    bodies[..bodies.len() - 2]
        .iter()
        .any(super::body_uses_bulk_memory)
}

#[test]
fn modules_without_bulk_memory_pass_through_untouched() {
    let wasm =
        wat::parse_str(r#"(module (memory 1) (func (export "f") (result i32) i32.const 1))"#)
            .unwrap();
    assert!(matches!(bound(&wasm).unwrap(), Cow::Borrowed(b) if b == wasm.as_slice()));
    // Invalid bytes are left for wasmtime to report.
    let junk = b"\0asm\x01\0\0\0\x0a\x05\x01\x03\0\xfc\x0b";
    assert!(matches!(bound(junk).unwrap(), Cow::Borrowed(_)));
}

#[test]
fn fills_of_every_size_match_the_instruction() {
    for index in ["i32", "i64"] {
        let (mut i, mut model) = patterned(index);
        for (n, len) in SIZES.iter().enumerate() {
            let dst = 1000 + n as u64 * 37;
            call(&mut i, "fill", &[dst, 0xa0 + n as u64, *len]).unwrap();
            model[dst as usize..(dst + len) as usize].fill(0xa0 + n as u8);
            assert!(memory(&mut i) == model, "{index} fill of {len}");
        }
    }
}

#[test]
fn copies_forward_backward_and_apart_match_memmove() {
    for index in ["i32", "i64"] {
        let (mut i, mut model) = patterned(index);
        for len in SIZES {
            for (dst, src) in [
                (100, 5000),
                (5000, 100),
                (4 << 20, 7),
                (7, 4 << 20),
                (64, 64),
            ] {
                call(&mut i, "copy", &[dst, src, len]).unwrap();
                let (d, s, l) = (dst as usize, src as usize, len as usize);
                model.copy_within(s..s + l, d);
                assert!(
                    memory(&mut i) == model,
                    "{index} copy {dst} <- {src}, {len}"
                );
            }
        }
    }
}

#[test]
fn out_of_bounds_traps_before_writing_anything() {
    for index in ["i32", "i64"] {
        let (mut i, model) = patterned(index);
        let size = 8u64 << 20;
        let cases: [(&str, [u64; 3]); 6] = [
            ("fill", [size - CHUNK, 1, 2 * CHUNK]),
            ("fill", [0, 1, size + 1]),
            ("fill", [u32::MAX as u64, 1, 3 * CHUNK]),
            ("copy", [size - CHUNK, 0, 2 * CHUNK]),
            ("copy", [0, size - CHUNK, 2 * CHUNK]),
            ("copy", [0, 0, size + CHUNK]),
        ];
        for (name, args) in cases {
            match call(&mut i, name, &args) {
                Err(Error::Trap(m)) => assert!(m.contains("out of bounds"), "{m}"),
                other => panic!("{index} {name}{args:?}: {other:?}"),
            }
            assert!(memory(&mut i) == model, "{index} {name}{args:?} wrote");
        }
    }
}

#[test]
fn a_huge_fill_yields_its_time_slice_and_finishes() {
    let mut i = start("i32");
    call(&mut i, "grow", &[4096 - 128]).unwrap();
    let callee = i.resolve(Target::Name("fill")).unwrap();
    let len = (256u64 << 20) - 1;
    let vals = crate::value::to_vals(
        &[Arg::Int(0), Arg::Int(9), Arg::Int(len.into())],
        callee.params.iter().cloned(),
    )
    .unwrap();
    // 256 MB takes far longer than a slice: a normal-scheduler poll must give up.
    let mut step = i.call(&callee, vals, Slice::Normal, None);
    assert!(matches!(step, Step::Yield), "{}", kind(&step));
    while let Step::Yield = step {
        step = i.proceed(Slice::Dirty);
    }
    assert!(matches!(step, Step::Done(_)), "{}", kind(&step));
    let ends = i
        .read(0, 1, |b| b[0])
        .and_then(|a| i.read(len - 1, 2, |b| (a, b[0], b[1])));
    assert_eq!(ends.unwrap(), (9, 9, 0));
}
