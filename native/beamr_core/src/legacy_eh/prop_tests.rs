//! Properties over generated modules: wasm-smith modules (which never use the legacy
//! encoding) pass through byte-identical, and randomly nested legacy try/catch/
//! catch_all/rethrow/delegate/br programs translate to modules that validate, compile
//! and run to either a value or an uncaught-exception error.

use super::{engine_features, prepare, translate, uses_legacy_eh};
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

#[derive(Clone, Copy, PartialEq)]
enum Label {
    Plain,
    TryBody,
    TryCatch,
}

/// Writes random, valid-by-construction legacy EH code. Every label carries one i32
/// or none; `$x` is the scratch local the statements fold values into.
struct Gen {
    rng: Rng,
    out: String,
    /// Innermost last: (what it is, how many i32 a branch to it carries).
    labels: Vec<(Label, usize)>,
    funcs_before: usize,
}

impl Gen {
    fn w(&mut self, s: &str) {
        self.out.push_str(s);
        self.out.push(' ');
    }

    fn depth(&self) -> usize {
        self.labels.len()
    }

    fn stmts(&mut self, nest: usize) {
        for _ in 0..self.rng.below(4) {
            self.stmt(nest);
        }
    }

    fn throw(&mut self) {
        match self.rng.below(3) {
            0 => self.w("throw $e0"),
            1 => self.w("local.get $x throw $e1"),
            _ => self.w("local.get $x i64.const 5 throw $e2"),
        }
    }

    fn branch_to(&mut self, l: usize) -> String {
        let arity = self.labels[self.depth() - 1 - l].1;
        if arity == 1 {
            "local.get $x ".into()
        } else {
            String::new()
        }
    }

    fn stmt(&mut self, nest: usize) {
        let choice = if nest == 0 {
            self.rng.below(5)
        } else {
            self.rng.below(11)
        };
        match choice {
            0 => {
                let c = self.rng.below(100);
                self.w(&format!("local.get $x i32.const {c} i32.add local.set $x"));
            }
            1 => {
                let bit = 1 << self.rng.below(4);
                self.w(&format!("local.get 0 i32.const {bit} i32.and if"));
                self.throw();
                self.w("end");
            }
            2 => {
                if self.funcs_before > 0 {
                    let f = self.rng.below(self.funcs_before);
                    self.w(&format!("local.get $x call $f{f} local.set $x"));
                }
            }
            3 => {
                // br_if to a random label, the value dropped when not taken.
                let l = self.rng.below(self.depth());
                let v = self.branch_to(l);
                let bit = 1 << self.rng.below(4);
                self.w(&format!("{v}local.get 0 i32.const {bit} i32.and br_if {l}"));
                if !v.is_empty() {
                    self.w("drop");
                }
            }
            4 => {
                // Rethrow, guarded, from the innermost enclosing handler if any.
                let found = (0..self.depth())
                    .find(|&l| self.labels[self.depth() - 1 - l].0 == Label::TryCatch);
                if let Some(l) = found {
                    let bit = 1 << self.rng.below(4);
                    self.w(&format!(
                        "local.get 0 i32.const {bit} i32.and if rethrow {}",
                        l + 1
                    ));
                    self.w("end");
                }
            }
            5 => {
                // br_table over labels of one arity, inside an `if` (one more label).
                let default = self.rng.below(self.depth());
                let arity = self.labels[self.depth() - 1 - default].1;
                let same: Vec<usize> = (0..self.depth())
                    .filter(|&l| self.labels[self.depth() - 1 - l].1 == arity)
                    .collect();
                let mut targets = String::new();
                for _ in 0..self.rng.below(3) {
                    let _ = write!(targets, "{} ", same[self.rng.below(same.len())] + 1);
                }
                let v = self.branch_to(default);
                let default = default + 1;
                self.w(&format!(
                    "local.get 0 i32.const 3 i32.and if {v}local.get 0 i32.const 2 i32.shr_u br_table {targets}{default} end"
                ));
            }
            6 => {
                self.labels.push((Label::Plain, 0));
                self.w("block");
                self.stmts(nest - 1);
                self.w("end");
                self.labels.pop();
            }
            _ => self.try_(nest),
        }
    }

    fn try_(&mut self, nest: usize) {
        // 0: [] -> [], 1: [] -> [i32], 2: [i32] -> [i32].
        let shape = self.rng.below(3);
        let arity = usize::from(shape > 0);
        match shape {
            0 => self.w("try"),
            1 => self.w("try (result i32)"),
            _ => {
                self.w("local.get $x i32.const 1 i32.add try (param i32) (result i32) local.set $x")
            }
        }
        self.labels.push((Label::TryBody, arity));
        self.stmts(nest - 1);
        if arity == 1 {
            self.w("local.get $x");
        }
        if self.rng.below(4) == 0 {
            self.labels.pop();
            let l = self.rng.below(self.depth());
            self.w(&format!("delegate {l}"));
        } else {
            let n = self.rng.below(4);
            let mut tags = vec![0, 1, 2];
            for i in 0..n {
                let last = i + 1 == n;
                if last && self.rng.below(2) == 0 {
                    self.w("catch_all");
                } else if !tags.is_empty() {
                    match tags.remove(self.rng.below(tags.len())) {
                        0 => self.w("catch $e0"),
                        1 => self.w("catch $e1 local.set $x"),
                        _ => self.w("catch $e2 drop local.set $x"),
                    }
                } else {
                    continue;
                }
                self.labels.last_mut().unwrap().0 = Label::TryCatch;
                self.stmts(nest - 1);
                if arity == 1 {
                    self.w("local.get $x");
                }
            }
            self.labels.pop();
            self.w("end");
        }
        if arity == 1 {
            self.w("local.get $x i32.add local.set $x");
        }
    }
}

fn legacy_module(seed: u64) -> String {
    let mut g = Gen {
        rng: Rng::new(seed),
        out: String::from("(module (tag $e0) (tag $e1 (param i32)) (tag $e2 (param i32 i64))\n"),
        labels: Vec::new(),
        funcs_before: 0,
    };
    for f in 0..3 {
        g.funcs_before = f;
        g.w(&format!(
            "(func $f{f} (export \"f{f}\") (param i32) (result i32) (local $x i32)"
        ));
        g.labels.push((Label::Plain, 1));
        for _ in 0..1 + g.rng.below(3) {
            g.stmt(4);
        }
        g.labels.pop();
        g.w("local.get $x)\n");
    }
    g.out.push(')');
    g.out
}

#[test]
fn random_legacy_programs_translate_validate_and_run() {
    let mut translated = 0;
    for seed in 0..400 {
        let text = legacy_module(seed);
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
        for f in 0..3 {
            for input in [0, 5, 10, 15] {
                let callee = instance.resolve(Target::Name(&format!("f{f}"))).unwrap();
                let args = crate::value::to_vals(&[Arg::Int(input)], callee.params.iter().cloned())
                    .unwrap();
                let mut step = instance.call(&callee, args, Slice::Dirty, None);
                while let Step::Yield = step {
                    step = instance.proceed(Slice::Dirty);
                }
                match step {
                    Step::Done(_) => {}
                    Step::Failed(Error::Trap(m)) if m == "uncaught wasm exception" => {}
                    Step::Failed(e) => panic!("seed {seed} f{f}({input}): {e}\n{text}"),
                    _ => panic!("seed {seed}: unexpected step"),
                }
            }
        }
    }
    assert!(translated > 300, "only {translated} modules used legacy EH");
}
