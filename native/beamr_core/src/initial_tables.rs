//! What each table of a module holds when an instance starts, known from the module
//! alone, so that starting an instance reads no table slot.
//!
//! A snapshot lists only the table entries that differ from the module's initial
//! tables, and names a function by the (table, slot) where it first sat initially (see
//! `snapshot.rs`); both need the initial tables. [`InitialTables::derive`] works them out
//! once per compilation from the module's bytes: its active element segments, applied
//! in order over tables that start null. A table whose starting contents depend on
//! anything else is [`TableInit::Unknown`], and an instance reads that table, and only
//! that one, slot by slot when it starts ([`Initial::Read`]): an imported table; a
//! segment whose offset is not a constant (a `global.get` of an imported global, an
//! extended constant expression); an element expression other than `ref.func` or
//! `ref.null`; a table with a non-null initializer; a table that a module with a start
//! function may write (`table.set`, `table.fill`, `table.grow`, `table.init`,
//! `table.copy` into it anywhere in its code); and every table of a module known only
//! as a precompiled artifact. [`InitialFuncs`] is the per-instance half: the function
//! handles behind the function indices, resolved through the hidden `__beamr_func_<i>`
//! exports (see `reserved_exports.rs`) the first time a snapshot or a table read needs
//! them, never at start.

use crate::prepare::reserved_exports;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use wasmparser::{ConstExpr, ElementItems, ElementKind, Operator, Parser, Payload, TypeRef};
use wasmtime::{AsContextMut, Func};

/// A table's contents when an instance starts, as the module determines them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableInit {
    /// Null everywhere but these slots: (slot, function index), by slot.
    Known(Arc<[(u64, u32)]>),
    /// Not determined by the module alone: read when an instance starts.
    Unknown,
}

/// The initial contents of every table of a module.
#[derive(Debug, Default)]
pub struct InitialTables {
    /// By table index (imported tables first); missing ones are unknown.
    tables: Vec<TableInit>,
    /// Each function of a known table: the first (table, slot) holding it.
    first_slot: HashMap<u32, (u32, u64)>,
}

static UNKNOWN: TableInit = TableInit::Unknown;

impl InitialTables {
    /// Nothing known: every table is read when an instance starts.
    pub fn unknown() -> InitialTables {
        InitialTables::default()
    }

    /// Works out the initial tables of a module given as wasm bytes or WAT text.
    /// Input that does not parse gives [`InitialTables::unknown`].
    pub fn derive(bytes: &[u8]) -> InitialTables {
        let wasm: Cow<'_, [u8]> = if bytes.starts_with(b"\0asm") {
            Cow::Borrowed(bytes)
        } else {
            match wat::parse_bytes(bytes) {
                Ok(wasm) => Cow::Owned(wasm.into_owned()),
                Err(_) => return InitialTables::unknown(),
            }
        };
        scan(&wasm).unwrap_or_default()
    }

    /// Table `index`'s initial contents.
    pub fn table(&self, index: u32) -> &TableInit {
        self.tables.get(index as usize).unwrap_or(&UNKNOWN)
    }

    /// The first (table, slot) of the known tables that holds function `index`.
    pub fn first_slot(&self, index: u32) -> Option<(u32, u64)> {
        self.first_slot.get(&index).copied()
    }
}

/// One table as the scan goes: its slots so far, or `None` once it is unknown.
type Slots = Option<BTreeMap<u64, u32>>;

