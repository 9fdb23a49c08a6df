//! Tables in snapshots: the initial contents an instance starts with come from the
//! module's element segments (worked out at compile time, not read at start), or are
//! read at start where the module alone cannot tell; either way a snapshot lists the
//! entries that changed and names a function by its first initial (table, slot).

mod common;

use beamr_core::initial_tables::TableInit;
use beamr_core::proposals::Optional;
use beamr_core::{
    compile, compile_for, Arg, Error, Instance, Link, Options, SnapshotError, TableEntry, Val,
    Variant,
};
use common::{call, done};
use proptest::prelude::*;
use std::fmt::Write;

fn start(wat: &str) -> Instance {
    Instance::new(compile(wat.as_bytes()).unwrap(), None).unwrap()
}

fn run(i: &mut Instance, name: &str, args: &[i32]) -> Vec<Val> {
    let args: Vec<Arg> = args.iter().map(|&a| Arg::Int(a as i128)).collect();
    done(call(i, name, &args))
}

fn i32_call(i: &mut Instance, name: &str, args: &[i32]) -> i32 {
    run(i, name, args)[0].unwrap_i32()
}

/// The function index (or `None` for null) of each slot of exported table `name`.
fn contents(i: &mut Instance, name: &str) -> Vec<Option<u32>> {
    let size = i.table_size(name).unwrap();
    (0..size)
        .map(|slot| match i.table_get(name, slot).unwrap() {
            TableEntry::Null => None,
            TableEntry::Func { index, .. } => Some(index.expect("an element function")),
            TableEntry::Other => panic!("not a function"),
        })
        .collect()
}

/// `n` functions, `$f<k>` returning `k`, all placed in the table by one segment, with
/// exports to change the table and call through it.
fn big_table(n: u32) -> String {
    let mut w = format!("(module (table $t (export \"t\") {n} funcref) (table $k 1 funcref)\n");
    w.push_str("(global $g (mut funcref) (ref.null func))\n");
    for k in 0..n {
        writeln!(w, "(func $f{k} (result i32) i32.const {k})").unwrap();
    }
    w.push_str("(elem (i32.const 0) func");
    for k in 0..n {
        write!(w, " $f{k}").unwrap();
    }
    w.push_str(r#")
      (func (export "copy") (param i32 i32) (table.set $t (local.get 0) (table.get $t (local.get 1))))
      (func (export "clear") (param i32) (table.set $t (local.get 0) (ref.null func)))
      (func (export "keep") (param i32) (global.set $g (table.get $t (local.get 0))))
      (func (export "kept") (result i32)
        (table.set $k (i32.const 0) (global.get $g)) (call_indirect $k (result i32) (i32.const 0)))
      (func (export "at") (param i32) (result i32)
        local.get 0 table.get $t ref.is_null if (result i32) i32.const -1
        else local.get 0 call_indirect $t (result i32) end))"#);
    w
}

#[test]
fn a_ten_thousand_entry_table_restores_its_changes_into_a_fresh_instance() {
    let n = 10_000;
    let module = compile(big_table(n).as_bytes()).unwrap();
    assert!(
        matches!(module.initial_tables().table(0), TableInit::Known(e) if e.len() == n as usize),
        "the initial table comes from the element segment"
    );
    let mut a = Instance::new(module.clone(), None).unwrap();
    let fresh = a.serialize().unwrap();
    run(&mut a, "copy", &[9_999, 0]);
    run(&mut a, "copy", &[0, 9_999]);
    run(&mut a, "copy", &[4_321, 17]);
    run(&mut a, "clear", &[5_000]);
    run(&mut a, "keep", &[777]);
    let snap = a.serialize().unwrap();

    let mut b = Instance::new(module.clone(), None).unwrap();
    assert_eq!(i32_call(&mut b, "at", &[0]), 0);
    b.deserialize(&snap).unwrap();
    assert_eq!(i32_call(&mut b, "at", &[9_999]), 0);
    assert_eq!(
        i32_call(&mut b, "at", &[0]),
        0,
        "slot 0 holds what 9999 held: f0"
    );
    assert_eq!(i32_call(&mut b, "at", &[4_321]), 17);
    assert_eq!(i32_call(&mut b, "at", &[5_000]), -1);
    for slot in [1, 16, 18, 4_320, 4_322, 4_999, 5_001, 9_998] {
        assert_eq!(
            i32_call(&mut b, "at", &[slot]),
            slot,
            "slot {slot} unchanged"
        );
    }
    // Same state, same bytes; and all four changes, nothing else, are listed.
    assert_eq!(b.serialize().unwrap(), snap);
    assert_eq!(contents(&mut b, "t"), contents(&mut a, "t"));
    assert_eq!(i32_call(&mut b, "kept", &[]), 777, "a funcref global");

    // Restoring the fresh snapshot puts every initial function back.
    b.deserialize(&fresh).unwrap();
    for slot in [0, 4_321, 5_000, 9_999] {
        assert_eq!(i32_call(&mut b, "at", &[slot]), slot);
    }
    assert_eq!(b.serialize().unwrap(), fresh);
}

