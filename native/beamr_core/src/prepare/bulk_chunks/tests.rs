//! The rewrite run for real: fills and copies of every size around the chunk edges,
//! overlapping both ways, out of bounds, in 32- and 64-bit memories, compared with a
//! model in Rust; the interruption it exists for; and modules it must leave alone.
//! Then the edges of the spec (ends of memory, address overflow, the fill byte, two
//! memories, mixed address types, every index a module uses), each run as the
//! original and as the rewrite on a plain wasmtime engine, which must agree.

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

// Differential tests: the original module and its rewrite, each run on a plain wasmtime
// engine (no epochs, no fuel, none of beamr's host), must give the same results, trap
// the same way and leave every memory with the same bytes, call after call.

use std::sync::OnceLock;
use wasmtime::{Engine, Extern, Func, Linker, Memory, Store, Trap, Val, ValType};

/// A plain engine with the proposals beamr's engine enables.
fn plain_engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = wasmtime::Config::new();
        config
            .wasm_memory64(true)
            .wasm_multi_memory(true)
            .wasm_reference_types(true)
            .wasm_function_references(true)
            .wasm_gc(true)
            .wasm_exceptions(true)
            .wasm_tail_call(true);
        Engine::new(&config).unwrap()
    })
}

/// A byte pattern for memory `k` no two nearby chunks share.
fn pattern(k: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|n| (n * 7 + n / 4093 + k * 13) as u8)
        .collect()
}

/// Instantiates `wasm` on the plain engine. Each distinct memory import gets one
/// memory (a module importing the same name twice sees one memory twice), each
/// function import a host function that does nothing; every memory starts patterned.
fn instantiate(wasm: &[u8]) -> (Store<()>, wasmtime::Instance, Vec<Memory>) {
    let module = wasmtime::Module::new(plain_engine(), wasm).unwrap();
    let mut store = Store::new(plain_engine(), ());
    let mut linker = Linker::new(plain_engine());
    let mut memories = Vec::new();
    for import in module.imports() {
        if linker
            .get(&mut store, import.module(), import.name())
            .is_ok()
        {
            continue;
        }
        let item: Extern = match import.ty() {
            wasmtime::ExternType::Memory(ty) => {
                let m = Memory::new(&mut store, ty).unwrap();
                memories.push(m);
                m.into()
            }
            wasmtime::ExternType::Func(ty) => Func::new(&mut store, ty, |_, _, _| Ok(())).into(),
            other => panic!("no import of type {other:?} in these tests"),
        };
        linker
            .define(&mut store, import.module(), import.name(), item)
            .unwrap();
    }
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let exported: Vec<Memory> = instance
        .exports(&mut store)
        .filter_map(|e| e.into_memory())
        .collect();
    memories.extend(exported);
    for (k, m) in memories.iter().enumerate() {
        let len = m.data_size(&store);
        m.write(&mut store, 0, &pattern(k, len)).unwrap();
    }
    (store, instance, memories)
}

/// Runs `calls` in turn on `wasm`: for each, its results or trap code, and then the
/// bytes of every memory the instance reaches.
fn observe(wasm: &[u8], calls: &[(&str, &[u64])]) -> Vec<(String, Vec<Vec<u8>>)> {
    let (mut store, instance, memories) = instantiate(wasm);
    assert!(
        !memories.is_empty(),
        "no memory is imported or exported to compare"
    );
    let mut seen = Vec::new();
    for (name, args) in calls {
        let f = instance.get_func(&mut store, name).unwrap();
        let ty = f.ty(&store);
        let params: Vec<Val> = ty
            .params()
            .zip(args.iter())
            .map(|(t, a)| match t {
                ValType::I32 => Val::I32(*a as i32),
                ValType::I64 => Val::I64(*a as i64),
                other => panic!("no argument of type {other} in these tests"),
            })
            .collect();
        assert_eq!(params.len(), ty.params().len(), "{name} arguments");
        let mut results: Vec<Val> = ty.results().map(|_| Val::I32(0)).collect();
        let outcome = match f.call(&mut store, &params, &mut results) {
            Ok(()) => format!("{name}: {results:?}"),
            Err(e) => match e.downcast_ref::<Trap>() {
                Some(trap) => format!("{name}: trap {trap:?}"),
                None => format!("{name}: error {}", e.root_cause()),
            },
        };
        let bytes = memories.iter().map(|m| m.data(&store).to_vec()).collect();
        seen.push((outcome, bytes));
    }
    seen
}

