//! Legacy exception handling: generated programs of `try`/`catch`/`catch_all`/
//! `rethrow`/`delegate`, nested with blocks, `br_if`, `br_table`, typed try blocks and
//! calls, are translated on load and must compute what the legacy semantics say.
//!
//! The input drives a small generator that writes valid code by construction, as a
//! tree; an interpreter of that tree under the legacy semantics is the reference. The
//! translated module must validate, hold no legacy instruction, compile, and each
//! function's result or uncaught exception for generated arguments must be the
//! reference's.

use super::drive;
use arbitrary::Unstructured;
use beamr_core::legacy_eh::{translate, uses_legacy_eh};
use beamr_core::proposals::widest_features as engine_features;
use beamr_core::{compile, Error, Instance, Val};
use wasmparser::{Validator, WasmFeatures};

/// Functions per module; each may call the ones before it.
const FUNCS: usize = 3;
/// Deepest nesting of blocks and trys.
const NEST: usize = 4;

#[derive(Debug)]
enum Stmt {
    /// `$x += c`.
    Add(i32),
    /// If bit `b` of the argument is set, throw tag `t` (payload `$x`; `$e2` adds 7:i64).
    Throw {
        b: u8,
        t: u8,
    },
    /// `$x = f{k}($x)`.
    Call(usize),
    /// If bit `b` is set, branch `l` labels out (carrying `$x` if the label takes one).
    BrIf {
        b: u8,
        l: u32,
    },
    /// If bit `b` is set, rethrow what the handler `l` labels out caught.
    Rethrow {
        b: u8,
        l: u32,
    },
    /// `br_table` on the argument's bits 2.., if bits 0-1 are not both clear.
    BrTable(Vec<u32>, u32),
    Block(Vec<Stmt>),
    /// kind 0 `[]->[]`, 1 `[]->[i32]`, 2 `[i32]->[i32]` fed `$x + 1`; a typed try's
    /// value is added to `$x` after it.
    Try {
        kind: u8,
        body: Vec<Stmt>,
        end: End,
    },
}

#[derive(Debug)]
enum End {
    /// `Some(t)`: `catch $e{t}`; `None`: `catch_all` (last).
    Catch(Vec<(Option<u8>, Vec<Stmt>)>),
    Delegate(u32),
}

#[derive(Clone, Copy, PartialEq)]
enum LabelKind {
    Block,
    Try,
    Handler,
}

struct Gen<'a, 'b> {
    u: &'a mut Unstructured<'b>,
    /// Innermost last: kind and whether a branch carries `$x`.
    labels: Vec<(LabelKind, bool)>,
    callable: usize,
}

impl Gen<'_, '_> {
    /// A choice below `n`; 0 once the input is used up.
    fn pick(&mut self, n: usize) -> usize {
        self.u.int_in_range(0..=n - 1).unwrap_or(0)
    }

    fn label(&self, l: usize) -> (LabelKind, bool) {
        self.labels[self.labels.len() - 1 - l]
    }

    fn list(&mut self, nest: usize) -> Vec<Stmt> {
        (0..self.pick(4)).map(|_| self.stmt(nest)).collect()
    }

    fn stmt(&mut self, nest: usize) -> Stmt {
        let depth = self.labels.len();
        match self.pick(if nest == 0 { 6 } else { 9 }) {
            0 => Stmt::Add(self.pick(1000) as i32 - 500),
            1 => Stmt::Throw {
                b: self.pick(5) as u8,
                t: self.pick(3) as u8,
            },
            2 if self.callable > 0 => Stmt::Call(self.pick(self.callable)),
            3 => Stmt::BrIf {
                b: self.pick(5) as u8,
                l: self.pick(depth) as u32,
            },
            4 => match (0..depth).find(|&l| self.label(l).0 == LabelKind::Handler) {
                Some(l) => Stmt::Rethrow {
                    b: self.pick(5) as u8,
                    l: l as u32,
                },
                None => Stmt::Add(1),
            },
            5 => {
                let default = self.pick(depth);
                let carries = self.label(default).1;
                let same: Vec<u32> = (0..depth as u32)
                    .filter(|&l| self.label(l as usize).1 == carries)
                    .collect();
                let targets = (0..self.pick(4))
                    .map(|_| same[self.pick(same.len())])
                    .collect();
                Stmt::BrTable(targets, default as u32)
            }
            6 if nest > 0 => {
                self.labels.push((LabelKind::Block, false));
                let body = self.list(nest - 1);
                self.labels.pop();
                Stmt::Block(body)
            }
            7 | 8 if nest > 0 => self.try_(nest),
            _ => Stmt::Add(3),
        }
    }