/// The snapshot's bytes between the header and the checksum, for a module with no
/// memory and no mutable globals: the global count and the tables.
fn tables_section(snap: &[u8]) -> &[u8] {
    &snap[8 + 4 + 32..snap.len() - 1 - 4]
}

/// A table as a snapshot lists it: index, size, and the changed slots, each with
/// the (table, slot) naming its function or `None` for a null.
type Listed = (u32, u64, Vec<(u64, Option<(u32, u64)>)>);

/// The encoding of `tables`.
fn encode(tables: &[Listed]) -> Vec<u8> {
    let mut out = 0u32.to_le_bytes().to_vec();
    out.extend((tables.len() as u32).to_le_bytes());
    for (index, size, entries) in tables {
        out.extend(index.to_le_bytes());
        out.extend(size.to_le_bytes());
        out.extend((entries.len() as u32).to_le_bytes());
        for (slot, r) in entries {
            out.extend(slot.to_le_bytes());
            match r {
                None => out.push(0),
                Some((t, j)) => {
                    out.push(1);
                    out.extend(t.to_le_bytes());
                    out.extend(j.to_le_bytes());
                }
            }
        }
    }
    out
}

#[test]
fn a_function_is_named_by_its_first_initial_table_and_slot() {
    // $b sits in table 1 at slot 0 and in table 0 at slots 3 and 1 (the later segment
    // wins at slot 1): it is named (0, 1) wherever it goes.
    let wat = r#"(module
        (table $t0 (export "t0") 5 funcref) (table $t1 (export "t1") 2 funcref)
        (func $a (result i32) i32.const 1) (func $b (result i32) i32.const 2)
        (elem (table $t1) (i32.const 0) func $b $a)
        (elem (table $t0) (i32.const 1) func $a $a $b)
        (elem (table $t0) (i32.const 1) func $b)
        (func (export "to4") (table.set $t0 (i32.const 4) (table.get $t1 (i32.const 0))))
        (func (export "a_to1") (table.set $t1 (i32.const 1) (table.get $t0 (i32.const 2)))))"#;
    let mut a = start(wat);
    assert_eq!(
        contents(&mut a, "t0"),
        [None, Some(1), Some(0), Some(1), None]
    );
    let fresh = a.serialize().unwrap();
    assert_eq!(
        tables_section(&fresh),
        encode(&[(0, 5, vec![]), (1, 2, vec![])])
    );
    run(&mut a, "to4", &[]);
    let snap = a.serialize().unwrap();
    assert_eq!(
        tables_section(&snap),
        encode(&[(0, 5, vec![(4, Some((0, 1)))]), (1, 2, vec![])])
    );
    let mut b = start(wat);
    b.deserialize(&snap).unwrap();
    assert_eq!(
        contents(&mut b, "t0"),
        [None, Some(1), Some(0), Some(1), Some(1)]
    );
    assert_eq!(b.serialize().unwrap(), snap);
}

