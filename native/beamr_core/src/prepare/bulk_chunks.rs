//! A load-time rewrite that bounds the time one bulk memory instruction can run.
//!
//! wasmtime checks the epoch at function entries and loop heads, and `memory.fill` or
//! `memory.copy` is a single instruction: one over a large range holds its scheduler
//! for as long as the copy takes (seconds over gigabytes of a memory64 memory), and
//! neither `stop` nor a deadline can end it. So every `memory.fill` and
//! `memory.copy` in a function body becomes a call of a helper appended to the module,
//! which does the work in [`CHUNK`]-byte pieces in a loop (one epoch check per piece).
//! The helpers keep the instructions' semantics: a range out of bounds traps before
//! anything is written (the helper lets the original instruction trap), and a copy
//! runs backwards when the destination is above the source (the two may overlap: in
//! one memory, or in one memory imported under two indices). Operations of at most
//! one chunk, nearly all of them, take a fast path straight to the instruction.
//! Helpers go after every existing function and their types after every existing type,
//! so no index in the module moves; modules without bulk memory instructions pass
//! through untouched. On the deterministic engine a chunked operation costs the
//! helper's instructions in fuel, so its fuel grows with its length.

use super::rewrite::{bytes, copy_section, finish_valid};
use crate::error::Error;
use crate::proposals::widest_features;
use std::borrow::Cow;
use std::collections::BTreeMap;
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{BlockType, Function, Instruction, ValType};
use wasmparser::{FunctionBody, Operator, Parser, Payload, TypeRef, Validator};

/// The most bytes one step of a helper fills or copies: about a microsecond over
/// memory in use, four page faults over fresh memory. A first touch of a page can be
/// slow on a virtual machine, so a step over fresh memory must touch only a few pages
/// for the epoch check after it to come in time; a smaller step costs no throughput,
/// since the work per byte is the same.
pub const CHUNK: u64 = 1 << 14;

/// `bytes` with its bulk memory instructions chunked, borrowed when there are none.
/// Bytes that do not validate come back as they are, for wasmtime to report on.
pub fn bound(bytes: &[u8]) -> Result<Cow<'_, [u8]>, Error> {
    if !uses_bulk_memory(bytes)
        || Validator::new_with_features(widest_features())
            .validate_all(bytes)
            .is_err()
    {
        return Ok(Cow::Borrowed(bytes));
    }
    rewrite(bytes).map(Cow::Owned)
}

/// Whether any function body holds `memory.fill` or `memory.copy`.
pub fn uses_bulk_memory(wasm: &[u8]) -> bool {
    Parser::new(0).parse_all(wasm).any(|payload| match payload {
        Ok(Payload::CodeSectionEntry(body)) => body_uses_bulk_memory(&body),
        _ => false,
    })
}

