//! One function body, from legacy exception handling to `try_table`/`throw_ref`.
//!
//! A `try bt ... catch $t1 h1 ... catch_all hn end` with n clauses becomes
//!
//! ```text
//! block $outer bt                          ;; the try's label: `br` to the try lands here
//!   block $h(n-1) [P] -> [E(n-1) exnref?]
//!     ...
//!       block $h0 [P] -> [E0 exnref?]
//!         try_table bt (catch[_ref] $t1 $h0) ... (catch_all[_ref] $h(n-1))
//!           body
//!         end
//!         br $outer
//!       end
//!       (local.set $exn)?  h1  br $outer
//!     ...
//!   end
//!   (local.set $exn)?  hn
//! end
//! ```
//!
//! Clauses take the `_ref` form, parking the exception in a fresh `exnref` local, only
//! for a try that some `rethrow` names; `rethrow` becomes `local.get $exn; throw_ref`.
//!
//! `try ... delegate l` becomes `try_table bt (catch_all_ref $pad) ... end`, where
//! `$pad` is a `[P] -> [exnref]` block wrapping the body of the try the exception is
//! delegated to (the innermost try in its body state, at or outside label l), followed
//! by `throw_ref` inside that try's `try_table`: the exception skips every handler in
//! between and is rethrown where the target's clauses see it. Delegating to the caller
//! uses a pad around the whole function body, whose `throw_ref` no handler covers.
//!
//! Adding blocks shifts label depths, so every branch is remapped: each original label
//! records the absolute depth of the output block it now names, and a relative depth
//! is recomputed from the output's current nesting.

use super::module_info::{ModuleInfo, Sig};
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{BlockType, Catch, Function, Instruction, ValType};
use wasmparser::{FunctionBody, Operator, OperatorsReader};

/// Errors stay plain text here; `legacy_eh.rs` adds the function and the context.
type Error = String;

fn err(what: impl std::fmt::Display) -> Error {
    what.to_string()
}

/// Where an exception leaving a given point of a function goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    /// The clauses of the try with this ordinal (in order of appearance).
    Try(usize),
    /// A `try_table` of the original code (mixed encodings).
    TryTable,
    /// Out of the function.
    Caller,
}

#[derive(Debug, Clone, Copy)]
enum Clause {
    Tag(u32),
    All,
}

/// What the first pass learns about one `try`.
#[derive(Debug)]
struct TryPlan {
    clauses: Vec<Clause>,
    /// Where a `delegate` ending this try sends exceptions.
    delegate: Option<Escape>,
    /// Where exceptions leaving this try's region go.
    escape: Escape,
    /// Some `rethrow` names one of its handlers.
    rethrown: bool,
    /// Some `delegate` sends exceptions to its clauses.
    pad: bool,
}

#[derive(Debug, Clone, Copy)]
enum ScanFrame {
    Function,
    Other,
    TryTable,
    Try { ord: usize, in_catch: bool },
}

/// The innermost handler at or outside `stack[from]`.
fn escape_from(stack: &[ScanFrame], from: usize) -> Escape {
    for frame in stack[..=from].iter().rev() {
        match frame {
            ScanFrame::Function => return Escape::Caller,
            ScanFrame::TryTable => return Escape::TryTable,
            ScanFrame::Try {
                ord,
                in_catch: false,
            } => return Escape::Try(*ord),
            _ => {}
        }
    }
    Escape::Caller
}

fn label(stack_len: usize, depth: u32) -> Result<usize, Error> {
    stack_len
        .checked_sub(1 + depth as usize)
        .ok_or_else(|| err(format!("label {depth} out of range")))
}