#[test]
fn an_offset_from_an_imported_global_is_read_at_start() {
    let wat = r#"(module (import "env" "base" (global $base i32))
        (table $t (export "t") 8 funcref)
        (func $a (result i32) i32.const 10) (func $b (result i32) i32.const 20)
        (elem (global.get $base) func $a $b)
        (func (export "swap") (table.set $t (i32.const 7) (table.get $t (global.get $base)))
                              (table.set $t (global.get $base) (ref.null func)))
        (func (export "at") (param i32) (result i32)
          local.get 0 table.get $t ref.is_null if (result i32) i32.const -1
          else local.get 0 call_indirect $t (result i32) end))"#;
    let module = compile(wat.as_bytes()).unwrap();
    assert_eq!(module.initial_tables().table(0), &TableInit::Unknown);

    // Unlinked, the imported global is a fresh zero.
    let mut a = Instance::new(module.clone(), None).unwrap();
    run(&mut a, "swap", &[]);
    let snap = a.serialize().unwrap();
    assert_eq!(
        tables_section(&snap),
        encode(&[(0, 8, vec![(0, None), (7, Some((0, 0)))])])
    );
    let mut b = Instance::new(module.clone(), None).unwrap();
    b.deserialize(&snap).unwrap();
    assert_eq!(i32_call(&mut b, "at", &[7]), 10);
    assert_eq!(i32_call(&mut b, "at", &[0]), -1);
    assert_eq!(i32_call(&mut b, "at", &[1]), 20);

    // Linked to a module giving the base, the segment lands at 5.
    let env = compile(br#"(module (global (export "base") i32 (i32.const 5)))"#).unwrap();
    let links = [Link {
        name: "env".into(),
        module: env,
    }];
    let mut c = Instance::new_linked(module.clone(), &links, None).unwrap();
    assert_eq!(i32_call(&mut c, "at", &[5]), 10);
    run(&mut c, "swap", &[]);
    let snap = c.serialize().unwrap();
    assert_eq!(
        tables_section(&snap),
        encode(&[(0, 8, vec![(5, None), (7, Some((0, 5)))])])
    );
    let mut d = Instance::new_linked(module, &links, None).unwrap();
    d.deserialize(&snap).unwrap();
    assert_eq!(i32_call(&mut d, "at", &[7]), 10);
    assert_eq!(i32_call(&mut d, "at", &[5]), -1);
    assert_eq!(i32_call(&mut d, "at", &[6]), 20);
    assert_eq!(d.serialize().unwrap(), snap);
}

#[test]
fn a_table_written_by_the_start_function_is_read_at_start() {
    let wat = r#"(module (table $t (export "t") 3 funcref)
        (func $a (result i32) i32.const 1) (func $b (result i32) i32.const 2)
        (elem (i32.const 0) func $a)
        (elem declare func $b)
        (func $init (table.set $t (i32.const 2) (ref.func $b)))
        (start $init)
        (func (export "clear") (table.set $t (i32.const 2) (ref.null func)))
        (func (export "b_to1") (table.set $t (i32.const 1) (ref.func $b))))"#;
    let module = compile(wat.as_bytes()).unwrap();
    assert_eq!(module.initial_tables().table(0), &TableInit::Unknown);
    let mut a = Instance::new(module.clone(), None).unwrap();
    assert_eq!(contents(&mut a, "t"), [Some(0), None, Some(1)]);
    let fresh = a.serialize().unwrap();
    assert_eq!(tables_section(&fresh), encode(&[(0, 3, vec![])]));
    run(&mut a, "b_to1", &[]);
    run(&mut a, "clear", &[]);
    let snap = a.serialize().unwrap();
    assert_eq!(
        tables_section(&snap),
        encode(&[(0, 3, vec![(1, Some((0, 2))), (2, None)])])
    );
    a.deserialize(&fresh).unwrap();
    assert_eq!(contents(&mut a, "t"), [Some(0), None, Some(1)]);
}

#[test]
fn a_function_only_in_a_passive_segment_cannot_be_named() {
    let wat = r#"(module (table $t (export "t") 4 funcref)
        (func $a (result i32) i32.const 1) (func $b (result i32) i32.const 2)
        (elem (i32.const 0) func $a)
        (elem $p func $a $b)
        (func (export "init") (param i32 i32 i32)
          (table.init $t $p (local.get 0) (local.get 1) (local.get 2))))"#;
    let module = compile(wat.as_bytes()).unwrap();
    assert!(matches!(
        module.initial_tables().table(0),
        TableInit::Known(_)
    ));
    let mut a = Instance::new(module.clone(), None).unwrap();
    // $a, also in the active segment, is named by its initial slot.
    run(&mut a, "init", &[2, 0, 1]);
    let snap = a.serialize().unwrap();
    assert_eq!(
        tables_section(&snap),
        encode(&[(0, 4, vec![(2, Some((0, 0)))])])
    );
    let mut b = Instance::new(module, None).unwrap();
    b.deserialize(&snap).unwrap();
    assert_eq!(contents(&mut b, "t"), [Some(0), None, Some(0), None]);
    // $b was in no table at instantiation: there is no way to name it.
    run(&mut a, "init", &[3, 1, 1]);
    assert!(matches!(
        a.serialize(),
        Err(Error::Snapshot(SnapshotError::Unsupported(_)))
    ));
}