/// Checks that `wat` is rewritten and that the rewrite behaves as the original over
/// `calls`; returns the outcomes, for tests to check they exercise what they claim.
fn same(wat: &str, calls: &[(&str, &[u64])]) -> Vec<String> {
    let wasm = wat::parse_str(wat).unwrap();
    let out = bound(&wasm).unwrap();
    assert!(matches!(out, Cow::Owned(_)), "not rewritten");
    let (want, got) = (observe(&wasm, calls), observe(&out, calls));
    for ((w, wm), (g, gm)) in want.iter().zip(got.iter()) {
        assert_eq!(w, g);
        assert!(wm == gm, "memory after {w} differs");
    }
    want.into_iter().map(|(o, _)| o).collect()
}

fn traps(outcomes: &[String]) -> usize {
    outcomes
        .iter()
        .filter(|o| o.contains("MemoryOutOfBounds"))
        .count()
}

/// 4 MiB (64 pages) of memory of address type `a`, with `fill` and `copy` over it.
fn one_memory(a: &str) -> String {
    format!(
        r#"(module
  (memory (export "memory") {a} 64)
  (func (export "fill") (param {a} i32 {a}) local.get 0 local.get 1 local.get 2 memory.fill)
  (func (export "copy") (param {a} {a} {a}) local.get 0 local.get 1 local.get 2 memory.copy))"#
    )
}

const SIZE: u64 = 4 << 20;

#[test]
fn zero_length_at_the_end_is_fine_and_one_past_traps() {
    for a in ["i32", "i64"] {
        let c3 = 3 * CHUNK;
        let calls: &[(&str, &[u64])] = &[
            ("fill", &[SIZE, 1, 0]),
            ("fill", &[SIZE + 1, 2, 0]),
            ("copy", &[SIZE, 0, 0]),
            ("copy", &[0, SIZE, 0]),
            ("copy", &[SIZE + 1, 0, 0]),
            ("copy", &[0, SIZE + 1, 0]),
            // Chunked lengths, exactly to the end and one byte past it.
            ("fill", &[SIZE - c3, 3, c3]),
            ("fill", &[SIZE - c3 + 1, 4, c3]),
            ("copy", &[SIZE - c3, 5, c3]),
            ("copy", &[5, SIZE - c3, c3]),
            ("copy", &[SIZE - c3 + 1, 5, c3]),
            ("copy", &[5, SIZE - c3 + 1, c3]),
            ("fill", &[0, 6, SIZE]),
            ("fill", &[0, 7, SIZE + 1]),
        ];
        assert_eq!(traps(&same(&one_memory(a), calls)), 7, "{a}");
    }
}

#[test]
fn address_overflow_traps_before_writing() {
    let c = CHUNK;
    let i64_calls: &[(&str, &[u64])] = &[
        ("fill", &[u64::MAX - c + 1, 1, 2 * c]),
        ("fill", &[1, 2, u64::MAX]),
        ("fill", &[0, 3, u64::MAX]),
        ("fill", &[SIZE - c, 4, u64::MAX - SIZE + 2 * c]),
        ("copy", &[u64::MAX - c + 1, 0, 2 * c]),
        ("copy", &[0, u64::MAX - c + 1, 2 * c]),
        ("copy", &[1, 1, u64::MAX]),
        ("copy", &[SIZE - c, 0, u64::MAX - SIZE + 2 * c]),
    ];
    assert_eq!(traps(&same(&one_memory("i64"), i64_calls)), 8);
    let m = u32::MAX as u64;
    let i32_calls: &[(&str, &[u64])] = &[
        ("fill", &[m - c + 1, 1, 2 * c]),
        ("fill", &[1, 2, m]),
        ("copy", &[m - c + 1, 0, 2 * c]),
        ("copy", &[0, m - c + 1, 2 * c]),
        ("copy", &[1, 1, m]),
    ];
    assert_eq!(traps(&same(&one_memory("i32"), i32_calls)), 5);
}

#[test]
fn the_fill_value_is_its_low_byte() {
    for a in ["i32", "i64"] {
        let calls: &[(&str, &[u64])] = &[
            ("fill", &[10, 0x1234_5678, 2 * CHUNK + 3]),
            ("fill", &[20, 0xffff_ffff, 2 * CHUNK + 3]),
            ("fill", &[30, 0x100, 3 * CHUNK]),
        ];
        assert_eq!(traps(&same(&one_memory(a), calls)), 0);
    }
}

