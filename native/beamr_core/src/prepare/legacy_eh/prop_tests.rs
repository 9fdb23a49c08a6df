//! Properties over generated modules: wasm-smith modules (which never use the legacy
//! encoding) pass through byte-identical; and random nestings of legacy try/catch/
//! catch_all/rethrow/delegate with block/br_if/br_table, block params and results and
//! calls translate to modules that validate, compile, and compute exactly what a
//! direct interpreter of the legacy semantics (the oracle below) computes, uncaught
//! exceptions included.

use super::{prepare, translate, uses_legacy_eh};
use crate::proposals::widest_features as engine_features;
use crate::{compile, Arg, Error, Instance, Slice, Step, Target};
use arbitrary::Unstructured;
use std::borrow::Cow;
use std::fmt::Write;
use wasmparser::Validator;

/// xorshift64*: enough randomness for shapes, reproducible from the case number.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn wasm_smith_modules_pass_through_byte_identical() {
    let mut rng = Rng::new(1);
    let mut checked = 0;
    for _ in 0..300 {
        let data = rng.bytes(4096);
        let mut u = Unstructured::new(&data);
        let Ok(module) = wasm_smith::Module::new(wasm_smith::Config::default(), &mut u) else {
            continue;
        };
        let wasm = module.to_bytes();
        assert!(!uses_legacy_eh(&wasm));
        match prepare(&wasm) {
            Ok(Cow::Borrowed(out)) => assert!(std::ptr::eq(out, wasm.as_slice())),
            Ok(Cow::Owned(_)) => panic!("a module without legacy EH was rewritten"),
            Err(e) => panic!("prepare failed on a valid module: {e}"),
        }
        checked += 1;
    }
    assert!(checked > 200, "only {checked} modules generated");
}

/// Generated legacy code, as a tree. Each function is `(param $arg i32) (result i32)`
/// with one scratch local `$x`; every label carries one i32 (the value of `$x`) or none.
#[derive(Debug, Clone)]
enum Stmt {
    /// `$x += c`.
    Add(i32),
    /// If `$arg & bit`, throw `$e{tag}` with payload `$x` (and 5:i64 for `$e2`).
    ThrowIf {
        bit: i32,
        tag: u8,
    },
    /// `$x = f{k}($x)`.
    Call(usize),
    /// If `$arg & bit`, branch to `label` (with `$x` if it carries a value).
    BrIf {
        bit: i32,
        label: u32,
    },
    /// If `$arg & bit`, rethrow what the try at `label` caught.
    RethrowIf {
        bit: i32,
        label: u32,
    },
    /// If `$arg & 3`, `br_table` on `$arg >> 2`.
    BrTable {
        targets: Vec<u32>,
        default: u32,
    },
    Block(Vec<Stmt>),
    Try {
        /// 0: `[] -> []`; 1: `[] -> [i32]`; 2: `[i32] -> [i32]` fed `$x + 1`.
        shape: u8,
        body: Vec<Stmt>,
        end: TryEnd,
    },
}

#[derive(Debug, Clone)]
enum TryEnd {
    /// Clauses in order: `Some(tag)` for `catch $e{tag}`, `None` for `catch_all`.
    Catches(Vec<(Option<u8>, Vec<Stmt>)>),
    Delegate(u32),
}

#[derive(Clone, Copy, PartialEq)]
enum Label {
    Plain,
    TryBody,
    TryCatch,
}

/// Writes random trees that are valid by construction.
struct Gen {
    rng: Rng,
    /// Innermost last: what the label is, and how many i32 a branch to it carries.
    labels: Vec<(Label, usize)>,
    funcs_before: usize,
}

impl Gen {
    fn depth(&self) -> usize {
        self.labels.len()
    }

    fn label(&self, l: usize) -> (Label, usize) {
        self.labels[self.depth() - 1 - l]
    }

    fn bit(&mut self) -> i32 {
        1 << self.rng.below(4)
    }

    fn stmts(&mut self, nest: usize) -> Vec<Stmt> {
        (0..self.rng.below(4)).map(|_| self.stmt(nest)).collect()
    }