/// How a generated segment finds its offset.
#[derive(Debug, Clone)]
enum Offset {
    Const(u8),
    /// A defined immutable global, `$k`.
    Defined,
    /// An imported global, zero when unlinked.
    Imported,
}

#[derive(Debug, Clone)]
enum Mode {
    Active(u8, Offset),
    Passive,
    Declared,
}

#[derive(Debug, Clone)]
struct Segment {
    mode: Mode,
    /// Function numbers; `None` for a null (written as expressions then).
    items: Vec<Option<u8>>,
}

#[derive(Debug, Clone)]
struct Generated {
    funcs: u8,
    sizes: Vec<u8>,
    k: u8,
    segments: Vec<Segment>,
    /// A start function setting (table, slot) to function.
    start: Option<(u8, u8, u8)>,
}

fn generated() -> impl Strategy<Value = Generated> {
    let offset = prop_oneof![
        4 => (0u8..8).prop_map(Offset::Const),
        1 => Just(Offset::Defined),
        1 => Just(Offset::Imported),
    ];
    let mode = prop_oneof![
        6 => (0u8..3, offset).prop_map(|(t, o)| Mode::Active(t, o)),
        1 => Just(Mode::Passive),
        1 => Just(Mode::Declared),
    ];
    let segment = (
        mode,
        prop::collection::vec(prop::option::weighted(0.8, 0u8..6), 0..5),
    )
        .prop_map(|(mode, items)| Segment { mode, items });
    (
        1u8..5,
        prop::collection::vec(1u8..10, 1..4),
        0u8..4,
        prop::collection::vec(segment, 0..6),
        prop::option::weighted(0.2, (0u8..3, 0u8..10, 0u8..6)),
    )
        .prop_map(|(funcs, sizes, k, segments, start)| Generated {
            funcs,
            sizes,
            k,
            segments,
            start,
        })
}

impl Generated {
    fn table(&self, t: u8) -> usize {
        t as usize % self.sizes.len()
    }

    fn func(&self, f: u8) -> u8 {
        f % self.funcs
    }

    fn wat(&self) -> String {
        let mut w = String::from("(module (import \"env\" \"base\" (global $base i32))\n");
        writeln!(w, "(global $k i32 (i32.const {}))", self.k).unwrap();
        for f in 0..self.funcs {
            writeln!(w, "(func $f{f} (result i32) i32.const {f})").unwrap();
        }
        let n = self.sizes.len();
        for (t, size) in self.sizes.iter().enumerate() {
            writeln!(w, "(table $t{t} (export \"t{t}\") {size} funcref)").unwrap();
        }
        for s in &self.segments {
            // An active segment is cut to fit its table (the unlinked base is zero),
            // so that most modules instantiate.
            let (head, fits) = match &s.mode {
                Mode::Active(t, offset) => {
                    let t = self.table(*t);
                    let size = self.sizes[t] as usize;
                    let (expr, at) = match offset {
                        Offset::Const(o) => (format!("(i32.const {o})"), *o as usize),
                        Offset::Defined => ("(global.get $k)".to_string(), self.k as usize),
                        Offset::Imported => ("(global.get $base)".to_string(), 0),
                    };
                    let (expr, at) = if at > size {
                        ("(i32.const 0)".to_string(), 0)
                    } else {
                        (expr, at)
                    };
                    (format!("(table $t{t}) {expr}"), size - at)
                }
                Mode::Passive => (String::new(), usize::MAX),
                Mode::Declared => ("declare".to_string(), usize::MAX),
            };
            let items: String = (s.items.iter().take(fits))
                .map(|i| match i {
                    Some(f) => format!(" (ref.func $f{})", self.func(*f)),
                    None => " (ref.null func)".to_string(),
                })
                .collect();
            writeln!(w, "(elem {head} funcref{items})").unwrap();
        }
        if let Some((t, slot, f)) = self.start {
            let t = self.table(t);
            let slot = slot % self.sizes[t];
            // The function must be declared to be referenced.
            let f = self.func(f);
            writeln!(w, "(elem declare func $f{f})").unwrap();
            writeln!(
                w,
                "(func $s (table.set $t{t} (i32.const {slot}) (ref.func $f{f}))) (start $s)"
            )
            .unwrap();
        }
        for d in 0..n {
            for s in 0..n {
                writeln!(
                    w,
                    "(func (export \"copy{d}_{s}\") (param i32 i32)
                       (table.set $t{d} (local.get 0) (table.get $t{s} (local.get 1))))"
                )
                .unwrap();
            }
            writeln!(
                w,
                "(func (export \"clear{d}\") (param i32) (table.set $t{d} (local.get 0) (ref.null func)))"
            )
            .unwrap();
        }
        w.push(')');
        w
    }
}