#[test]
fn overlapping_copies_near_the_chunk_size_both_ways() {
    for a in ["i32", "i64"] {
        let len = 2 * CHUNK + 7;
        let base = 3;
        let mut calls: Vec<(&str, Vec<u64>)> = Vec::new();
        for off in [1, CHUNK / 2, CHUNK - 1, CHUNK, CHUNK + 1] {
            calls.push(("copy", vec![base + off, base, len]));
            calls.push(("copy", vec![base, base + off, len]));
        }
        let calls: Vec<(&str, &[u64])> = calls.iter().map(|(n, a)| (*n, &a[..])).collect();
        assert_eq!(traps(&same(&one_memory(a), &calls)), 0);
    }
}

/// Two defined memories of address type `a`, 4 and 3 MiB, with copies both ways.
fn two_memories(a: &str) -> String {
    format!(
        r#"(module
  (memory $m0 (export "m0") {a} 64)
  (memory $m1 (export "m1") {a} 48)
  (func (export "fill1") (param {a} i32 {a}) local.get 0 local.get 1 local.get 2 memory.fill $m1)
  (func (export "copy01") (param {a} {a} {a}) local.get 0 local.get 1 local.get 2 memory.copy $m0 $m1)
  (func (export "copy10") (param {a} {a} {a}) local.get 0 local.get 1 local.get 2 memory.copy $m1 $m0))"#
    )
}

#[test]
fn copies_between_two_memories() {
    let small = 3 << 20;
    for a in ["i32", "i64"] {
        let calls: &[(&str, &[u64])] = &[
            ("copy01", &[100, 2 * CHUNK - 5, CHUNK + 1]),
            ("copy10", &[2 * CHUNK - 5, 100, CHUNK + 1]),
            ("copy01", &[CHUNK + 9, 9, 2 * CHUNK]),
            ("copy10", &[9, CHUNK + 9, 2 * CHUNK]),
            // To the end of the 4 MiB memory; one past the end of the 3 MiB one.
            ("copy01", &[2 * CHUNK, CHUNK, 2 * CHUNK]),
            ("copy01", &[0, small - 2 * CHUNK + 1, 2 * CHUNK]),
            ("copy10", &[small - 2 * CHUNK + 1, 0, 2 * CHUNK]),
            ("fill1", &[small - 2 * CHUNK, 7, 2 * CHUNK]),
            ("fill1", &[small - 2 * CHUNK + 1, 8, 2 * CHUNK]),
        ];
        assert_eq!(traps(&same(&two_memories(a), calls)), 3, "{a}");
    }
}

#[test]
fn copies_between_a_64_bit_and_a_32_bit_memory() {
    // The length is an i32 (the smaller address type) either way.
    let wat = r#"(module
  (memory $m64 (export "m64") i64 64)
  (memory $m32 (export "m32") 48)
  (func (export "fill64") (param i64 i32 i64) local.get 0 local.get 1 local.get 2 memory.fill $m64)
  (func (export "copy_to64") (param i64 i32 i32) local.get 0 local.get 1 local.get 2 memory.copy $m64 $m32)
  (func (export "copy_to32") (param i32 i64 i32) local.get 0 local.get 1 local.get 2 memory.copy $m32 $m64))"#;
    let (small, big) = (3 << 20, 4 << 20);
    let calls: &[(&str, &[u64])] = &[
        ("fill64", &[5, 1, 2 * CHUNK]),
        ("copy_to64", &[7, CHUNK, 2 * CHUNK]),
        ("copy_to32", &[CHUNK, 3, 2 * CHUNK - 1]),
        ("copy_to64", &[1 << 40, 0, 1]),
        ("copy_to32", &[small - 1, 0, 2]),
        ("copy_to32", &[0, u64::MAX, 2]),
        ("copy_to64", &[0, 0, u32::MAX as u64]),
        // Chunked: backwards (the destination above the source) up to the end of the
        // 64-bit memory, forwards, and out of bounds only in the last chunk.
        ("copy_to64", &[big - 3 * CHUNK + 3, 0, 3 * CHUNK - 3]),
        ("copy_to32", &[5, 2 * CHUNK, 2 * CHUNK]),
        ("copy_to32", &[0, big - 3 * CHUNK + 5, 3 * CHUNK - 1]),
    ];
    assert_eq!(traps(&same(wat, calls)), 5);
}