    fn stmt(&mut self, nest: usize) -> Stmt {
        let choice = if nest == 0 {
            self.rng.below(6)
        } else {
            self.rng.below(12)
        };
        match choice {
            0 => Stmt::Add(self.rng.below(100) as i32),
            1 => Stmt::ThrowIf {
                bit: self.bit(),
                tag: self.rng.below(3) as u8,
            },
            2 if self.funcs_before > 0 => Stmt::Call(self.rng.below(self.funcs_before)),
            3 => Stmt::BrIf {
                bit: self.bit(),
                label: self.rng.below(self.depth()) as u32,
            },
            4 => {
                let found = (0..self.depth()).find(|&l| self.label(l).0 == Label::TryCatch);
                match found {
                    Some(l) => Stmt::RethrowIf {
                        bit: self.bit(),
                        label: l as u32,
                    },
                    None => Stmt::Add(1),
                }
            }
            5 => {
                let default = self.rng.below(self.depth());
                let arity = self.label(default).1;
                let same: Vec<usize> = (0..self.depth())
                    .filter(|&l| self.label(l).1 == arity)
                    .collect();
                let targets = (0..self.rng.below(3))
                    .map(|_| same[self.rng.below(same.len())] as u32)
                    .collect();
                Stmt::BrTable {
                    targets,
                    default: default as u32,
                }
            }
            6 if nest > 0 => {
                self.labels.push((Label::Plain, 0));
                let body = self.stmts(nest - 1);
                self.labels.pop();
                Stmt::Block(body)
            }
            _ if nest > 0 => self.try_(nest),
            _ => Stmt::Add(2),
        }
    }

    fn try_(&mut self, nest: usize) -> Stmt {
        let shape = self.rng.below(3) as u8;
        let arity = usize::from(shape > 0);
        self.labels.push((Label::TryBody, arity));
        let body = self.stmts(nest - 1);
        if self.rng.below(4) == 0 {
            self.labels.pop();
            let l = self.rng.below(self.depth()) as u32;
            return Stmt::Try {
                shape,
                body,
                end: TryEnd::Delegate(l),
            };
        }
        let mut clauses = Vec::new();
        let mut tags = vec![0u8, 1, 2];
        let n = self.rng.below(4);
        for i in 0..n {
            let tag = if i + 1 == n && self.rng.below(2) == 0 {
                None
            } else if !tags.is_empty() {
                Some(tags.remove(self.rng.below(tags.len())))
            } else {
                continue;
            };
            self.labels.last_mut().unwrap().0 = Label::TryCatch;
            clauses.push((tag, self.stmts(nest - 1)));
        }
        self.labels.pop();
        Stmt::Try {
            shape,
            body,
            end: TryEnd::Catches(clauses),
        }
    }
}

/// Prints trees as WAT, tracking label arities (a branch to an i32 label passes `$x`).
struct Printer {
    out: String,
    arities: Vec<usize>,
}

impl Printer {
    fn w(&mut self, s: &str) {
        self.out.push_str(s);
        self.out.push(' ');
    }

    fn value_for(&self, l: u32) -> &'static str {
        if self.arities[self.arities.len() - 1 - l as usize] == 1 {
            "local.get $x"
        } else {
            ""
        }
    }

    fn stmts(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        match s {
            Stmt::Add(c) => self.w(&format!("local.get $x i32.const {c} i32.add local.set $x")),
            Stmt::ThrowIf { bit, tag } => {
                self.w(&format!("local.get 0 i32.const {bit} i32.and if"));
                self.w(match tag {
                    0 => "throw $e0",
                    1 => "local.get $x throw $e1",
                    _ => "local.get $x i64.const 5 throw $e2",
                });
                self.w("end");
            }
            Stmt::Call(f) => self.w(&format!("local.get $x call $f{f} local.set $x")),
            Stmt::BrIf { bit, label } => {
                let v = self.value_for(*label);
                self.w(&format!(
                    "{v} local.get 0 i32.const {bit} i32.and br_if {label}"
                ));
                if !v.is_empty() {
                    self.w("drop");
                }
            }
            Stmt::RethrowIf { bit, label } => {
                // Inside the `if`, one more label.
                self.w(&format!(
                    "local.get 0 i32.const {bit} i32.and if rethrow {} end",
                    label + 1
                ));
            }
            Stmt::BrTable { targets, default } => {
                let v = self.value_for(*default);
                let mut t = String::new();
                for l in targets {
                    let _ = write!(t, "{} ", l + 1);
                }
                self.w(&format!(
                    "local.get 0 i32.const 3 i32.and if {v} local.get 0 i32.const 2 i32.shr_u br_table {t}{} end",
                    default + 1
                ));
            }
            Stmt::Block(body) => {
                self.w("block");
                self.arities.push(0);
                self.stmts(body);
                self.arities.pop();
                self.w("end");
            }
            Stmt::Try { shape, body, end } => {
                let arity = usize::from(*shape > 0);
                self.w(match shape {
                    0 => "try",
                    1 => "try (result i32)",
                    _ => {
                        "local.get $x i32.const 1 i32.add try (param i32) (result i32) local.set $x"
                    }
                });
                self.arities.push(arity);
                self.stmts(body);
                if arity == 1 {
                    self.w("local.get $x");
                }
                match end {
                    TryEnd::Delegate(l) => {
                        self.arities.pop();
                        self.w(&format!("delegate {l}"));
                    }
                    TryEnd::Catches(clauses) => {
                        for (tag, handler) in clauses {
                            self.w(match tag {
                                None => "catch_all",
                                Some(0) => "catch $e0",
                                Some(1) => "catch $e1 local.set $x",
                                Some(_) => "catch $e2 drop local.set $x",
                            });
                            self.stmts(handler);
                            if arity == 1 {
                                self.w("local.get $x");
                            }
                        }
                        self.arities.pop();
                        self.w("end");
                    }
                }
                if arity == 1 {
                    self.w("local.get $x i32.add local.set $x");
                }
            }
        }
    }
}

