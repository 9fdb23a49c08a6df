//! Mutated snapshots: a snapshot either restores exactly or is refused and changes
//! nothing.
//!
//! The first input byte picks one of a few stateful modules, the rest is given to
//! `deserialize` of an instance brought into a fixed state. Snapshots are judged
//! against this module's own decoder of the documented format (`snapshot.rs`'s
//! header), not against beamr's parser:
//! - refused: the state serialized afterwards is the state before, up to memory or
//!   tables grown with zeros (the one change the format allows a refusal to leave);
//! - accepted: the input is a well-formed snapshot by the format; the instance now
//!   holds the input's memory bytes (zeros after them) and the input's globals, and
//!   the globals it did not name are as before; its new snapshot restores into a fresh
//!   instance and serializes back to the same bytes;
//! - accepted raw (no magic, a BEAMR memory image): memory starts with the input and
//!   the rest of the state is unchanged.

use super::drive;
use beamr_core::{compile, Error, Instance, Options, SnapshotError, Val};
use std::collections::BTreeMap;

/// Stateful modules: every global type a snapshot encodes, function and extern
/// tables, a memory, none, and an empty one that may grow.
pub const MODULES: [&str; 3] = [
    r#"(module
  (memory 1 4)
  (global $a (mut i32) (i32.const 1))
  (global $b (mut i64) (i64.const 2))
  (global $c (mut f32) (f32.const 3))
  (global $d (mut f64) (f64.const 4))
  (global $e (mut v128) (v128.const i64x2 5 6))
  (global $f (mut funcref) (ref.null func))
  (global $g (mut externref) (ref.null extern))
  (global $k i32 (i32.const 9))
  (table $t 4 8 funcref)
  (table $x 2 4 externref)
  (func $one (result i32) i32.const 1)
  (func $two (result i32) i32.const 2)
  (elem (table $t) (i32.const 0) func $one $two $one)
  (data (i32.const 16) "beamr fuzz")
  (func (export "setup")
    (global.set $a (i32.const -7))
    (global.set $b (i64.const 0x7fffffffffffffff))
    (global.set $c (f32.const nan:0x200000))
    (global.set $d (f64.const -0))
    (global.set $e (v128.const i32x4 1 2 3 4))
    (global.set $f (ref.func $two))
    (table.set $t (i32.const 1) (ref.null func))
    (table.set $t (i32.const 3) (ref.func $two))
    (drop (table.grow $t (ref.func $one) (i32.const 1)))
    (drop (memory.grow (i32.const 1)))
    (i32.store (i32.const 70000) (i32.const 0xdeadbeef))
    (i64.store (i32.const 4090) (i64.const -1))))"#,
    r#"(module
  (global $a (mut i32) (i32.const 0))
  (global $b (mut i32) (i32.const 0))
  (table $t 2 funcref)
  (func $f)
  (elem (i32.const 1) $f)
  (func (export "setup")
    (global.set $b (i32.const 42))
    (table.set $t (i32.const 0) (ref.func $f))))"#,
    r#"(module
  (memory 0 2)
  (global $p (mut i64) (i64.const 0))
  (func (export "setup")
    (drop (memory.grow (i32.const 1)))
    (memory.fill (i32.const 100) (i32.const 0x5a) (i32.const 5000))
    (global.set $p (i64.const 100))))"#,
];

/// Tables are small so that no snapshot can make a fuzz iteration fill a big one.
fn options() -> Options {
    Options {
        max_table_elements: 64,
        ..Options::default()
    }
}

/// An instance of module `m` in its fixed state.
pub fn instance(m: usize) -> Instance {
    let module = compile(MODULES[m].as_bytes()).expect("fixed module compiles");
    let mut i = Instance::with_options(module, None, &options()).expect("fixed module starts");
    drive::call(&mut i, "setup", Vec::new(), None).expect("setup runs");
    i
}

