//! The snapshot format: an instance's whole mutable state as one binary.
//!
//! Layout (integers little-endian):
//! ```text
//! magic "BEAMRSNP" | version u32 | module SHA-256 [32]
//! globals: count u32, then per global: index u32, type u8, value
//! tables:  count u32, then per table: index u32, size u64, count u32,
//!          then per entry differing from the module's initial table: slot u64, ref
//! memory:  present u8; if 1: bytes u64, chunk bitmap (1 bit per 4 KiB chunk, set when
//!          the chunk is not all zeros), then the set chunks' bytes in order
//! crc32 of everything before it, u32
//! ```
//! Value types: 0 i32 (4 bytes), 1 i64 (8), 2 f32 (4), 3 f64 (8), 4 v128 (16), 5 a
//! function reference, 6 a null reference of another type. A function reference is
//! 0 (null) or 1 followed by table u32 and slot u64: the first slot (lowest table, then
//! lowest slot) that held the function when the module was instantiated, which every
//! instance of the module agrees on (`initial_tables.rs` knows the initial tables).
//!
//! The encoding is canonical — the same state gives the same bytes — and all-zero
//! chunks cost one bit. A snapshot is checked completely (structure, checksum, module,
//! fit) before anything is changed. Input without the magic is a BEAMR snapshot: raw
//! linear memory, written at offset 0 (growing memory to hold it).

use crate::error::{Error, SnapshotError};
use crate::initial_tables::{Initial, InitialFuncs, Was};
use crate::zero_pages::{self, is_zero};
use wasmtime::{AsContextMut, Func, Global, Memory, Ref, Table, Val, ValType};

pub const MAGIC: &[u8; 8] = b"BEAMRSNP";
pub const VERSION: u32 = 1;
const CHUNK: usize = 4096;
const PAGE: u64 = 65536;

/// Handles to an instance's state, found through the reserved exports.
#[derive(Default, Clone)]
pub(crate) struct StateRefs {
    pub memory: Option<Memory>,
    pub globals: Vec<(u32, Global)>,
    /// Each table with what it held at instantiation.
    pub tables: Vec<(u32, Table, Initial)>,
}

fn snap(e: SnapshotError) -> Error {
    Error::Snapshot(e)
}

fn chunks(len: usize) -> usize {
    len.div_ceil(CHUNK)
}

fn raw(store: &mut impl AsContextMut, f: &Func) -> usize {
    f.to_raw(&mut *store) as usize
}

fn encode_ref(
    store: &mut impl AsContextMut,
    funcs: &InitialFuncs,
    r: &Ref,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    match r {
        Ref::Func(None) => out.push(0),
        Ref::Func(Some(f)) => {
            let (t, j) =
                funcs
                    .first_slot(raw(store, f))
                    .ok_or(snap(SnapshotError::Unsupported(
                        "a function reference not found in any initial table",
                    )))?;
            out.push(1);
            out.extend_from_slice(&t.to_le_bytes());
            out.extend_from_slice(&j.to_le_bytes());
        }
        _ => {
            return Err(snap(SnapshotError::Unsupported(
                "a non-null reference that is not a function",
            )))
        }
    }
    Ok(())
}

/// Everything but the memory's bytes, and which chunks of memory are not zero.
pub(crate) struct Plan {
    meta: Vec<u8>,
    memory_len: Option<usize>,
    nonzero: Vec<u8>,
    nonzero_bytes: usize,
}

impl Plan {
    /// The snapshot's exact length in bytes.
    pub fn len(&self) -> usize {
        let memory = match self.memory_len {
            None => 1,
            Some(_) => 1 + 8 + self.nonzero.len() + self.nonzero_bytes,
        };
        self.meta.len() + memory + 4
    }
}