mod mixed_address_types {
    use super::*;
    use proptest::prelude::*;

    /// 3 MiB of 32-bit memory and 4 MiB of 64-bit memory (exported, so that both are
    /// compared), with copies both ways.
    const WAT: &str = r#"(module
  (memory $m64 (export "m64") i64 64)
  (memory $m32 (export "m32") 48)
  (func (export "copy_to64") (param i64 i32 i32) local.get 0 local.get 1 local.get 2 memory.copy $m64 $m32)
  (func (export "copy_to32") (param i32 i64 i32) local.get 0 local.get 1 local.get 2 memory.copy $m32 $m64))"#;

    /// An offset or length near a chunk edge or a memory end, or anywhere.
    fn near_edges() -> impl Strategy<Value = u64> {
        let edges = [0, CHUNK, 2 * CHUNK, 3 << 20, 4 << 20];
        prop_oneof![
            (0..edges.len(), -3i64..=3).prop_map(move |(k, d)| edges[k].saturating_add_signed(d)),
            0..5u64 << 20,
        ]
    }

    /// A copy `(to64, dst, src, len)`: mostly one within both memories of more than a
    /// chunk (the chunked path), else anything (bounds, the fast path, traps).
    fn copy() -> impl Strategy<Value = (bool, u64, u64, u64)> {
        let (m32, m64) = (3 << 20, 4 << 20);
        let within = (any::<bool>(), CHUNK + 1..=m32).prop_flat_map(move |(to64, len)| {
            let (dst_size, src_size) = if to64 { (m64, m32) } else { (m32, m64) };
            (
                Just(to64),
                0..=dst_size - len,
                0..=src_size - len,
                Just(len),
            )
        });
        prop_oneof![
            3 => within,
            1 => (any::<bool>(), near_edges(), near_edges(), near_edges()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Any copies between the two memories leave both as the instruction would.
        #[test]
        fn chunked_copies_between_address_types_match_the_instruction(
            copies in prop::collection::vec(copy(), 1..4)
        ) {
            let calls: Vec<(&str, [u64; 3])> = copies
                .iter()
                .map(|&(to64, dst, src, len)| {
                    (if to64 { "copy_to64" } else { "copy_to32" }, [dst, src, len])
                })
                .collect();
            let calls: Vec<(&str, &[u64])> = calls.iter().map(|(n, a)| (*n, &a[..])).collect();
            same(WAT, &calls);
        }
    }
}

#[test]
fn copies_between_address_types_pass_an_epoch_check_per_chunk() {
    let wasm = wat::parse_str(
        r#"(module
  (memory $m64 i64 80)
  (memory $m32 80)
  (func (export "copy_to64") (param i64 i32 i32) local.get 0 local.get 1 local.get 2 memory.copy $m64 $m32)
  (func (export "copy_to32") (param i32 i64 i32) local.get 0 local.get 1 local.get 2 memory.copy $m32 $m64))"#,
    )
    .unwrap();
    let out = bound(&wasm).unwrap();
    for name in ["copy_to64", "copy_to32"] {
        for (dst, src) in [(0, 1), (1, 0)] {
            assert_a_check_per_chunk(&wasm, &out, name, dst, src);
        }
    }
}

/// A memory imported twice (under one name) is one memory seen at two indices; a copy
/// between them is a copy within one memory and must not overwrite bytes it has yet
/// to read.
#[test]
fn copies_between_two_imports_of_one_memory_are_memmoves() {
    for a in ["i32", "i64"] {
        let wat = format!(
            r#"(module
  (import "env" "m" (memory $a {a} 64))
  (import "env" "m" (memory $b {a} 64))
  (func (export "copy_ab") (param {a} {a} {a}) local.get 0 local.get 1 local.get 2 memory.copy $a $b)
  (func (export "copy_ba") (param {a} {a} {a}) local.get 0 local.get 1 local.get 2 memory.copy $b $a))"#
        );
        let len = 2 * CHUNK + 7;
        let calls: &[(&str, &[u64])] = &[
            ("copy_ab", &[1000 + CHUNK / 2, 1000, len]),
            ("copy_ba", &[1000 + CHUNK / 2, 1000, len]),
            ("copy_ab", &[1000, 1000 + CHUNK / 2, len]),
            ("copy_ba", &[3, 3 + CHUNK + 1, len]),
            ("copy_ab", &[3 + CHUNK + 1, 3, len]),
        ];
        assert_eq!(traps(&same(&wat, calls)), 0, "{a}");
    }
}