    fn try_(&mut self, nest: usize) -> Stmt {
        let kind = self.pick(3) as u8;
        self.labels.push((LabelKind::Try, kind > 0));
        let body = self.list(nest - 1);
        if self.pick(4) == 0 {
            self.labels.pop();
            let l = self.pick(self.labels.len()) as u32;
            return Stmt::Try {
                kind,
                body,
                end: End::Delegate(l),
            };
        }
        let mut clauses = Vec::new();
        let mut tags = vec![0u8, 1, 2];
        for _ in 0..self.pick(4) {
            let tag = if tags.is_empty() || self.pick(3) == 0 {
                None
            } else {
                Some(tags.remove(self.pick(tags.len())))
            };
            self.labels.last_mut().expect("the try's label").0 = LabelKind::Handler;
            clauses.push((tag, self.list(nest - 1)));
            if tag.is_none() {
                break;
            }
        }
        self.labels.pop();
        Stmt::Try {
            kind,
            body,
            end: End::Catch(clauses),
        }
    }
}

/// Writes the tree as WAT; `carries` mirrors the generator's labels.
struct Wat {
    out: String,
    carries: Vec<bool>,
}

impl Wat {
    fn put(&mut self, s: &str) {
        self.out.push_str(s);
        self.out.push('\n');
    }