fn body_uses_bulk_memory(body: &FunctionBody) -> bool {
    let Ok(mut ops) = body.get_operators_reader() else {
        return false;
    };
    while !ops.eof() {
        match ops.read() {
            Ok(Operator::MemoryFill { .. } | Operator::MemoryCopy { .. }) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

fn fail(what: impl std::fmt::Display) -> Error {
    Error::Compile(format!("chunking bulk memory: {what}"))
}

/// A helper to add: what it does, to which memories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Helper {
    Fill { mem: u32 },
    Copy { dst: u32, src: u32 },
}

/// The module facts the rewrite needs.
#[derive(Default)]
struct Shape {
    /// Whether each memory (imported ones first) is a memory64 one.
    memory64: Vec<bool>,
    types: u32,
    imported_funcs: u32,
    defined_funcs: u32,
}

impl Shape {
    fn of(wasm: &[u8]) -> Result<Shape, Error> {
        let mut shape = Shape::default();
        for payload in Parser::new(0).parse_all(wasm) {
            match payload.map_err(fail)? {
                Payload::TypeSection(reader) => {
                    for group in reader {
                        shape.types += group.map_err(fail)?.types().len() as u32;
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        match import.map_err(fail)?.ty {
                            TypeRef::Func(_) | TypeRef::FuncExact(_) => shape.imported_funcs += 1,
                            TypeRef::Memory(m) => shape.memory64.push(m.memory64),
                            _ => {}
                        }
                    }
                }
                Payload::MemorySection(reader) => {
                    for memory in reader {
                        shape.memory64.push(memory.map_err(fail)?.memory64);
                    }
                }
                Payload::FunctionSection(reader) => shape.defined_funcs = reader.count(),
                _ => {}
            }
        }
        Ok(shape)
    }

    fn is64(&self, mem: u32) -> Result<bool, Error> {
        self.memory64
            .get(mem as usize)
            .copied()
            .ok_or_else(|| fail(format!("no memory {mem}")))
    }

    /// The helper for an instruction, if it is one this rewrite chunks.
    fn helper_for(&self, op: &Operator) -> Result<Option<Helper>, Error> {
        Ok(match *op {
            Operator::MemoryFill { mem } => {
                self.is64(mem)?;
                Some(Helper::Fill { mem })
            }
            Operator::MemoryCopy { dst_mem, src_mem } => {
                self.is64(dst_mem)?;
                self.is64(src_mem)?;
                Some(Helper::Copy {
                    dst: dst_mem,
                    src: src_mem,
                })
            }
            _ => None,
        })
    }
}

fn rewrite(wasm: &[u8]) -> Result<Vec<u8>, Error> {
    let shape = Shape::of(wasm)?;
    let mut bodies = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::CodeSectionEntry(body) = payload.map_err(fail)? {
            bodies.push(body);
        }
    }
    // Helpers in a fixed order (so the output is a function of the input alone).
    let mut helpers: BTreeMap<Helper, u32> = BTreeMap::new();
    for body in &bodies {
        let mut ops = body.get_operators_reader().map_err(fail)?;
        while !ops.eof() {
            if let Some(h) = shape.helper_for(&ops.read().map_err(fail)?)? {
                helpers.insert(h, 0);
            }
        }
    }
    let first_helper = shape.imported_funcs + shape.defined_funcs;
    for (n, index) in helpers.values_mut().enumerate() {
        *index = first_helper + n as u32;
    }

    let mut code = wasm_encoder::CodeSection::new();
    for body in &bodies {
        if body_uses_bulk_memory(body) {
            code.function(&reencode_body(body, &shape, &helpers)?);
        } else {
            code.raw(bytes(wasm, body.range()).ok_or_else(|| fail("a body out of range"))?);
        }
    }
    // Helper types, appended: one per address type and kind.
    let mut helper_types: Vec<(Helper, u32)> = Vec::new();
    for (n, h) in helpers.keys().enumerate() {
        helper_types.push((*h, shape.types + n as u32));
        code.function(&helper_body(*h, &shape)?);
    }

    let mut module = wasm_encoder::Module::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(fail)?;
        match &payload {
            Payload::TypeSection(reader) => {
                let mut types = wasm_encoder::TypeSection::new();
                RoundtripReencoder
                    .parse_type_section(&mut types, reader.clone())
                    .map_err(fail)?;
                for (h, _) in &helper_types {
                    let params = match *h {
                        Helper::Fill { mem } => {
                            let a = addr_type(shape.is64(mem)?);
                            [a, ValType::I32, a]
                        }
                        Helper::Copy { dst, src } => {
                            let (dst64, src64) = (shape.is64(dst)?, shape.is64(src)?);
                            // The length has the smaller of the two address types.
                            [
                                addr_type(dst64),
                                addr_type(src64),
                                addr_type(dst64 && src64),
                            ]
                        }
                    };
                    types.ty().function(params, []);
                }
                module.section(&types);
            }
            Payload::FunctionSection(reader) => {
                let mut funcs = wasm_encoder::FunctionSection::new();
                for ty in reader.clone() {
                    funcs.function(ty.map_err(fail)?);
                }
                for (_, ty) in &helper_types {
                    funcs.function(*ty);
                }
                module.section(&funcs);
            }
            Payload::CodeSectionStart { .. } => {
                module.section(&code);
            }
            other => copy_section(&mut module, wasm, other)
                .ok_or_else(|| fail("a section out of range"))?,
        }
    }
    finish_valid(module).map_err(|e| {
        fail(format!(
            "the rewritten module is invalid (a beamr bug): {e}"
        ))
    })
}

fn addr_type(is64: bool) -> ValType {
    if is64 {
        ValType::I64
    } else {
        ValType::I32
    }
}