/// Functions reached through a table, `ref.func` and `call_ref`, a start function, an
/// imported function, GC types in a rec group, a tag with `try_table`, a tail call and
/// a bulk instruction in unreachable code: every index the module uses stays put.
const FEATURES: &str = r#"(module
  (import "env" "f" (func $imp (param i32 i32 i32)))
  (type $t (func (param i32) (result i32)))
  (rec (type $s (sub (struct (field (mut i32)))))
       (type $s2 (sub $s (struct (field (mut i32)) (field i64)))))
  (tag $e (param i32))
  (memory (export "memory") 64)
  (global $g (mut i32) (i32.const 0))
  (table 4 funcref)
  (elem (i32.const 0) func $double $fill_big $start)
  (elem declare func $inc)
  (start $start)
  (func $start
    (global.set $g (i32.const 41))
    (memory.fill (i32.const 0) (i32.const 0x5a) (i32.const 0x300000)))
  (func $double (type $t) (i32.mul (local.get 0) (i32.const 2)))
  (func $inc (type $t) (i32.add (local.get 0) (i32.const 1)))
  (func $fill_big (type $t)
    (memory.fill (local.get 0) (i32.const 0x33) (i32.const 0x200005))
    (i32.const 1))
  (func (export "through_table") (param i32 i32) (result i32)
    (call_indirect (type $t) (local.get 1) (local.get 0)))
  (func (export "call_ref") (param i32) (result i32)
    (memory.copy (i32.const 7) (i32.const 0x10) (i32.const 0x180000))
    (call_ref $t (local.get 0) (ref.func $inc)))
  (func (export "gc") (param i32) (result i32) (local $r (ref null $s))
    (local.set $r (struct.new $s2 (local.get 0) (i64.const 5)))
    (memory.fill (i32.const 100) (local.get 0) (i32.const 0x200001))
    (struct.get $s 0 (ref.cast (ref $s) (local.get $r))))
  (func (export "catch") (param i32) (result i32)
    block $h (result i32)
      try_table (catch $e $h)
        (memory.copy (i32.const 0x10) (i32.const 0) (local.get 0))
        (throw $e (i32.const 7))
      end
      i32.const 0
    end)
  (func (export "uncaught") (param i32)
    (memory.fill (i32.const 0) (local.get 0) (i32.const 0x100001))
    (throw $e (i32.const 1)))
  (func (export "imp")
    (call $imp (i32.const 1) (i32.const 2) (i32.const 0x300000))
    (memory.fill (i32.const 1) (i32.const 2) (i32.const 0x300000)))
  (func (export "global") (result i32) (global.get $g))
  (func (export "tail") (param i32) (result i32)
    (memory.fill (i32.const 3) (i32.const 4) (i32.const 0x100002))
    (return_call $double (local.get 0)))
  (func (export "dead") (param i32) (result i32)
    block (result i32)
      local.get 0
      br 0
      memory.fill
      memory.copy
      i32.const 1
    end))"#;

#[test]
fn indices_and_other_proposals_are_left_alone() {
    let outcomes = same(
        FEATURES,
        &[
            ("global", &[]),
            ("through_table", &[0, 21]),
            ("through_table", &[1, 1000]),
            ("through_table", &[2, 0]),
            ("through_table", &[3, 0]),
            ("call_ref", &[8]),
            ("gc", &[0x1ab]),
            ("catch", &[0x200000]),
            ("catch", &[SIZE]),
            ("uncaught", &[0x77]),
            ("imp", &[]),
            ("tail", &[9]),
            ("dead", &[5]),
        ],
    );
    let expect = [
        "global: [I32(41)]",
        "through_table: [I32(42)]",
        "through_table: [I32(1)]",
        "through_table: trap BadSignature",
        "through_table: trap IndirectCallToNull",
        "call_ref: [I32(9)]",
        "gc: [I32(427)]",
        "catch: [I32(7)]",
        "catch: trap MemoryOutOfBounds",
    ];
    assert_eq!(outcomes[..expect.len()], expect);
    assert!(
        outcomes[9].starts_with("uncaught: error"),
        "{}",
        outcomes[9]
    );
    assert_eq!(
        outcomes[10..],
        ["imp: []", "tail: [I32(18)]", "dead: [I32(5)]"]
    );
    // The name section, copied as it is, still names the same functions.
    let wasm = wat::parse_str(FEATURES).unwrap();
    let out = bound(&wasm).unwrap();
    assert_eq!(custom_section(&wasm, "name"), custom_section(&out, "name"));
    assert!(custom_section(&wasm, "name").is_some());
}