/// What the snapshot of `a` must say about its tables, from what an instance of the
/// same module held at start (`fresh`) and what `a` holds: each table's changed
/// slots, a function named by its first (table, slot) in `fresh`.
fn expected_tables(fresh: &[Vec<Option<u32>>], live: &[Vec<Option<u32>>]) -> Vec<u8> {
    let first = |f: u32| -> (u32, u64) {
        fresh
            .iter()
            .enumerate()
            .flat_map(|(t, slots)| slots.iter().enumerate().map(move |(j, s)| (t, j, s)))
            .find(|(_, _, s)| **s == Some(f))
            .map(|(t, j, _)| (t as u32, j as u64))
            .expect("a function of an initial table")
    };
    let tables: Vec<_> = live
        .iter()
        .enumerate()
        .map(|(t, slots)| {
            let changed = slots
                .iter()
                .enumerate()
                .filter(|(j, s)| fresh[t].get(*j).copied().flatten() != **s)
                .map(|(j, s)| (j as u64, s.map(first)))
                .collect();
            (t as u32, slots.len() as u64, changed)
        })
        .collect();
    encode(&tables)
}

/// The generated modules may place a segment at a defined global's value, which wasm
/// allows since the GC proposal: they are compiled for an engine that has it on.
fn gc_variant() -> Variant {
    Variant {
        deterministic: false,
        optional: Optional::from_names(["gc"]).unwrap(),
        ..Variant::DEFAULT
    }
}

fn gc_options() -> Options {
    Options {
        optional: gc_variant().optional,
        ..Options::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    /// For any layout of element segments: a table the module determines holds what
    /// the module says at start; every table's changes, however they were made,
    /// snapshot to exactly what the (table, slot) naming of the start contents says,
    /// and restore into a fresh instance.
    #[test]
    fn snapshots_list_exactly_the_changed_slots(
        g in generated(),
        ops in prop::collection::vec((any::<bool>(), 0u8..3, 0u8..10, 0u8..3, 0u8..10), 0..12),
    ) {
        let module = compile_for(g.wat().as_bytes(), gc_variant()).unwrap();
        let mut a = Instance::with_options(module.clone(), None, &gc_options()).unwrap();
        let names: Vec<String> = (0..g.sizes.len()).map(|t| format!("t{t}")).collect();
        let fresh: Vec<_> = names.iter().map(|n| contents(&mut a, n)).collect();
        for (t, name) in names.iter().enumerate() {
            if let TableInit::Known(entries) = module.initial_tables().table(t as u32) {
                let mut expect = vec![None; g.sizes[t] as usize];
                for &(slot, f) in entries.iter() {
                    expect[slot as usize] = Some(f);
                }
                prop_assert_eq!(&fresh[t], &expect, "table {}", name);
            }
        }
        for (copy, d, dslot, s, sslot) in ops {
            let (d, s) = (g.table(d), g.table(s));
            let dslot = (dslot % g.sizes[d]) as i32;
            let sslot = (sslot % g.sizes[s]) as i32;
            if copy {
                run(&mut a, &format!("copy{d}_{s}"), &[dslot, sslot]);
            } else {
                run(&mut a, &format!("clear{d}"), &[dslot]);
            }
        }
        let live: Vec<_> = names.iter().map(|n| contents(&mut a, n)).collect();
        let snap = a.serialize().unwrap();
        prop_assert_eq!(tables_section(&snap), &expected_tables(&fresh, &live)[..]);

        let mut b = Instance::with_options(module, None, &gc_options()).unwrap();
        b.deserialize(&snap).unwrap();
        let restored: Vec<_> = names.iter().map(|n| contents(&mut b, n)).collect();
        prop_assert_eq!(&restored, &live);
        prop_assert_eq!(b.serialize().unwrap(), snap);
    }
}