/// A body with its chunked instructions replaced by calls of their helpers.
fn reencode_body(
    body: &FunctionBody,
    shape: &Shape,
    helpers: &BTreeMap<Helper, u32>,
) -> Result<Function, Error> {
    let mut locals = Vec::new();
    for pair in body.get_locals_reader().map_err(fail)? {
        let (count, ty) = pair.map_err(fail)?;
        locals.push((count, RoundtripReencoder.val_type(ty).map_err(fail)?));
    }
    let mut f = Function::new(locals);
    let mut ops = body.get_operators_reader().map_err(fail)?;
    while !ops.eof() {
        let op = ops.read().map_err(fail)?;
        match shape.helper_for(&op)?.and_then(|h| helpers.get(&h)) {
            Some(&index) => f.instruction(&Instruction::Call(index)),
            None => f.instruction(&RoundtripReencoder.instruction(op).map_err(fail)?),
        };
    }
    Ok(f)
}

/// Emits a helper body's instructions with 64-bit arithmetic throughout, converting
/// at the edges for 32-bit operands.
struct Emit {
    f: Function,
}

impl Emit {
    fn op(&mut self, ins: Instruction) -> &mut Self {
        self.f.instruction(&ins);
        self
    }
    /// The value on the stack, an i64 when `is64` else an i32, as an i64.
    fn widen(&mut self, is64: bool) -> &mut Self {
        if !is64 {
            self.op(Instruction::I64ExtendI32U);
        }
        self
    }
    /// An i64 on the stack, as an i64 when `is64` else an i32.
    fn narrow(&mut self, is64: bool) -> &mut Self {
        if !is64 {
            self.op(Instruction::I32WrapI64);
        }
        self
    }
    fn get(&mut self, local: u32) -> &mut Self {
        self.op(Instruction::LocalGet(local))
    }
    fn set(&mut self, local: u32) -> &mut Self {
        self.op(Instruction::LocalSet(local))
    }
    fn chunk(&mut self) -> &mut Self {
        self.op(Instruction::I64Const(CHUNK as i64))
    }
    /// The size of memory `mem` (of address type `is64`) in bytes, as an i64.
    fn size_of(&mut self, mem: u32, is64: bool) -> &mut Self {
        self.op(Instruction::MemorySize(mem))
            .widen(is64)
            .op(Instruction::I64Const(16))
            .op(Instruction::I64Shl)
    }
    /// Pushes whether `[start, start + len)` (i64 locals) reaches past `size` (an i64
    /// local): `len > size || start > size - len`, which cannot overflow.
    fn out_of_bounds(&mut self, start: u32, len: u32, size: u32) -> &mut Self {
        self.get(len)
            .get(size)
            .op(Instruction::I64GtU)
            .get(start)
            .get(size)
            .get(len)
            .op(Instruction::I64Sub)
            .op(Instruction::I64GtU)
            .op(Instruction::I32Or)
    }
}

/// The body of a helper. Parameters: `fill(dst, value, len)` in the memory's address
/// type; `copy(dst, src, len)` in the destination's, the source's, and the smaller of
/// the two address types.
fn helper_body(h: Helper, shape: &Shape) -> Result<Function, Error> {
    match h {
        Helper::Fill { mem } => Ok(fill_body(mem, shape.is64(mem)?)),
        Helper::Copy { dst, src } => Ok(copy_body(dst, src, shape.is64(dst)?, shape.is64(src)?)),
    }
}

fn fill_body(mem: u32, is64: bool) -> Function {
    // Parameters 0 dst, 1 value, 2 len; locals 3 dst64, 4 len64, 5 size.
    let (dst, value, len, dst64, len64, size) = (0, 1, 2, 3, 4, 5);
    let mut e = Emit {
        f: Function::new([(3, ValType::I64)]),
    };
    let fill = Instruction::MemoryFill(mem);
    // One chunk or less: the instruction itself.
    e.get(len).widen(is64).chunk().op(Instruction::I64LeU);
    e.op(Instruction::If(BlockType::Empty));
    e.get(dst)
        .get(value)
        .get(len)
        .op(fill.clone())
        .op(Instruction::Return);
    e.op(Instruction::End);
    e.get(dst)
        .widen(is64)
        .set(dst64)
        .get(len)
        .widen(is64)
        .set(len64);
    e.size_of(mem, is64).set(size);
    // Out of bounds: the instruction traps before writing anything.
    e.out_of_bounds(dst64, len64, size);
    e.op(Instruction::If(BlockType::Empty));
    e.get(dst)
        .get(value)
        .get(len)
        .op(fill.clone())
        .op(Instruction::Unreachable);
    e.op(Instruction::End);
    e.op(Instruction::Loop(BlockType::Empty));
    e.get(dst64)
        .narrow(is64)
        .get(value)
        .chunk()
        .narrow(is64)
        .op(fill.clone());
    e.get(dst64).chunk().op(Instruction::I64Add).set(dst64);
    e.get(len64)
        .chunk()
        .op(Instruction::I64Sub)
        .op(Instruction::LocalTee(len64));
    e.chunk().op(Instruction::I64GtU).op(Instruction::BrIf(0));
    e.op(Instruction::End);
    e.get(dst64)
        .narrow(is64)
        .get(value)
        .get(len64)
        .narrow(is64)
        .op(fill);
    e.op(Instruction::End);
    e.f
}