/// An exception: its tag and i32 payload (`$e2`'s i64 is always 5).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Exn {
    tag: u8,
    payload: i32,
}

/// How a statement list ended.
enum Flow {
    Normal,
    /// A branch `depth` labels out, carrying `$x` when the label takes a value.
    Br(u32, i32),
    Throw(Exn),
    /// An exception delegated to the label `depth` out.
    Delegate(u32, Exn),
}

/// What a label in the reference interpreter is, for `rethrow`.
#[derive(Clone, Copy)]
enum Ctx {
    Other,
    /// A try inside one of its handlers, with what it caught.
    Handler(Exn),
}

/// The legacy semantics, directly: the oracle the translated module must agree with.
struct Oracle<'a> {
    funcs: &'a [Vec<Stmt>],
    arg: i32,
}

impl Oracle<'_> {
    fn call(funcs: &[Vec<Stmt>], f: usize, arg: i32) -> Result<i32, Exn> {
        let mut o = Oracle { funcs, arg };
        let mut x = 0;
        let mut ctx = vec![Ctx::Other];
        match o.run(&funcs[f], &mut x, &mut ctx) {
            Flow::Normal => Ok(x),
            Flow::Br(_, v) => Ok(v),
            Flow::Throw(e) | Flow::Delegate(_, e) => Err(e),
        }
    }

    fn run(&mut self, stmts: &[Stmt], x: &mut i32, ctx: &mut Vec<Ctx>) -> Flow {
        for s in stmts {
            let flow = self.stmt(s, x, ctx);
            if !matches!(flow, Flow::Normal) {
                return flow;
            }
        }
        Flow::Normal
    }

    /// Runs `stmts` as the contents of a new label `here`; resolves flows aimed at it.
    /// `Ok(Some(v))`: branched to with value v; `Ok(None)`: fell through.
    fn labelled(
        &mut self,
        here: Ctx,
        stmts: &[Stmt],
        x: &mut i32,
        ctx: &mut Vec<Ctx>,
    ) -> Result<Option<i32>, Flow> {
        ctx.push(here);
        let flow = self.run(stmts, x, ctx);
        ctx.pop();
        match flow {
            Flow::Normal => Ok(None),
            Flow::Br(0, v) => Ok(Some(v)),
            Flow::Br(d, v) => Err(Flow::Br(d - 1, v)),
            Flow::Throw(e) => Err(Flow::Throw(e)),
            // Delegated to this label: thrown inside it. A try body offers it to its
            // clauses (or its own delegate), a block or a handler passes it outward.
            Flow::Delegate(0, e) => Err(Flow::Throw(e)),
            Flow::Delegate(d, e) => Err(Flow::Delegate(d - 1, e)),
        }
    }

    fn stmt(&mut self, s: &Stmt, x: &mut i32, ctx: &mut Vec<Ctx>) -> Flow {
        let set = |bit: i32| self.arg & bit != 0;
        match s {
            Stmt::Add(c) => *x = x.wrapping_add(*c),
            Stmt::ThrowIf { bit, tag } => {
                if set(*bit) {
                    return Flow::Throw(Exn {
                        tag: *tag,
                        payload: if *tag == 0 { 0 } else { *x },
                    });
                }
            }
            Stmt::Call(f) => match Oracle::call(self.funcs, *f, *x) {
                Ok(v) => *x = v,
                Err(e) => return Flow::Throw(e),
            },
            Stmt::BrIf { bit, label } => {
                if set(*bit) {
                    return Flow::Br(*label, *x);
                }
            }
            Stmt::RethrowIf { bit, label } => {
                if set(*bit) {
                    match ctx[ctx.len() - 1 - *label as usize] {
                        Ctx::Handler(e) => return Flow::Throw(e),
                        _ => unreachable!("generator only rethrows from handlers"),
                    }
                }
            }
            Stmt::BrTable { targets, default } => {
                if self.arg & 3 != 0 {
                    let i = (self.arg as u32 >> 2) as usize;
                    return Flow::Br(*targets.get(i).unwrap_or(default), *x);
                }
            }
            Stmt::Block(body) => {
                if let Err(flow) = self.labelled(Ctx::Other, body, x, ctx) {
                    return flow;
                }
            }
            Stmt::Try { shape, body, end } => {
                if *shape == 2 {
                    *x = x.wrapping_add(1);
                }
                let value = match self.labelled(Ctx::Other, body, x, ctx) {
                    Ok(v) => v.unwrap_or(*x),
                    Err(Flow::Throw(e)) => match end {
                        // Delegated outward: the target's handling applies there.
                        TryEnd::Delegate(l) => return Flow::Delegate(*l, e),
                        TryEnd::Catches(clauses) => {
                            let Some((tag, handler)) = clauses
                                .iter()
                                .find(|(t, _)| t.is_none() || *t == Some(e.tag))
                            else {
                                return Flow::Throw(e);
                            };
                            if tag.is_some() && e.tag != 0 {
                                *x = e.payload;
                            }
                            match self.labelled(Ctx::Handler(e), handler, x, ctx) {
                                Ok(v) => v.unwrap_or(*x),
                                Err(flow) => return flow,
                            }
                        }
                    },
                    Err(flow) => return flow,
                };
                if *shape > 0 {
                    *x = x.wrapping_add(value);
                }
            }
        }
        Flow::Normal
    }
}