fn scan(wasm: &[u8]) -> Result<InitialTables, wasmparser::BinaryReaderError> {
    let mut tables: Vec<Slots> = Vec::new();
    // The value of each global usable as a constant offset (`None`: not constant).
    let mut globals: Vec<Option<u64>> = Vec::new();
    let mut has_start = false;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::Version { encoding, .. } if encoding != wasmparser::Encoding::Module => {
                return Ok(InitialTables::unknown());
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    match import?.ty {
                        TypeRef::Table(_) => tables.push(None),
                        TypeRef::Global(_) => globals.push(None),
                        _ => {}
                    }
                }
            }
            Payload::TableSection(reader) => {
                for table in reader {
                    tables.push(match table?.init {
                        wasmparser::TableInit::RefNull => Some(BTreeMap::new()),
                        wasmparser::TableInit::Expr(e) => match item(&e) {
                            Some(None) => Some(BTreeMap::new()),
                            _ => None,
                        },
                    });
                }
            }
            Payload::GlobalSection(reader) => {
                for global in reader {
                    let global = global?;
                    let value = match global.ty.mutable {
                        true => None,
                        false => constant(&global.init_expr, &globals),
                    };
                    globals.push(value);
                }
            }
            Payload::StartSection { .. } => has_start = true,
            Payload::ElementSection(reader) => {
                for element in reader {
                    let element = element?;
                    let ElementKind::Active {
                        table_index,
                        offset_expr,
                    } = element.kind
                    else {
                        continue;
                    };
                    let t = table_index.unwrap_or(0) as usize;
                    let Some(Some(slots)) = tables.get_mut(t) else {
                        continue;
                    };
                    let written = constant(&offset_expr, &globals)
                        .and_then(|offset| apply(slots, offset, &element.items).ok()?);
                    if written.is_none() {
                        tables[t] = None;
                    }
                }
            }
            // Only a start function runs wasm before the instance is handed out: then
            // any table its code may write is read at start instead.
            Payload::CodeSectionEntry(body) if has_start => {
                for op in body.get_operators_reader()? {
                    let written = match op? {
                        Operator::TableSet { table }
                        | Operator::TableFill { table }
                        | Operator::TableGrow { table }
                        | Operator::TableInit { table, .. }
                        | Operator::TableCopy {
                            dst_table: table, ..
                        } => table,
                        _ => continue,
                    };
                    if let Some(t) = tables.get_mut(written as usize) {
                        *t = None;
                    }
                }
            }
            _ => {}
        }
    }
    let tables: Vec<TableInit> = tables
        .into_iter()
        .map(|t| match t {
            Some(slots) => TableInit::Known(slots.into_iter().collect()),
            None => TableInit::Unknown,
        })
        .collect();
    let mut first_slot = HashMap::new();
    for (t, init) in tables.iter().enumerate() {
        if let TableInit::Known(entries) = init {
            for &(slot, func) in entries.iter() {
                first_slot.entry(func).or_insert((t as u32, slot));
            }
        }
    }
    Ok(InitialTables { tables, first_slot })
}

/// Writes a segment's items from `offset` on; `Ok(None)` when an item is not a
/// constant function or null (the table is then unknown).
fn apply(
    slots: &mut BTreeMap<u64, u32>,
    offset: u64,
    items: &ElementItems,
) -> Result<Option<()>, wasmparser::BinaryReaderError> {
    let mut put = |i: usize, func: Option<u32>| -> Option<()> {
        let slot = offset.checked_add(i as u64)?;
        match func {
            Some(f) => slots.insert(slot, f),
            None => slots.remove(&slot),
        };
        Some(())
    };
    match items {
        ElementItems::Functions(funcs) => {
            for (i, f) in funcs.clone().into_iter().enumerate() {
                if put(i, Some(f?)).is_none() {
                    return Ok(None);
                }
            }
        }
        ElementItems::Expressions(_, exprs) => {
            for (i, e) in exprs.clone().into_iter().enumerate() {
                let Some(func) = item(&e?) else {
                    return Ok(None);
                };
                if put(i, func).is_none() {
                    return Ok(None);
                }
            }
        }
    }
    Ok(Some(()))
}

/// An element expression's value: `Some(Some(f))` for `ref.func f`, `Some(None)` for
/// a null, `None` for anything else.
fn item(expr: &ConstExpr) -> Option<Option<u32>> {
    let mut ops = expr.get_operators_reader();
    let value = match ops.read().ok()? {
        Operator::RefFunc { function_index } => Some(function_index),
        Operator::RefNull { .. } => None,
        _ => return None,
    };
    matches!(ops.read().ok()?, Operator::End).then_some(value)
}