fn copy_body(dst_mem: u32, src_mem: u32, dst_is64: bool, src_is64: bool) -> Function {
    // Parameters 0 dst, 1 src, 2 len; locals 3 dst64, 4 src64, 5 len64, 6 dst size,
    // 7 src size.
    let (dst, src, len, dst64, src64, len64, dst_size, src_size) = (0, 1, 2, 3, 4, 5, 6, 7);
    let len_is64 = dst_is64 && src_is64;
    let mut e = Emit {
        f: Function::new([(5, ValType::I64)]),
    };
    let copy = Instruction::MemoryCopy { src_mem, dst_mem };
    e.get(len).widen(len_is64).chunk().op(Instruction::I64LeU);
    e.op(Instruction::If(BlockType::Empty));
    e.get(dst)
        .get(src)
        .get(len)
        .op(copy.clone())
        .op(Instruction::Return);
    e.op(Instruction::End);
    e.get(dst).widen(dst_is64).set(dst64);
    e.get(src).widen(src_is64).set(src64);
    e.get(len).widen(len_is64).set(len64);
    e.size_of(dst_mem, dst_is64)
        .set(dst_size)
        .size_of(src_mem, src_is64)
        .set(src_size);
    e.out_of_bounds(dst64, len64, dst_size);
    e.out_of_bounds(src64, len64, src_size);
    e.op(Instruction::I32Or);
    e.op(Instruction::If(BlockType::Empty));
    e.get(dst)
        .get(src)
        .get(len)
        .op(copy.clone())
        .op(Instruction::Unreachable);
    e.op(Instruction::End);
    // With the destination above the source, the last chunk goes first, so that no
    // byte is overwritten before it is read. That holds between two memory indices as
    // well: a memory imported twice is one memory at both, and the spec picks the
    // direction by the addresses alone. (Memories of two address types are two
    // memories, where either direction does.)
    e.get(dst64).get(src64).op(Instruction::I64GtU);
    e.op(Instruction::If(BlockType::Empty));
    e.op(Instruction::Loop(BlockType::Empty));
    e.get(len64).chunk().op(Instruction::I64Sub).set(len64);
    e.get(dst64)
        .get(len64)
        .op(Instruction::I64Add)
        .narrow(dst_is64);
    e.get(src64)
        .get(len64)
        .op(Instruction::I64Add)
        .narrow(src_is64);
    e.chunk().narrow(len_is64).op(copy.clone());
    e.get(len64)
        .chunk()
        .op(Instruction::I64GtU)
        .op(Instruction::BrIf(0));
    e.op(Instruction::End);
    e.get(dst)
        .get(src)
        .get(len64)
        .narrow(len_is64)
        .op(copy.clone())
        .op(Instruction::Return);
    e.op(Instruction::End);
    e.op(Instruction::Loop(BlockType::Empty));
    e.get(dst64)
        .narrow(dst_is64)
        .get(src64)
        .narrow(src_is64)
        .chunk()
        .narrow(len_is64)
        .op(copy.clone());
    e.get(dst64).chunk().op(Instruction::I64Add).set(dst64);
    e.get(src64).chunk().op(Instruction::I64Add).set(src64);
    e.get(len64)
        .chunk()
        .op(Instruction::I64Sub)
        .op(Instruction::LocalTee(len64));
    e.chunk().op(Instruction::I64GtU).op(Instruction::BrIf(0));
    e.op(Instruction::End);
    e.get(dst64)
        .narrow(dst_is64)
        .get(src64)
        .narrow(src_is64)
        .get(len64)
        .narrow(len_is64)
        .op(copy);
    e.op(Instruction::End);
    e.f
}

#[cfg(test)]
mod tests;
