//! The load-time rewrites on generated modules: legacy-EH translation leaves a module
//! without legacy instructions untouched; bulk-memory chunking and the reserved exports
//! give modules that validate, keep every index and export, leave no `memory.fill` or
//! `memory.copy` in the module's own functions, export exactly the state snapshots
//! need; and the chunked module behaves as the original.
//!
//! Behaviour is compared on a plain wasmtime engine with beamr's features and fuel:
//! both modules (each with the reserved exports, through which the whole state is
//! read) are instantiated side by side and every exported function is called with the
//! same generated arguments; results (NaNs as NaNs), traps and, after each call, the
//! first memory, every exported memory and every mutable global must agree. Once
//! either side runs out of fuel or stack (the helpers cost both), they may part ways
//! and the comparison stops.

use super::{drive, smith};
use arbitrary::Unstructured;
use beamr_core::proposals::widest_features as engine_features;
use beamr_core::reserved_exports::{self, add_reserved_exports, MEMORY_NAME};
use beamr_core::{bulk_chunks, legacy_eh};
use std::borrow::Cow;
use std::sync::OnceLock;
use wasmparser::{ExternalKind, Operator, Parser, Payload, TypeRef, Validator};
use wasmtime::{
    Engine, Extern, Instance, Module, Store, StoreLimits, StoreLimitsBuilder, Trap, Val,
};

/// Fuel for instantiation and for each call, on both sides.
const FUEL: u64 = 200_000;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        // Every proposal the rewrites accept, since they run before the engine matters.
        let mut config = beamr_core::engine::config();
        beamr_core::proposals::configure(&mut config, beamr_core::proposals::Optional::ALL);
        config.consume_fuel(true).epoch_interruption(false);
        Engine::new(&config).expect("the oracle engine's configuration is valid")
    })
}