/// Scans the state and encodes everything but the memory bytes. `funcs` resolves
/// the functions of the initial tables.
pub(crate) fn plan(
    mut store: impl AsContextMut,
    state: &StateRefs,
    funcs: &InitialFuncs,
    hash: &[u8; 32],
) -> Result<Plan, Error> {
    let mut meta = Vec::with_capacity(64);
    meta.extend_from_slice(MAGIC);
    meta.extend_from_slice(&VERSION.to_le_bytes());
    meta.extend_from_slice(hash);

    meta.extend_from_slice(&(state.globals.len() as u32).to_le_bytes());
    for (index, global) in &state.globals {
        meta.extend_from_slice(&index.to_le_bytes());
        match global.get(&mut store) {
            Val::I32(v) => {
                meta.push(0);
                meta.extend_from_slice(&v.to_le_bytes());
            }
            Val::I64(v) => {
                meta.push(1);
                meta.extend_from_slice(&v.to_le_bytes());
            }
            Val::F32(v) => {
                meta.push(2);
                meta.extend_from_slice(&v.to_le_bytes());
            }
            Val::F64(v) => {
                meta.push(3);
                meta.extend_from_slice(&v.to_le_bytes());
            }
            Val::V128(v) => {
                meta.push(4);
                meta.extend_from_slice(&v.as_u128().to_le_bytes());
            }
            Val::FuncRef(f) => {
                meta.push(5);
                encode_ref(&mut store, funcs, &Ref::Func(f), &mut meta)?;
            }
            other => {
                let null = other.ref_().is_some_and(|r| r.is_null());
                if !null {
                    return Err(snap(SnapshotError::Unsupported(
                        "a global holding a non-function reference",
                    )));
                }
                meta.push(6);
            }
        }
    }

    meta.extend_from_slice(&(state.tables.len() as u32).to_le_bytes());
    for (index, table, initial) in &state.tables {
        let size = table.size(&store);
        meta.extend_from_slice(&index.to_le_bytes());
        meta.extend_from_slice(&size.to_le_bytes());
        let count_at = meta.len();
        meta.extend_from_slice(&0u32.to_le_bytes());
        let mut count = 0u32;
        let mut initial = initial.cursor();
        for slot in 0..size {
            let current = table.get(&mut store, slot).unwrap_or(Ref::Func(None));
            let same = match (&current, initial.at(slot)) {
                (r, Was::Null) => r.is_null(),
                (Ref::Func(Some(f)), Was::Index(index)) => {
                    funcs.index_of(raw(&mut store, f)) == Some(index)
                }
                (Ref::Func(Some(f)), Was::Func(g)) => raw(&mut store, f) == raw(&mut store, &g),
                _ => false,
            };
            if !same {
                meta.extend_from_slice(&slot.to_le_bytes());
                encode_ref(&mut store, funcs, &current, &mut meta)?;
                count += 1;
            }
        }
        meta[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
    }

    let (memory_len, nonzero, nonzero_chunks) = match state.memory {
        None => (None, Vec::new(), 0),
        Some(memory) => {
            let data = memory.data(&store);
            let mut bitmap = vec![0u8; chunks(data.len()).div_ceil(8)];
            let mut n = 0;
            for (i, chunk) in data.chunks(CHUNK).enumerate() {
                if !is_zero(chunk) {
                    bitmap[i / 8] |= 1 << (i % 8);
                    n += chunk.len();
                }
            }
            (Some(data.len()), bitmap, n)
        }
    };
    Ok(Plan {
        meta,
        memory_len,
        nonzero,
        nonzero_bytes: nonzero_chunks,
    })
}

/// Writes the planned snapshot into `out`, which must be exactly `plan.len()` long.
pub(crate) fn write(
    store: impl AsContextMut,
    state: &StateRefs,
    plan: &Plan,
    out: &mut [u8],
) -> Result<(), Error> {
    if out.len() != plan.len() {
        return Err(Error::InvalidState("snapshot buffer of the wrong size"));
    }
    let mut at = 0;
    let mut put = |out: &mut [u8], bytes: &[u8]| {
        out[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(out, &plan.meta);
    match (plan.memory_len, state.memory) {
        (Some(len), Some(memory)) => {
            let data = memory.data(&store);
            if data.len() != len {
                return Err(Error::InvalidState("memory changed while snapshotting"));
            }
            put(out, &[1]);
            put(out, &(len as u64).to_le_bytes());
            put(out, &plan.nonzero);
            for (i, chunk) in data.chunks(CHUNK).enumerate() {
                if plan.nonzero[i / 8] & (1 << (i % 8)) != 0 {
                    put(out, chunk);
                }
            }
        }
        _ => put(out, &[0]),
    }
    let end = out.len() - 4;
    let crc = crc32fast::hash(&out[..end]);
    out[end..].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// A bounds-checked cursor over untrusted snapshot bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self
            .at
            .checked_add(n)
            .ok_or(snap(SnapshotError::Truncated))?;
        let out = self
            .bytes
            .get(self.at..end)
            .ok_or(snap(SnapshotError::Truncated))?;
        self.at = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        Ok(self.take(N)?.try_into().expect("N"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SavedRef {
    Null,
    Slot(u32, u64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SavedVal {
    I32(u32),
    I64(u64),
    F32(u32),
    F64(u64),
    V128(u128),
    Func(SavedRef),
    OtherNull,
}

struct SavedTable {
    index: u32,
    size: u64,
    entries: Vec<(u64, SavedRef)>,
}

/// A parsed, checksum-verified snapshot, borrowing the memory bytes.
pub(crate) struct Parsed<'a> {
    hash: [u8; 32],
    globals: Vec<(u32, SavedVal)>,
    tables: Vec<SavedTable>,
    memory: Option<(u64, &'a [u8], &'a [u8])>,
}

fn read_ref(r: &mut Reader) -> Result<SavedRef, Error> {
    match r.u8()? {
        0 => Ok(SavedRef::Null),
        1 => Ok(SavedRef::Slot(r.u32()?, r.u64()?)),
        _ => Err(snap(SnapshotError::Corrupt)),
    }
}

/// Whether `bytes` start with the snapshot magic (else they are a raw BEAMR snapshot).
pub fn has_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Parses and verifies a snapshot that starts with the magic.
pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed<'_>, Error> {
    let mut r = Reader { bytes, at: 8 };
    let version = r.u32()?;
    if version > VERSION {
        return Err(snap(SnapshotError::Version(version)));
    }
    if version == 0 {
        return Err(snap(SnapshotError::Corrupt));
    }
    let hash = r.array::<32>()?;
    // Counts come from the input: each entry takes at least 5 bytes, so no count can
    // make us allocate more than the input's size.
    let n = r.u32()? as usize;
    let mut globals = Vec::with_capacity(n.min(bytes.len() / 5));
    for _ in 0..n {
        let index = r.u32()?;
        let val = match r.u8()? {
            0 => SavedVal::I32(r.u32()?),
            1 => SavedVal::I64(r.u64()?),
            2 => SavedVal::F32(r.u32()?),
            3 => SavedVal::F64(r.u64()?),
            4 => SavedVal::V128(u128::from_le_bytes(r.array::<16>()?)),
            5 => SavedVal::Func(read_ref(&mut r)?),
            6 => SavedVal::OtherNull,
            _ => return Err(snap(SnapshotError::Corrupt)),
        };
        globals.push((index, val));
    }
    let n = r.u32()? as usize;
    let mut tables = Vec::with_capacity(n.min(bytes.len() / 16));
    for _ in 0..n {
        let index = r.u32()?;
        let size = r.u64()?;
        let count = r.u32()? as usize;
        let mut entries = Vec::with_capacity(count.min(bytes.len() / 9));
        for _ in 0..count {
            let slot = r.u64()?;
            if slot >= size || entries.last().is_some_and(|(s, _)| *s >= slot) {
                return Err(snap(SnapshotError::Corrupt));
            }
            entries.push((slot, read_ref(&mut r)?));
        }
        tables.push(SavedTable {
            index,
            size,
            entries,
        });
    }
    let memory = match r.u8()? {
        0 => None,
        1 => {
            let len = r.u64()?;
            let len_usize = usize::try_from(len).map_err(|_| snap(SnapshotError::Corrupt))?;
            let bitmap = r.take(chunks(len_usize).div_ceil(8))?;
            let mut data_len = 0usize;
            for i in 0..chunks(len_usize) {
                if bitmap[i / 8] & (1 << (i % 8)) != 0 {
                    data_len += CHUNK.min(len_usize - i * CHUNK);
                }
            }
            let data = r.take(data_len)?;
            Some((len, bitmap, data))
        }
        _ => return Err(snap(SnapshotError::Corrupt)),
    };
    let crc_at = r.at;
    let crc = r.u32()?;
    if r.at != bytes.len() || crc32fast::hash(&bytes[..crc_at]) != crc {
        return Err(snap(SnapshotError::Corrupt));
    }
    Ok(Parsed {
        hash,
        globals,
        tables,
        memory,
    })
}

fn to_val(
    saved: SavedVal,
    ty: &ValType,
    funcs: &dyn Fn(SavedRef) -> Option<Option<Func>>,
) -> Option<Val> {
    Some(match (saved, ty) {
        (SavedVal::I32(v), ValType::I32) => Val::I32(v as i32),
        (SavedVal::I64(v), ValType::I64) => Val::I64(v as i64),
        (SavedVal::F32(v), ValType::F32) => Val::F32(v),
        (SavedVal::F64(v), ValType::F64) => Val::F64(v),
        (SavedVal::V128(v), ValType::V128) => Val::V128(v.into()),
        (SavedVal::Func(r), ValType::Ref(rt)) if rt.heap_type().is_func() => {
            Val::FuncRef(funcs(r)?)
        }
        (SavedVal::OtherNull, ValType::Ref(rt)) if rt.is_nullable() => {
            Val::null_ref(rt.heap_type())
        }
        _ => return None,
    })
}

fn does_not_fit(m: impl Into<String>) -> Error {
    snap(SnapshotError::DoesNotFit(m.into()))
}

/// Restores a parsed snapshot into the instance whose state `state` describes
/// (`funcs` resolving the functions of its initial tables; its memory starting as
/// kernel zero pages from offset `fresh_from`, when known). Everything is checked
/// before the first change; only growing memory or a table can fail after that (a
/// limit), leaving the instance grown but otherwise unchanged.
pub(crate) fn restore(
    mut store: impl AsContextMut,
    state: &StateRefs,
    initial_funcs: &InitialFuncs,
    hash: &[u8; 32],
    parsed: &Parsed,
    fresh_from: Option<u64>,
) -> Result<(), Error> {
    if &parsed.hash != hash {
        return Err(snap(SnapshotError::WrongModule));
    }
    let funcs = |r: SavedRef| -> Option<Option<Func>> {
        match r {
            SavedRef::Null => Some(None),
            SavedRef::Slot(t, j) => {
                let (_, _, initial) = state.tables.iter().find(|(i, _, _)| *i == t)?;
                Some(Some(initial_funcs.handle_of(initial.at(j))?))
            }
        }
    };
    // Check every value against this instance before touching anything.
    let mut global_vals = Vec::with_capacity(parsed.globals.len());
    for (index, saved) in &parsed.globals {
        let (_, global) = state
            .globals
            .iter()
            .find(|(i, _)| i == index)
            .ok_or_else(|| does_not_fit(format!("no mutable global {index}")))?;
        let ty = global.ty(&store).content().clone();
        let val = to_val(*saved, &ty, &funcs)
            .ok_or_else(|| does_not_fit(format!("global {index} has another type")))?;
        global_vals.push((*global, val));
    }
    let mut table_sets = Vec::with_capacity(parsed.tables.len());
    for saved in &parsed.tables {
        let (_, table, initial) = state
            .tables
            .iter()
            .find(|(i, _, _)| *i == saved.index)
            .ok_or_else(|| does_not_fit(format!("no table {}", saved.index)))?;
        if !table.ty(&store).element().heap_type().is_func() && !saved.entries.is_empty() {
            return Err(does_not_fit(format!(
                "table {} is not of functions",
                saved.index
            )));
        }
        let mut entries = Vec::with_capacity(saved.entries.len());
        for (slot, r) in &saved.entries {
            let f = funcs(*r).ok_or_else(|| does_not_fit("a reference to no function"))?;
            entries.push((*slot, f));
        }
        table_sets.push((*table, initial, saved.size, entries));
    }
    if parsed.memory.is_some() && state.memory.is_none() {
        return Err(does_not_fit("the instance has no memory"));
    }

    // Grow first: the only step that may still fail.
    if let (Some((len, _, _)), Some(memory)) = (parsed.memory, state.memory) {
        let have = memory.data_size(&store) as u64;
        if len > have {
            let pages = (len - have).div_ceil(PAGE);
            memory
                .grow(&mut store, pages)
                .map_err(|_| does_not_fit(format!("memory cannot grow to {len} bytes")))?;
        }
    }
    for (table, _, size, _) in &table_sets {
        let have = table.size(&store);
        if *size > have {
            let init = Ref::null(table.ty(&store).element().heap_type());
            table
                .grow(&mut store, size - have, init)
                .map_err(|_| does_not_fit(format!("table cannot grow to {size}")))?;
        }
    }

    for (global, val) in global_vals {
        global
            .set(&mut store, val)
            .map_err(|e| does_not_fit(format!("{e}")))?;
    }
    for (table, initial, size, entries) in table_sets {
        let have = table.size(&store);
        let null = Ref::null(table.ty(&store).element().heap_type());
        let mut initial = initial.cursor();
        let mut next = entries.into_iter().peekable();
        for slot in 0..have {
            let value = match next.peek() {
                Some((s, f)) if *s == slot => {
                    let f = *f;
                    next.next();
                    Ref::Func(f)
                }
                _ if slot < size => match initial_funcs.handle_of(initial.at(slot)) {
                    Some(f) => Ref::Func(Some(f)),
                    None => null.clone(),
                },
                _ => null.clone(),
            };
            table
                .set(&mut store, slot, value)
                .map_err(|e| does_not_fit(format!("{e}")))?;
        }
    }
    if let (Some((len, bitmap, data)), Some(memory)) = (parsed.memory, state.memory) {
        let target = memory.data_mut(&mut store);
        let len = len as usize;
        let mut from = 0;
        // Everything between the saved chunks is cleared, a gap at a time, so that fresh
        // pages go back to the kernel in one call per gap (see `zero_pages.rs`). Memory
        // cannot shrink: the gap after the last saved chunk runs to its end.
        let mut restored_to = 0;
        for i in (0..chunks(len)).filter(|i| bitmap[i / 8] & (1 << (i % 8)) != 0) {
            let (start, end) = (i * CHUNK, ((i + 1) * CHUNK).min(len));
            zero_pages::clear(
                &mut target[restored_to..start],
                restored_to as u64,
                fresh_from,
            );
            target[start..end].copy_from_slice(&data[from..from + end - start]);
            from += end - start;
            restored_to = end;
        }
        zero_pages::clear(&mut target[restored_to..], restored_to as u64, fresh_from);
    }
    Ok(())
}

/// Restores a BEAMR snapshot: raw memory written at offset 0, growing memory to fit.
pub(crate) fn restore_raw(
    mut store: impl AsContextMut,
    state: &StateRefs,
    bytes: &[u8],
) -> Result<(), Error> {
    let memory = state.memory.ok_or(Error::NoMemory)?;
    let have = memory.data_size(&store) as u64;
    let len = bytes.len() as u64;
    if len > have {
        memory
            .grow(&mut store, (len - have).div_ceil(PAGE))
            .map_err(|_| does_not_fit(format!("memory cannot grow to {len} bytes")))?;
    }
    memory.data_mut(&mut store)[..bytes.len()].copy_from_slice(bytes);
    Ok(())
}