/// Valid inputs for the target: each module's snapshots (fresh and set up) and a raw
/// memory image.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (m, wat) in MODULES.iter().enumerate() {
        let module = compile(wat.as_bytes()).unwrap();
        let mut fresh = Instance::with_options(module, None, &options()).unwrap();
        for snap in [fresh.serialize().unwrap(), instance(m).serialize().unwrap()] {
            out.push([&[m as u8][..], &snap].concat());
        }
        out.push([&[m as u8][..], b"raw image"].concat());
    }
    out
}

pub fn check(data: &[u8]) {
    let Some((&pick, input)) = data.split_first() else {
        return;
    };
    let m = pick as usize % MODULES.len();
    let mut i = instance(m);
    let before_bytes = i.serialize().expect("serialize");
    let before = decode(&before_bytes).expect("beamr's own snapshot decodes");
    let result = i.deserialize(input);
    let after_bytes = i.serialize().expect("serialize after deserialize");
    let after = decode(&after_bytes).expect("beamr's own snapshot decodes");
    match result {
        Err(e) => {
            assert!(
                matches!(e, Error::Snapshot(_) | Error::NoMemory),
                "refused with {e:?}"
            );
            let grown = !identical(&before, &after);
            assert!(
                same_up_to_growth(&before, &after),
                "refused snapshot ({e:?}) changed the instance"
            );
            if grown {
                assert!(
                    matches!(&e, Error::Snapshot(SnapshotError::DoesNotFit(m)) if m.contains("grow")),
                    "refusal {e:?} grew the instance"
                );
            }
        }
        Ok(()) if !input.starts_with(b"BEAMRSNP") => {
            let mem = after.memory.as_deref().expect("a raw image needs a memory");
            assert_eq!(&mem[..input.len()], input, "raw image not in memory");
            let old = before.memory.as_deref().unwrap_or(&[]);
            assert!(
                zero_padded_eq(&mem[input.len()..], old.get(input.len()..).unwrap_or(&[])),
                "raw image changed memory past its end"
            );
            assert_eq!(before.globals, after.globals, "raw image changed globals");
            assert!(same_tables(&before, &after), "raw image changed tables");
        }
        Ok(()) => {
            let given = decode(input).expect("accepted a snapshot the format does not allow");
            assert_eq!(
                given.hash, before.hash,
                "accepted another module's snapshot"
            );
            for (index, (tag, value)) in &after.globals {
                let expected = match given.globals.get(index) {
                    Some(g) => g,
                    None => &before.globals[index],
                };
                // A function reference may come back as another slot of the same function.
                if *tag != 5 || value[0] == 0 || expected.1[0] == 0 {
                    assert_eq!((tag, value), (&expected.0, &expected.1), "global {index}");
                }
            }
            assert_eq!(
                before.globals.keys().collect::<Vec<_>>(),
                after.globals.keys().collect::<Vec<_>>()
            );
            match (&given.memory, &after.memory, &before.memory) {
                (Some(g), Some(a), _) => assert!(
                    a.len() >= g.len() && zero_padded_eq(g, a),
                    "memory is not the snapshot's"
                ),
                (None, a, b) => assert_eq!(a, b, "memory changed by a snapshot without one"),
                (Some(_), None, _) => panic!("a memory restored into an instance without one"),
            }
            let mut fresh = instance(m);
            fresh
                .deserialize(&after_bytes)
                .expect("a snapshot beamr wrote restores");
            assert_eq!(
                fresh.serialize().unwrap(),
                after_bytes,
                "restoring a snapshot does not give it back"
            );
        }
    }
    // The instance still runs.
    drive::call(&mut i, "setup", Vec::<Val>::new(), None).expect("setup after restore");
}

/// A table's entries that differ from its initial contents: slot and reference.
pub type Entries = Vec<(u64, Vec<u8>)>;