/// First pass: every try's clauses, delegate target and whether it is rethrown.
/// `None` when the body has no legacy instruction.
fn scan(body: &FunctionBody<'_>) -> Result<Option<(Vec<TryPlan>, bool)>, Error> {
    let mut tries: Vec<TryPlan> = Vec::new();
    let mut stack = vec![ScanFrame::Function];
    let mut legacy = false;
    let mut ops = body.get_operators_reader().map_err(err)?;
    while !ops.eof() {
        match ops.read().map_err(err)? {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                stack.push(ScanFrame::Other)
            }
            Operator::TryTable { .. } => stack.push(ScanFrame::TryTable),
            Operator::Try { .. } => {
                legacy = true;
                let escape = escape_from(&stack, stack.len() - 1);
                stack.push(ScanFrame::Try {
                    ord: tries.len(),
                    in_catch: false,
                });
                tries.push(TryPlan {
                    clauses: Vec::new(),
                    delegate: None,
                    escape,
                    rethrown: false,
                    pad: false,
                });
            }
            op @ (Operator::Catch { .. } | Operator::CatchAll) => {
                legacy = true;
                let Some(ScanFrame::Try { ord, in_catch }) = stack.last_mut() else {
                    return Err(err("catch outside a try"));
                };
                *in_catch = true;
                tries[*ord].clauses.push(match op {
                    Operator::Catch { tag_index } => Clause::Tag(tag_index),
                    _ => Clause::All,
                });
            }
            Operator::Delegate { relative_depth } => {
                legacy = true;
                let Some(ScanFrame::Try { ord, .. }) = stack.pop() else {
                    return Err(err("delegate outside a try"));
                };
                let from = label(stack.len(), relative_depth)?;
                tries[ord].delegate = Some(escape_from(&stack, from));
            }
            Operator::Rethrow { relative_depth } => {
                legacy = true;
                match stack[label(stack.len(), relative_depth)?] {
                    ScanFrame::Try {
                        ord,
                        in_catch: true,
                    } => tries[ord].rethrown = true,
                    _ => return Err(err("rethrow outside a catch")),
                }
            }
            Operator::End => {
                stack.pop();
            }
            _ => {}
        }
    }
    if !legacy {
        return Ok(None);
    }
    // A try without clauses catches nothing: what is delegated to it goes where its
    // own delegate sends it, or else on outward. Targets are always further out, so
    // this ends.
    let mut caller_pad = false;
    for i in 0..tries.len() {
        let Some(mut target) = tries[i].delegate else {
            continue;
        };
        while let Escape::Try(k) = target {
            if !tries[k].clauses.is_empty() {
                break;
            }
            target = tries[k].delegate.unwrap_or(tries[k].escape);
        }
        tries[i].delegate = Some(target);
        match target {
            Escape::Try(k) => tries[k].pad = true,
            Escape::Caller => caller_pad = true,
            Escape::TryTable => {
                return Err(err("delegate to a try_table is not supported"));
            }
        }
    }
    Ok(Some((tries, caller_pad)))
}

#[derive(Debug)]
enum Kind {
    /// block, loop, if, try_table, the function, a clause-less or delegating try.
    Plain,
    /// A try with clauses; `seen` counts the clauses reached so far.
    Try { ord: usize, seen: usize },
}

#[derive(Debug)]
struct Frame {
    /// Absolute depth (function block = 0) of the output block a branch here targets.
    target: u32,
    kind: Kind,
}

struct Emitter<'m> {
    info: &'m mut ModuleInfo,
    func: Function,
    frames: Vec<Frame>,
    /// Open blocks in the output, the function's own included.
    depth: u32,
    tries: Vec<TryPlan>,
    next_try: usize,
    /// Absolute depth of each try's pad block, once open.
    pads: Vec<Option<u32>>,
    caller_pad: bool,
    exn_locals: Vec<Option<u32>>,
}