fn custom_section(wasm: &[u8], name: &str) -> Option<Vec<u8>> {
    wasmparser::Parser::new(0)
        .parse_all(wasm)
        .find_map(|p| match p.unwrap() {
            wasmparser::Payload::CustomSection(c) if c.name() == name => Some(c.data().to_vec()),
            _ => None,
        })
}

#[test]
fn shared_memories_pass_through_untouched() {
    // beamr's engine has no threads: the module is left for wasmtime to refuse.
    let wasm = wat::parse_str(
        r#"(module (memory 1 1 shared)
  (func (export "f") (memory.fill (i32.const 0) (i32.const 1) (i32.const 2))))"#,
    )
    .unwrap();
    assert!(uses_bulk_memory(&wasm));
    assert!(matches!(bound(&wasm).unwrap(), Cow::Borrowed(_)));
    assert!(compile(&wasm).is_err());
}

/// How many epoch checks a call of `name` passes: the deadline is always due, so the
/// callback runs at every check.
fn epoch_checks(wasm: &[u8], name: &str, args: &[u64]) -> u64 {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    let engine = ENGINE.get_or_init(|| {
        let mut config = wasmtime::Config::new();
        config.wasm_memory64(true).epoch_interruption(true);
        Engine::new(&config).unwrap()
    });
    let module = wasmtime::Module::new(engine, wasm).unwrap();
    let mut store = Store::new(engine, 0u64);
    store.epoch_deadline_callback(|mut ctx| {
        *ctx.data_mut() += 1;
        Ok(wasmtime::UpdateDeadline::Continue(0))
    });
    store.set_epoch_deadline(0);
    let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
    let f = instance.get_func(&mut store, name).unwrap();
    let params: Vec<Val> = f
        .ty(&store)
        .params()
        .zip(args)
        .map(|(t, a)| match t {
            ValType::I64 => Val::I64(*a as i64),
            _ => Val::I32(*a as i32),
        })
        .collect();
    f.call(&mut store, &params, &mut []).unwrap();
    *store.data()
}

/// `name(dst, src, len)` in `wasm` meets the same epoch checks whatever its length,
/// and in the rewrite `out` one more for every chunk more.
fn assert_a_check_per_chunk(wasm: &[u8], out: &[u8], name: &str, dst: u64, src: u64) {
    let checks =
        |wasm: &[u8], chunks: u64| epoch_checks(wasm, name, &[dst, src, chunks * CHUNK - 1]);
    assert_eq!(checks(wasm, 2), checks(wasm, 4), "{name}");
    let (two, four) = (checks(out, 2), checks(out, 4));
    assert!(four >= two + 2, "{name} {dst} {src}: {two} then {four}");
}

#[test]
fn every_chunk_passes_an_epoch_check() {
    for a in ["i32", "i64"] {
        let wasm = wat::parse_str(one_memory(a)).unwrap();
        let out = bound(&wasm).unwrap();
        for (name, dst, src) in [("fill", 0, 1), ("copy", 0, 1), ("copy", 1, 0)] {
            assert_a_check_per_chunk(&wasm, &out, name, dst, src);
        }
    }
}

/// Legacy exception handling is translated first, then the bulk instructions chunked:
/// both rewrites apply to one module.
#[test]
fn legacy_exception_handling_and_chunks_together() {
    let wat = r#"(module
  (tag $e)
  (memory (export "memory") 64)
  (func (export "fill") (param i32 i32 i32)
    try
      local.get 0 local.get 1 local.get 2 memory.fill
      throw $e
    catch_all
      (memory.fill (i32.const 0) (i32.const 9) (i32.const 1))
    end))"#;
    let mut i = Instance::new(compile(wat.as_bytes()).unwrap(), None).unwrap();
    let len = 2 * CHUNK + 1;
    call(&mut i, "fill", &[10, 0x107, len]).unwrap();
    let mut model = vec![0u8; SIZE as usize];
    model[10..10 + len as usize].fill(7);
    model[0] = 9;
    assert!(memory(&mut i) == model);
    match call(&mut i, "fill", &[SIZE - len + 1, 1, len]) {
        Err(Error::Trap(m)) => assert!(m.contains("out of bounds"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(memory(&mut i) == model);
}