/// A snapshot as the format describes it, memory expanded.
#[derive(Debug, PartialEq)]
pub struct Decoded {
    pub hash: [u8; 32],
    /// By index (the last entry wins): type tag and value bytes.
    pub globals: BTreeMap<u32, (u8, Vec<u8>)>,
    /// By index: size and the entries differing from the initial table (slot, ref).
    pub tables: BTreeMap<u32, (u64, Entries)>,
    pub memory: Option<Vec<u8>>,
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn reference(&mut self) -> Option<Vec<u8>> {
        match self.u8()? {
            0 => Some(vec![0]),
            1 => Some([&[1][..], self.take(12)?].concat()),
            _ => None,
        }
    }
}

/// Decodes a snapshot by the format's description; `None` if it breaks it.
pub fn decode(bytes: &[u8]) -> Option<Decoded> {
    let (body, crc) = bytes.split_at(bytes.len().checked_sub(4)?);
    if crc32(body).to_le_bytes() != crc {
        return None;
    }
    let mut c = Cursor(body);
    if c.take(8)? != b"BEAMRSNP" || c.u32()? != 1 {
        return None;
    }
    let hash: [u8; 32] = c.take(32)?.try_into().ok()?;
    let mut globals = BTreeMap::new();
    for _ in 0..c.u32()? {
        let index = c.u32()?;
        let tag = c.u8()?;
        let value = match tag {
            0 | 2 => c.take(4)?.to_vec(),
            1 | 3 => c.take(8)?.to_vec(),
            4 => c.take(16)?.to_vec(),
            5 => c.reference()?,
            6 => Vec::new(),
            _ => return None,
        };
        globals.insert(index, (tag, value));
    }
    let mut tables = BTreeMap::new();
    for _ in 0..c.u32()? {
        let index = c.u32()?;
        let size = c.u64()?;
        let mut entries: Entries = Vec::new();
        for _ in 0..c.u32()? {
            let slot = c.u64()?;
            if slot >= size || entries.last().is_some_and(|(s, _)| *s >= slot) {
                return None;
            }
            entries.push((slot, c.reference()?));
        }
        tables.insert(index, (size, entries));
    }
    let memory = match c.u8()? {
        0 => None,
        1 => {
            let len = usize::try_from(c.u64()?).ok()?;
            let chunks = len.div_ceil(4096);
            let bitmap = c.take(chunks.div_ceil(8))?;
            let mut memory = Vec::new();
            for i in 0..chunks {
                let n = 4096.min(len - i * 4096);
                if bitmap[i / 8] & (1 << (i % 8)) != 0 {
                    memory.extend_from_slice(c.take(n)?);
                } else {
                    memory.resize(memory.len() + n, 0);
                }
            }
            Some(memory)
        }
        _ => return None,
    };
    c.0.is_empty().then_some(Decoded {
        hash,
        globals,
        tables,
        memory,
    })
}

/// CRC-32 (IEEE), bit by bit: an independent reference for the checksum.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Equal where both have bytes, and zero where only one has.
fn zero_padded_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n] && a[n..].iter().chain(&b[n..]).all(|&x| x == 0)
}

fn identical(a: &Decoded, b: &Decoded) -> bool {
    a == b
}

/// The same entries, tables of the same or a larger size.
fn same_tables(before: &Decoded, after: &Decoded) -> bool {
    before.tables.len() == after.tables.len()
        && before.tables.iter().all(|(i, (size, entries))| {
            after
                .tables
                .get(i)
                .is_some_and(|(s, e)| s >= size && e == entries)
        })
}

/// `after` is `before` with at most memory and tables grown by zeros and nulls.
fn same_up_to_growth(before: &Decoded, after: &Decoded) -> bool {
    let memory = match (&before.memory, &after.memory) {
        (Some(b), Some(a)) => a.len() >= b.len() && zero_padded_eq(a, b),
        (b, a) => a == b,
    };
    before.hash == after.hash
        && before.globals == after.globals
        && same_tables(before, after)
        && memory
}