impl Emitter<'_> {
    fn emit(&mut self, ins: &Instruction<'_>) {
        self.func.instruction(ins);
    }

    /// Opens an output block that is not an original label.
    fn open(&mut self, ins: &Instruction<'_>) {
        self.emit(ins);
        self.depth += 1;
    }

    fn close(&mut self) {
        self.emit(&Instruction::End);
        self.depth -= 1;
    }

    /// Opens an output block that an original label names.
    fn open_label(&mut self, ins: &Instruction<'_>, kind: Kind) {
        self.frames.push(Frame {
            target: self.depth,
            kind,
        });
        self.open(ins);
    }

    /// The output relative depth of original label `depth`.
    fn remap(&self, depth: u32) -> Result<u32, Error> {
        let frame = &self.frames[label(self.frames.len(), depth)?];
        Ok(self.relative(frame.target))
    }

    fn relative(&self, absolute: u32) -> u32 {
        self.depth - 1 - absolute
    }

    fn sig_of(&self, bt: wasmparser::BlockType) -> Result<Sig, Error> {
        Ok(match bt {
            wasmparser::BlockType::Empty => Sig {
                params: vec![],
                results: vec![],
            },
            wasmparser::BlockType::Type(t) => Sig {
                params: vec![],
                results: vec![RoundtripReencoder.val_type(t).map_err(err)?],
            },
            wasmparser::BlockType::FuncType(i) => self.info.sig(i)?.clone(),
        })
    }

    fn block_type(&mut self, sig: Sig) -> BlockType {
        match (sig.params.is_empty(), sig.results.as_slice()) {
            (true, []) => BlockType::Empty,
            (true, [t]) => BlockType::Result(*t),
            _ => BlockType::FunctionType(self.info.intern(sig)),
        }
    }

    fn try_start(&mut self, bt: wasmparser::BlockType) -> Result<(), Error> {
        let ord = self.next_try;
        self.next_try += 1;
        let plan = &self.tries[ord];
        let enc_bt = RoundtripReencoder.block_type(bt).map_err(err)?;
        if let Some(target) = plan.delegate {
            let pad = match target {
                Escape::Try(k) => self.pads[k].ok_or_else(|| err("delegate target not open"))?,
                Escape::Caller => 1,
                Escape::TryTable => return Err(err("delegate to a try_table")),
            };
            let catch = Catch::AllRef {
                label: self.relative(pad),
            };
            self.open_label(
                &Instruction::TryTable(enc_bt, vec![catch].into()),
                Kind::Plain,
            );
            return Ok(());
        }
        if plan.clauses.is_empty() {
            self.open_label(&Instruction::Block(enc_bt), Kind::Plain);
            return Ok(());
        }
        let (clauses, rethrown, pad) = (plan.clauses.clone(), plan.rethrown, plan.pad);
        let sig = self.sig_of(bt)?;
        self.open_label(&Instruction::Block(enc_bt), Kind::Try { ord, seen: 0 });
        for clause in clauses.iter().rev() {
            let mut results = match clause {
                Clause::Tag(t) => {
                    let ty = *self
                        .info
                        .tags
                        .get(*t as usize)
                        .ok_or_else(|| err(format!("no tag {t}")))?;
                    self.info.sig(ty)?.params.clone()
                }
                Clause::All => vec![],
            };
            if rethrown {
                results.push(ValType::EXNREF);
            }
            let landing = self.block_type(Sig {
                params: sig.params.clone(),
                results,
            });
            self.open(&Instruction::Block(landing));
        }
        let catches: Vec<Catch> = clauses
            .iter()
            .enumerate()
            .map(|(i, clause)| {
                let label = i as u32;
                match (clause, rethrown) {
                    (Clause::Tag(tag), false) => Catch::One { tag: *tag, label },
                    (Clause::Tag(tag), true) => Catch::OneRef { tag: *tag, label },
                    (Clause::All, false) => Catch::All { label },
                    (Clause::All, true) => Catch::AllRef { label },
                }
            })
            .collect();
        self.open(&Instruction::TryTable(enc_bt, catches.into()));
        if pad {
            let pad_bt = self.block_type(Sig {
                params: sig.params,
                results: vec![ValType::EXNREF],
            });
            self.pads[ord] = Some(self.depth);
            self.open(&Instruction::Block(pad_bt));
        }
        Ok(())
    }

    fn catch(&mut self) -> Result<(), Error> {
        let Some(Frame {
            target,
            kind: Kind::Try { ord, seen },
        }) = self.frames.last_mut()
        else {
            return Err(err("catch without its try"));
        };
        let (target, ord, first) = (*target, *ord, *seen == 0);
        *seen += 1;
        if first {
            if self.tries[ord].pad {
                // Falling off the body leaves the try_table; a delegated exception
                // reaches the pad's end and is rethrown inside the try_table.
                self.emit(&Instruction::Br(1));
                self.close();
                self.emit(&Instruction::ThrowRef);
                self.pads[ord] = None;
            }
            self.close(); // try_table
        }
        self.emit(&Instruction::Br(self.relative(target)));
        self.close(); // this clause's landing block
        if self.tries[ord].rethrown {
            let local = self.exn_locals[ord].ok_or_else(|| err("no exnref local"))?;
            self.emit(&Instruction::LocalSet(local));
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), Error> {
        let frame = self.frames.pop().ok_or_else(|| err("unbalanced end"))?;
        if let Kind::Try { seen: 0, .. } = frame.kind {
            return Err(err("try with clauses ended without a catch"));
        }
        if self.frames.is_empty() && self.caller_pad {
            self.emit(&Instruction::Return);
            self.close();
            self.emit(&Instruction::ThrowRef);
        }
        self.close();
        Ok(())
    }

    fn rethrow(&mut self, depth: u32) -> Result<(), Error> {
        let frame = &self.frames[label(self.frames.len(), depth)?];
        let Kind::Try { ord, seen } = frame.kind else {
            return Err(err("rethrow target is not a try"));
        };
        if seen == 0 {
            return Err(err("rethrow outside a catch"));
        }
        let local = self.exn_locals[ord].ok_or_else(|| err("no exnref local"))?;
        self.emit(&Instruction::LocalGet(local));
        self.emit(&Instruction::ThrowRef);
        Ok(())
    }

    fn op(&mut self, op: Operator<'_>) -> Result<(), Error> {
        match op {
            Operator::Try { blockty } => return self.try_start(blockty),
            Operator::Catch { .. } | Operator::CatchAll => return self.catch(),
            Operator::Delegate { .. } => {
                self.frames.pop();
                self.close();
                return Ok(());
            }
            Operator::Rethrow { relative_depth } => return self.rethrow(relative_depth),
            Operator::End => return self.end(),
            _ => {}
        }
        let opens = matches!(
            op,
            Operator::Block { .. }
                | Operator::Loop { .. }
                | Operator::If { .. }
                | Operator::TryTable { .. }
        );
        let mut ins = RoundtripReencoder.instruction(op).map_err(err)?;
        match &mut ins {
            Instruction::Br(l)
            | Instruction::BrIf(l)
            | Instruction::BrOnNull(l)
            | Instruction::BrOnNonNull(l)
            | Instruction::BrOnCast {
                relative_depth: l, ..
            }
            | Instruction::BrOnCastFail {
                relative_depth: l, ..
            } => *l = self.remap(*l)?,
            Instruction::BrTable(targets, default) => {
                *targets = targets
                    .iter()
                    .map(|l| self.remap(*l))
                    .collect::<Result<Vec<_>, _>>()?
                    .into();
                *default = self.remap(*default)?;
            }
            Instruction::TryTable(_, catches) => {
                let mut remapped = catches.to_vec();
                for c in remapped.iter_mut() {
                    let (Catch::One { label, .. }
                    | Catch::OneRef { label, .. }
                    | Catch::All { label }
                    | Catch::AllRef { label }) = c;
                    *label = self.remap(*label)?;
                }
                *catches = remapped.into();
            }
            _ => {}
        }
        if opens {
            self.open_label(&ins, Kind::Plain);
        } else {
            self.emit(&ins);
        }
        Ok(())
    }
}