const FUNCS: usize = 3;

fn legacy_program(seed: u64) -> (Vec<Vec<Stmt>>, String) {
    let mut g = Gen {
        rng: Rng::new(seed),
        labels: Vec::new(),
        funcs_before: 0,
    };
    let mut p = Printer {
        out: String::from("(module (tag $e0) (tag $e1 (param i32)) (tag $e2 (param i32 i64))\n"),
        arities: Vec::new(),
    };
    let mut funcs = Vec::new();
    for f in 0..FUNCS {
        g.funcs_before = f;
        g.labels.push((Label::Plain, 1));
        let body: Vec<Stmt> = (0..1 + g.rng.below(3)).map(|_| g.stmt(4)).collect();
        g.labels.pop();
        p.w(&format!(
            "(func $f{f} (export \"f{f}\") (param i32) (result i32) (local $x i32)"
        ));
        p.arities.push(1);
        p.stmts(&body);
        p.arities.pop();
        p.w("local.get $x)\n");
        funcs.push(body);
    }
    p.out.push(')');
    (funcs, p.out)
}

#[test]
fn random_legacy_programs_agree_with_the_legacy_semantics() {
    let mut translated = 0;
    let mut threw = 0;
    for seed in 0..400 {
        let (funcs, text) = legacy_program(seed);
        let wasm = wat::parse_str(&text).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        Validator::new_with_features(
            engine_features() | wasmparser::WasmFeatures::LEGACY_EXCEPTIONS,
        )
        .validate_all(&wasm)
        .unwrap_or_else(|e| panic!("seed {seed}: generator wrote invalid code: {e}\n{text}"));
        if !uses_legacy_eh(&wasm) {
            continue;
        }
        translated += 1;
        let out = translate(&wasm).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        assert!(!uses_legacy_eh(&out));
        let module = compile(&wasm).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        let mut instance = Instance::new(module, None).unwrap();
        for f in 0..FUNCS {
            for arg in 0..16 {
                let expected = Oracle::call(&funcs, f, arg);
                let callee = instance.resolve(Target::Name(&format!("f{f}"))).unwrap();
                let args =
                    crate::value::to_vals(&[Arg::Int(arg.into())], callee.params.iter().cloned())
                        .unwrap();
                let mut step = instance.call(&callee, args, Slice::Dirty, None);
                while let Step::Yield = step {
                    step = instance.proceed(Slice::Dirty);
                }
                let got = match step {
                    Step::Done(v) => Ok(v[0].unwrap_i32()),
                    Step::Failed(Error::Trap(m)) if m == "uncaught wasm exception" => Err(()),
                    Step::Failed(e) => panic!("seed {seed} f{f}({arg}): {e}\n{text}"),
                    _ => panic!("seed {seed}: unexpected step"),
                };
                threw += usize::from(got.is_err());
                assert_eq!(
                    got,
                    expected.map_err(|_| ()),
                    "seed {seed} f{f}({arg})\n{text}"
                );
            }
        }
    }
    assert!(translated > 300, "only {translated} modules used legacy EH");
    assert!(
        threw > 100,
        "only {threw} calls ended in an uncaught exception"
    );
}