/// A constant offset's value: `i32.const`, `i64.const` or `global.get` of a global
/// with a known value; `None` for anything else.
fn constant(expr: &ConstExpr, globals: &[Option<u64>]) -> Option<u64> {
    let mut ops = expr.get_operators_reader();
    let value = match ops.read().ok()? {
        Operator::I32Const { value } => value as u32 as u64,
        Operator::I64Const { value } => value as u64,
        Operator::GlobalGet { global_index } => (*globals.get(global_index as usize)?)?,
        _ => return None,
    };
    matches!(ops.read().ok()?, Operator::End).then_some(value)
}

/// A table's contents at instantiation as one instance sees them.
#[derive(Clone)]
pub(crate) enum Initial {
    /// From the module: (slot, function index), by slot.
    Known(Arc<[(u64, u32)]>),
    /// Read from the instance when it started, slot by slot.
    Read(Arc<[Option<Func>]>),
}

/// Answers "what did slot `s` hold at instantiation" for increasing `s`.
pub(crate) struct Cursor<'a> {
    initial: &'a Initial,
    next: usize,
}

/// What a slot held at instantiation.
#[derive(Clone, Copy)]
pub(crate) enum Was {
    Null,
    /// A function of the module, by index.
    Index(u32),
    /// A function read at start.
    Func(Func),
}

impl Initial {
    pub fn cursor(&self) -> Cursor<'_> {
        Cursor {
            initial: self,
            next: 0,
        }
    }

    /// What `slot` held, looked up directly.
    pub fn at(&self, slot: u64) -> Was {
        match self {
            Initial::Known(entries) => match entries.binary_search_by_key(&slot, |e| e.0) {
                Ok(i) => Was::Index(entries[i].1),
                Err(_) => Was::Null,
            },
            Initial::Read(funcs) => match usize::try_from(slot).ok().and_then(|s| funcs.get(s)) {
                Some(Some(f)) => Was::Func(*f),
                _ => Was::Null,
            },
        }
    }
}

impl Cursor<'_> {
    /// What `slot` held; slots must come in increasing order.
    pub fn at(&mut self, slot: u64) -> Was {
        match self.initial {
            Initial::Known(entries) => {
                while entries.get(self.next).is_some_and(|e| e.0 < slot) {
                    self.next += 1;
                }
                match entries.get(self.next) {
                    Some(&(s, func)) if s == slot => Was::Index(func),
                    _ => Was::Null,
                }
            }
            read => read.at(slot),
        }
    }
}

/// The functions of an instance's initial tables, resolved in its store.
pub(crate) struct InitialFuncs {
    tables: Arc<InitialTables>,
    /// Function index by `Func::to_raw` address, for every function an element
    /// segment names.
    by_raw: HashMap<usize, u32>,
    /// The handle of every function an element segment names, by function index.
    by_index: HashMap<u32, Func>,
    /// The first (table, slot) of each function of the tables read at start.
    read_first: HashMap<usize, (u32, u64)>,
}

impl InitialFuncs {
    /// Resolves the hidden function exports of `handle`, an instance of `module`
    /// whose initial tables are `initial` and whose tables are `tables` (index, handle,
    /// initial contents; by index).
    pub fn resolve(
        mut store: impl AsContextMut,
        handle: &wasmtime::Instance,
        module: &wasmtime::Module,
        initial: &Arc<InitialTables>,
        tables: &[(u32, wasmtime::Table, Initial)],
    ) -> InitialFuncs {
        let mut by_raw = HashMap::new();
        let mut by_index = HashMap::new();
        for export in module.exports() {
            let Some(index) = reserved_exports::func_index(export.name()) else {
                continue;
            };
            if let Some(func) = handle.get_func(&mut store, export.name()) {
                by_raw.insert(func.to_raw(&mut store) as usize, index);
                by_index.insert(index, func);
            }
        }
        let mut read_first = HashMap::new();
        for (t, _, initial) in tables {
            if let Initial::Read(funcs) = initial {
                for (slot, f) in funcs.iter().enumerate() {
                    if let Some(f) = f {
                        read_first
                            .entry(f.to_raw(&mut store) as usize)
                            .or_insert((*t, slot as u64));
                    }
                }
            }
        }
        InitialFuncs {
            tables: initial.clone(),
            by_raw,
            by_index,
            read_first,
        }
    }