/// Translates one body, or `None` if it has no legacy instruction. `params` is the
/// function's parameter count (fresh locals are numbered after the existing ones).
pub(super) fn translate(
    body: &FunctionBody<'_>,
    params: u32,
    info: &mut ModuleInfo,
) -> Result<Option<Function>, Error> {
    let Some((tries, caller_pad)) = scan(body)? else {
        return Ok(None);
    };
    let mut locals = Vec::new();
    let mut next_local = params;
    for pair in body.get_locals_reader().map_err(err)? {
        let (count, ty) = pair.map_err(err)?;
        next_local = next_local
            .checked_add(count)
            .ok_or_else(|| err("too many locals"))?;
        locals.push((count, RoundtripReencoder.val_type(ty).map_err(err)?));
    }
    let mut exn_locals = Vec::with_capacity(tries.len());
    for plan in &tries {
        exn_locals.push(if plan.rethrown {
            next_local += 1;
            Some(next_local - 1)
        } else {
            None
        });
    }
    let added = exn_locals.iter().flatten().count() as u32;
    if added > 0 {
        locals.push((added, ValType::EXNREF));
    }
    let mut e = Emitter {
        info,
        func: Function::new(locals),
        frames: vec![Frame {
            target: 0,
            kind: Kind::Plain,
        }],
        depth: 1,
        pads: vec![None; tries.len()],
        tries,
        next_try: 0,
        caller_pad,
        exn_locals,
    };
    if caller_pad {
        e.open(&Instruction::Block(BlockType::Result(ValType::EXNREF)));
    }
    let mut ops: OperatorsReader<'_> = body.get_operators_reader().map_err(err)?;
    while !ops.eof() {
        let offset = ops.original_position();
        let op = ops.read().map_err(err)?;
        e.op(op)
            .map_err(|x| err(format!("at offset {offset:#x}: {x}")))?;
    }
    Ok(Some(e.func))
}