fn valid(wasm: &[u8]) -> Result<(), String> {
    Validator::new_with_features(engine_features())
        .validate_all(wasm)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

pub fn check(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(wasm) = smith::module(&mut u, 0) else {
        return;
    };
    if valid(&wasm).is_err() {
        return;
    }
    match legacy_eh::prepare(&wasm) {
        Ok(Cow::Borrowed(b)) => assert!(b == wasm.as_slice()),
        other => panic!("a module without legacy EH was changed: {:?}", other.err()),
    }
    let bounded = bulk_chunks::bound(&wasm).unwrap_or_else(|e| panic!("chunking failed: {e}"));
    let shape = Shape::of(&wasm);
    match &bounded {
        Cow::Borrowed(b) => {
            assert!(b == &wasm.as_slice());
            assert!(
                !bulk_chunks::uses_bulk_memory(&wasm),
                "bulk memory left unchunked"
            );
        }
        Cow::Owned(out) => {
            valid(out).unwrap_or_else(|e| panic!("chunked module invalid: {e}"));
            let after = Shape::of(out);
            assert_eq!(after.exports, shape.exports, "chunking changed exports");
            assert_eq!(after.imports, shape.imports, "chunking changed imports");
            assert!(after.funcs > shape.funcs, "no helper added");
            for (i, bulk) in after.bulk.iter().take(shape.bulk.len()).enumerate() {
                assert!(!bulk, "function {i} still runs memory.fill/copy itself");
            }
        }
    }
    let Ok(plain) = add_reserved_exports(&wasm) else {
        // The generated module uses the reserved prefix itself.
        return;
    };
    let chunked = add_reserved_exports(&bounded).expect("reserved exports after chunking");
    valid(&plain).unwrap_or_else(|e| panic!("reserved exports invalid: {e}"));
    valid(&chunked).unwrap_or_else(|e| panic!("reserved exports invalid after chunking: {e}"));
    check_reserved(&shape, &Shape::of(&plain));
    compare(&mut u, &plain, &chunked);
}

/// The module facts the checks need.
#[derive(Default)]
struct Shape {
    /// (name, kind, index) in order.
    exports: Vec<(String, ExternalKind, u32)>,
    imports: Vec<(String, String)>,
    funcs: usize,
    /// Per defined function, whether its body holds memory.fill or memory.copy.
    bulk: Vec<bool>,
    mutable_globals: Vec<u32>,
    tables: u32,
    memories: u32,
}

impl Shape {
    fn of(wasm: &[u8]) -> Shape {
        let mut s = Shape::default();
        let mut globals = 0;
        for payload in Parser::new(0).parse_all(wasm) {
            match payload.expect("a valid module parses") {
                Payload::ImportSection(r) => {
                    for i in r.into_imports() {
                        let i = i.unwrap();
                        s.imports.push((i.module.to_string(), i.name.to_string()));
                        match i.ty {
                            TypeRef::Func(_) | TypeRef::FuncExact(_) => s.funcs += 1,
                            TypeRef::Table(_) => s.tables += 1,
                            TypeRef::Memory(_) => s.memories += 1,
                            TypeRef::Global(g) => {
                                if g.mutable {
                                    s.mutable_globals.push(globals);
                                }
                                globals += 1;
                            }
                            TypeRef::Tag(_) => {}
                        }
                    }
                }
                Payload::FunctionSection(r) => s.funcs += r.count() as usize,
                Payload::TableSection(r) => s.tables += r.count(),
                Payload::MemorySection(r) => s.memories += r.count(),
                Payload::GlobalSection(r) => {
                    for g in r {
                        if g.unwrap().ty.mutable {
                            s.mutable_globals.push(globals);
                        }
                        globals += 1;
                    }
                }
                Payload::ExportSection(r) => {
                    for e in r {
                        let e = e.unwrap();
                        s.exports.push((e.name.to_string(), e.kind, e.index));
                    }
                }
                Payload::CodeSectionEntry(body) => {
                    let mut ops = body.get_operators_reader().unwrap();
                    let mut bulk = false;
                    while !ops.eof() {
                        bulk |= matches!(
                            ops.read().unwrap(),
                            Operator::MemoryFill { .. } | Operator::MemoryCopy { .. }
                        );
                    }
                    s.bulk.push(bulk);
                }
                _ => {}
            }
        }
        s
    }
}

/// The module's own exports come first and unchanged; after them, exactly the state
/// exports (every mutable global, every table, the first memory) and functions.
fn check_reserved(before: &Shape, after: &Shape) {
    let n = before.exports.len();
    assert_eq!(
        after.exports[..n],
        before.exports[..],
        "own exports changed"
    );
    let added = &after.exports[n..];
    assert!(added
        .iter()
        .all(|(name, _, _)| reserved_exports::is_reserved(name)));
    let has = |name: &str, kind: ExternalKind, index: u32| {
        added.iter().any(|e| e == &(name.to_string(), kind, index))
    };
    for &g in &before.mutable_globals {
        let name = reserved_exports::global_name(g);
        assert!(has(&name, ExternalKind::Global, g), "{name} missing");
    }
    for t in 0..before.tables {
        let name = reserved_exports::table_name(t);
        assert!(has(&name, ExternalKind::Table, t), "{name} missing");
    }
    if before.memories > 0 {
        assert!(
            has(MEMORY_NAME, ExternalKind::Memory, 0),
            "memory export missing"
        );
    }
    let state = added
        .iter()
        .filter(|(name, _, _)| reserved_exports::func_index(name).is_none())
        .count();
    let expected =
        before.mutable_globals.len() + before.tables as usize + usize::from(before.memories > 0);
    assert_eq!(state, expected, "unexpected reserved exports: {added:?}");
    for (name, kind, index) in added {
        if let Some(f) = reserved_exports::func_index(name) {
            assert_eq!((*kind, *index), (ExternalKind::Func, f), "{name}");
        }
    }
}

struct Side {
    store: Store<StoreLimits>,
    instance: Instance,
}

/// How a call ended, as far as the two sides must agree.
#[derive(Debug, PartialEq)]
enum Outcome {
    Values(Vec<Bits>),
    Trap(Trap),
    Exception,
    Other(String),
}

/// A value compared by bits, every NaN equal to every other.
#[derive(Debug, PartialEq)]
enum Bits {
    Num(u128),
    Nan,
    Ref(bool),
}

fn bits(v: &Val) -> Bits {
    match v {
        Val::I32(x) => Bits::Num(*x as u32 as u128),
        Val::I64(x) => Bits::Num(*x as u64 as u128),
        Val::F32(x) if f32::from_bits(*x).is_nan() => Bits::Nan,
        Val::F64(x) if f64::from_bits(*x).is_nan() => Bits::Nan,
        Val::F32(x) => Bits::Num(u128::from(*x)),
        Val::F64(x) => Bits::Num(u128::from(*x)),
        Val::V128(x) => Bits::Num(x.as_u128()),
        other => Bits::Ref(other.ref_().is_some_and(|r| r.is_null())),
    }
}

fn outcome<T>(
    store: &mut Store<StoreLimits>,
    r: wasmtime::Result<T>,
    ok: impl FnOnce(T) -> Vec<Bits>,
) -> Outcome {
    match r {
        Ok(v) => Outcome::Values(ok(v)),
        Err(e) => {
            if store.take_pending_exception().is_some() {
                Outcome::Exception
            } else if let Some(t) = e.downcast_ref::<Trap>() {
                Outcome::Trap(*t)
            } else {
                Outcome::Other(format!("{e:#}"))
            }
        }
    }
}

/// Fuel or stack ran out: the two sides may legitimately differ from here on.
fn diverges(o: &Outcome) -> bool {
    matches!(o, Outcome::Trap(Trap::OutOfFuel | Trap::StackOverflow))
}

fn side(wasm: &[u8]) -> (Option<Side>, Outcome) {
    let module = Module::new(engine(), wasm).expect("a valid module compiles");
    let limits = StoreLimitsBuilder::new()
        .memory_size(16 << 20)
        .table_elements(10_000)
        .instances(1)
        .build();
    let mut store = Store::new(engine(), limits);
    store.limiter(|l| l);
    store.set_fuel(FUEL).unwrap();
    match Instance::new(&mut store, &module, &[]) {
        Ok(instance) => (Some(Side { store, instance }), Outcome::Values(Vec::new())),
        Err(e) => {
            let o = outcome::<()>(&mut store, Err(e), |_| Vec::new());
            (None, o)
        }
    }
}

/// Runs `plain` and `chunked` side by side (see the module doc); panics where they differ.
pub fn compare(u: &mut Unstructured, plain: &[u8], chunked: &[u8]) {
    let (a, oa) = side(plain);
    let (b, ob) = side(chunked);
    if diverges(&oa) || diverges(&ob) {
        return;
    }
    assert_eq!(oa, ob, "instantiation differs");
    let (Some(mut a), Some(mut b)) = (a, b) else {
        return;
    };
    same_state(&mut a, &mut b, "after instantiation");
    let funcs: Vec<(String, wasmtime::Func)> = a
        .instance
        .exports(&mut a.store)
        .filter_map(|e| {
            let name = e.name().to_string();
            e.into_func().map(|f| (name, f))
        })
        .filter(|(name, _)| !reserved_exports::is_reserved(name))
        .collect();
    for (name, fa) in funcs {
        let fb = b
            .instance
            .get_func(&mut b.store, &name)
            .expect("same exports");
        let ty = fa.ty(&a.store);
        let Some(args) = ty
            .params()
            .map(|t| drive::arg(u, &t))
            .collect::<Option<Vec<Val>>>()
        else {
            continue;
        };
        let results = |side: &mut Side, f: wasmtime::Func| {
            side.store.set_fuel(FUEL).unwrap();
            let mut out = vec![Val::I32(0); ty.results().len()];
            let r = f.call(&mut side.store, &args, &mut out);
            outcome(&mut side.store, r, |()| out.iter().map(bits).collect())
        };
        let ra = results(&mut a, fa);
        let rb = results(&mut b, fb);
        if diverges(&ra) || diverges(&rb) {
            return;
        }
        assert_eq!(ra, rb, "calls of {name:?} differ");
        same_state(&mut a, &mut b, &format!("after {name:?}"));
    }
}

fn same_state(a: &mut Side, b: &mut Side, when: &str) {
    let exports: Vec<(String, Extern)> = a
        .instance
        .exports(&mut a.store)
        .map(|e| (e.name().to_string(), e.into_extern()))
        .collect();
    for (name, ea) in exports {
        let eb = b
            .instance
            .get_export(&mut b.store, &name)
            .expect("same exports");
        match (ea, eb) {
            (Extern::Memory(ma), Extern::Memory(mb)) => assert!(
                ma.data(&a.store) == mb.data(&b.store),
                "memory {name:?} differs {when}"
            ),
            (Extern::Global(ga), Extern::Global(gb)) => assert_eq!(
                bits(&ga.get(&mut a.store)),
                bits(&gb.get(&mut b.store)),
                "global {name:?} differs {when}"
            ),
            (Extern::Table(ta), Extern::Table(tb)) => assert_eq!(
                ta.size(&a.store),
                tb.size(&b.store),
                "table {name:?} differs {when}"
            ),
            _ => {}
        }
    }
}