    /// The function index of the function at `raw`, if an element segment names it.
    pub fn index_of(&self, raw: usize) -> Option<u32> {
        self.by_raw.get(&raw).copied()
    }

    /// The handle of function `index`, if an element segment names it.
    pub fn func(&self, index: u32) -> Option<Func> {
        self.by_index.get(&index).copied()
    }

    /// The function a slot held at instantiation, as a handle.
    pub fn handle_of(&self, was: Was) -> Option<Func> {
        match was {
            Was::Null => None,
            Was::Index(index) => self.func(index),
            Was::Func(f) => Some(f),
        }
    }

    /// The first (table, slot) that held the function at `raw` at instantiation,
    /// over every table in index order.
    pub fn first_slot(&self, raw: usize) -> Option<(u32, u64)> {
        let known = self
            .index_of(raw)
            .and_then(|index| self.tables.first_slot(index));
        let read = self.read_first.get(&raw).copied();
        match (known, read) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(wat: &str) -> Vec<TableInit> {
        InitialTables::derive(wat.as_bytes()).tables
    }

    fn entries(e: &[(u64, u32)]) -> TableInit {
        TableInit::Known(e.into())
    }

    #[test]
    fn active_segments_apply_in_order_and_nulls_clear() {
        let wat = r#"(module (table 8 funcref) (table 4 funcref)
            (func $a) (func $b) (func $c)
            (elem (i32.const 1) $a $b $c)
            (elem (i32.const 2) funcref (ref.func $a) (ref.null func))
            (elem (table 1) (i32.const 0) func $c)
            (elem declare func $b)
            (elem funcref (ref.func $c)))"#;
        assert_eq!(
            known(wat),
            vec![entries(&[(1, 0), (2, 0)]), entries(&[(0, 2)])]
        );
        let init = InitialTables::derive(wat.as_bytes());
        assert_eq!(init.first_slot(0), Some((0, 1)));
        assert_eq!(init.first_slot(2), Some((1, 0)));
        assert_eq!(init.first_slot(1), None);
    }

    #[test]
    fn offsets_from_constant_globals_are_known_and_from_imports_are_not() {
        let wat = r#"(module
            (import "env" "base" (global $base i32))
            (global $k i32 (i32.const 3))
            (table 8 funcref) (table 8 funcref) (func $a)
            (elem (table 0) (global.get $k) func $a)
            (elem (table 1) (global.get $base) func $a))"#;
        assert_eq!(known(wat), vec![entries(&[(3, 0)]), TableInit::Unknown]);
    }

    #[test]
    fn imported_tables_and_start_written_tables_are_unknown() {
        let wat = r#"(module (import "env" "t" (table 2 funcref))
            (table 2 funcref) (table 2 funcref) (func $a)
            (elem (table 0) (i32.const 0) func $a)
            (elem (table 2) (i32.const 0) func $a)
            (func $s (table.set 1 (i32.const 0) (ref.func $a)))
            (start $s))"#;
        assert_eq!(
            known(wat),
            vec![TableInit::Unknown, TableInit::Unknown, entries(&[(0, 0)])]
        );
        // Without a start function the same writes happen only after start.
        let wat = r#"(module (table 2 funcref) (func $a)
            (func (export "w") (table.set 0 (i32.const 0) (ref.func $a))))"#;
        assert_eq!(known(wat), vec![entries(&[])]);
    }

    #[test]
    fn other_element_expressions_and_initializers_are_unknown() {
        let wat = r#"(module (import "env" "f" (global $f funcref)) (func $a)
            (table 2 funcref) (table 2 funcref (ref.func $a)) (table 2 funcref (ref.null func))
            (elem (table 0) (i32.const 0) funcref (global.get $f)))"#;
        assert_eq!(
            known(wat),
            vec![TableInit::Unknown, TableInit::Unknown, entries(&[])]
        );
    }

    #[test]
    fn unparsable_input_knows_nothing() {
        let init = InitialTables::derive(b"\0asm\x01\0\0\0\x04\xff");
        assert_eq!(init.table(0), &TableInit::Unknown);
        assert_eq!(
            InitialTables::derive(b"(module").table(0),
            &TableInit::Unknown
        );
    }
}