    fn value(&self, l: u32) -> &'static str {
        if self.carries[self.carries.len() - 1 - l as usize] {
            "local.get $x "
        } else {
            ""
        }
    }

    fn list(&mut self, list: &[Stmt]) {
        list.iter().for_each(|s| self.stmt(s));
    }

    fn stmt(&mut self, s: &Stmt) {
        let bit = |b: &u8| format!("local.get 0 i32.const {} i32.and", 1 << b);
        match s {
            Stmt::Add(c) => self.put(&format!("local.get $x i32.const {c} i32.add local.set $x")),
            Stmt::Throw { b, t } => {
                let throw = match t {
                    0 => "throw $e0",
                    1 => "local.get $x throw $e1",
                    _ => "local.get $x i64.const 7 throw $e2",
                };
                self.put(&format!("{} if {throw} end", bit(b)));
            }
            Stmt::Call(k) => self.put(&format!("local.get $x call $f{k} local.set $x")),
            Stmt::BrIf { b, l } => {
                let v = self.value(*l);
                let drop = if v.is_empty() { "" } else { "drop" };
                self.put(&format!("{v}{} br_if {l} {drop}", bit(b)));
            }
            // The `if` is one more label.
            Stmt::Rethrow { b, l } => self.put(&format!("{} if rethrow {} end", bit(b), l + 1)),
            Stmt::BrTable(targets, default) => {
                let v = self.value(*default);
                let t: String = targets.iter().map(|l| format!("{} ", l + 1)).collect();
                self.put(&format!(
                    "local.get 0 i32.const 3 i32.and if {v}local.get 0 i32.const 2 i32.shr_u br_table {t}{} end",
                    default + 1
                ));
            }
            Stmt::Block(body) => {
                self.put("block");
                self.carries.push(false);
                self.list(body);
                self.carries.pop();
                self.put("end");
            }
            Stmt::Try { kind, body, end } => {
                let typed = *kind > 0;
                self.put(match kind {
                    0 => "try",
                    1 => "try (result i32)",
                    _ => {
                        "local.get $x i32.const 1 i32.add try (param i32) (result i32) local.set $x"
                    }
                });
                let value = if typed { "local.get $x" } else { "" };
                self.carries.push(typed);
                self.list(body);
                self.put(value);
                match end {
                    End::Delegate(l) => {
                        self.carries.pop();
                        self.put(&format!("delegate {l}"));
                    }
                    End::Catch(clauses) => {
                        for (tag, handler) in clauses {
                            self.put(match tag {
                                None => "catch_all",
                                Some(0) => "catch $e0",
                                Some(1) => "catch $e1 local.set $x",
                                Some(_) => "catch $e2 drop local.set $x",
                            });
                            self.list(handler);
                            self.put(value);
                        }
                        self.carries.pop();
                        self.put("end");
                    }
                }
                if typed {
                    self.put("local.get $x i32.add local.set $x");
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Exn {
    tag: u8,
    payload: i32,
}

/// How running a statement list ended.
enum Flow {
    Next,
    Br(u32, i32),
    Throw(Exn),
    /// Delegated to the label `n` out.
    Delegate(u32, Exn),
}

/// The legacy semantics of a tree, for argument `arg`.
struct Reference<'a> {
    funcs: &'a [Vec<Stmt>],
    arg: i32,
    /// Innermost last: what each enclosing handler caught (`None` for other labels).
    caught: Vec<Option<Exn>>,
}

fn reference(funcs: &[Vec<Stmt>], f: usize, arg: i32) -> Result<i32, Exn> {
    let mut r = Reference {
        funcs,
        arg,
        caught: vec![None],
    };
    let mut x = 0;
    match r.list(&funcs[f], &mut x) {
        Flow::Next => Ok(x),
        Flow::Br(_, v) => Ok(v),
        Flow::Throw(e) | Flow::Delegate(_, e) => Err(e),
    }
}

impl Reference<'_> {
    fn set(&self, b: u8) -> bool {
        self.arg & (1 << b) != 0
    }

    fn list(&mut self, list: &[Stmt], x: &mut i32) -> Flow {
        for s in list {
            match self.stmt(s, x) {
                Flow::Next => {}
                other => return other,
            }
        }
        Flow::Next
    }

    /// Runs `list` under a new label; `Ok(Some(v))` when branched to with `v`.
    fn under(
        &mut self,
        caught: Option<Exn>,
        list: &[Stmt],
        x: &mut i32,
    ) -> Result<Option<i32>, Flow> {
        self.caught.push(caught);
        let flow = self.list(list, x);
        self.caught.pop();
        match flow {
            Flow::Next => Ok(None),
            Flow::Br(0, v) => Ok(Some(v)),
            Flow::Br(l, v) => Err(Flow::Br(l - 1, v)),
            Flow::Throw(e) | Flow::Delegate(0, e) => Err(Flow::Throw(e)),
            Flow::Delegate(l, e) => Err(Flow::Delegate(l - 1, e)),
        }
    }

    fn stmt(&mut self, s: &Stmt, x: &mut i32) -> Flow {
        match s {
            Stmt::Add(c) => *x = x.wrapping_add(*c),
            Stmt::Throw { b, t } if self.set(*b) => {
                let payload = if *t == 0 { 0 } else { *x };
                return Flow::Throw(Exn { tag: *t, payload });
            }
            Stmt::Throw { .. } => {}
            Stmt::Call(k) => match reference(self.funcs, *k, *x) {
                Ok(v) => *x = v,
                Err(e) => return Flow::Throw(e),
            },
            Stmt::BrIf { b, l } if self.set(*b) => return Flow::Br(*l, *x),
            Stmt::BrIf { .. } => {}
            Stmt::Rethrow { b, l } if self.set(*b) => {
                let e = self.caught[self.caught.len() - 1 - *l as usize];
                return Flow::Throw(e.expect("the generator rethrows only in handlers"));
            }
            Stmt::Rethrow { .. } => {}
            Stmt::BrTable(targets, default) if self.arg & 3 != 0 => {
                let i = (self.arg as u32 >> 2) as usize;
                return Flow::Br(*targets.get(i).unwrap_or(default), *x);
            }
            Stmt::BrTable(..) => {}
            Stmt::Block(body) => {
                if let Err(flow) = self.under(None, body, x) {
                    return flow;
                }
            }
            Stmt::Try { kind, body, end } => {
                if *kind == 2 {
                    *x = x.wrapping_add(1);
                }
                let value = match (self.under(None, body, x), end) {
                    (Ok(v), _) => v.unwrap_or(*x),
                    (Err(Flow::Throw(e)), End::Delegate(l)) => return Flow::Delegate(*l, e),
                    (Err(Flow::Throw(e)), End::Catch(clauses)) => {
                        let Some((tag, handler)) = clauses
                            .iter()
                            .find(|(t, _)| t.is_none() || *t == Some(e.tag))
                        else {
                            return Flow::Throw(e);
                        };
                        if tag.is_some_and(|t| t != 0) {
                            *x = e.payload;
                        }
                        match self.under(Some(e), handler, x) {
                            Ok(v) => v.unwrap_or(*x),
                            Err(flow) => return flow,
                        }
                    }
                    (Err(flow), _) => return flow,
                };
                if *kind > 0 {
                    *x = x.wrapping_add(value);
                }
            }
        }
        Flow::Next
    }
}

/// The generated program: its trees and its WAT.
fn program(u: &mut Unstructured) -> (Vec<Vec<Stmt>>, String) {
    let mut wat = Wat {
        out: "(module (tag $e0) (tag $e1 (param i32)) (tag $e2 (param i32 i64))\n".into(),
        carries: Vec::new(),
    };
    let mut funcs = Vec::new();
    for f in 0..FUNCS {
        let mut g = Gen {
            u,
            labels: vec![(LabelKind::Block, true)],
            callable: f,
        };
        let n = 1 + g.pick(3);
        let body: Vec<Stmt> = (0..n).map(|_| g.stmt(NEST)).collect();
        wat.put(&format!(
            "(func $f{f} (export \"f{f}\") (param i32) (result i32) (local $x i32)"
        ));
        wat.carries.push(true);
        wat.list(&body);
        wat.carries.pop();
        wat.put("local.get $x)");
        funcs.push(body);
    }
    wat.out.push(')');
    (funcs, wat.out)
}

pub fn check(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let (funcs, text) = program(&mut u);
    let wasm =
        wat::parse_str(&text).unwrap_or_else(|e| panic!("generator wrote bad WAT: {e}\n{text}"));
    Validator::new_with_features(engine_features() | WasmFeatures::LEGACY_EXCEPTIONS)
        .validate_all(&wasm)
        .unwrap_or_else(|e| panic!("generator wrote invalid code: {e}\n{text}"));
    if !uses_legacy_eh(&wasm) {
        return;
    }
    let out = translate(&wasm).unwrap_or_else(|e| panic!("translation failed: {e}\n{text}"));
    Validator::new_with_features(engine_features())
        .validate_all(&out)
        .unwrap_or_else(|e| panic!("translation is invalid: {e}\n{text}"));
    assert!(!uses_legacy_eh(&out), "legacy instructions left\n{text}");
    let module = compile(&wasm).unwrap_or_else(|e| panic!("compile failed: {e}\n{text}"));
    let mut instance = Instance::new(module, None).expect("starts");
    let mut args: Vec<i32> = (0..8).collect();
    while let Ok(a) = u.arbitrary::<i32>() {
        if args.len() >= 24 {
            break;
        }
        args.push(a);
    }
    for f in 0..FUNCS {
        for &arg in &args {
            let expected = reference(&funcs, f, arg).map_err(|_| ());
            let got = match drive::call(&mut instance, &format!("f{f}"), vec![Val::I32(arg)], None)
            {
                Ok(v) => Ok(v[0].unwrap_i32()),
                Err(Error::Trap(m)) if m == "uncaught wasm exception" => Err(()),
                Err(e) => panic!("f{f}({arg}) failed: {e}\n{text}"),
            };
            assert_eq!(got, expected, "f{f}({arg})\n{text}");
        }
    }
}
