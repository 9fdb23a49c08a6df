//! Reading and changing an instance's exported globals, tables and memory, and the
//! reads and writes of its default memory.
//!
//! Each operation runs through [`Instance::with_store`], so it works the same between
//! calls (on the idle store) and from inside an import (on the live store of the
//! suspended call). Types are checked before anything changes: setting an immutable
//! global or growing past a memory's maximum is an error, not a silent no-op.

use crate::error::Error;
use crate::instance::Instance;
use crate::memory::{checked_range, cstring_range};
use crate::value::signature;
use wasmtime::{Extern, ExternType, Mutability, Ref, ValType};

/// One entry of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableEntry {
    /// A null reference.
    Null,
    /// A function: its index in the module's function space when an element segment
    /// of the module names it (`None` for a function from elsewhere), and its
    /// signature in HyperBEAM's notation. `raw` is its address in the store, which
    /// only identifies it within this instance.
    Func {
        index: Option<u32>,
        signature: String,
        raw: usize,
    },
    /// A non-null reference of another kind (externref, anyref, exnref).
    Other,
}

impl Instance {
    /// The type of exported global `name` and whether it may be set.
    pub fn global_type(&self, name: &str) -> Result<(ValType, bool), Error> {
        let export = self.export_desc(name)?;
        match &export.ty {
            ExternType::Global(g) => Ok((g.content().clone(), g.mutability() == Mutability::Var)),
            _ => Err(Error::WrongKind {
                name: name.to_string(),
                expected: "global",
            }),
        }
    }

    fn export_desc(&self, name: &str) -> Result<&crate::module::ExportDesc, Error> {
        self.module()
            .exports()
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| Error::UnknownExport(name.to_string()))
    }

    fn export_kind(&self, name: &str, expected: &'static str) -> Result<(), Error> {
        let export = self.export_desc(name)?;
        if export.kind.name() == expected {
            Ok(())
        } else {
            Err(Error::WrongKind {
                name: name.to_string(),
                expected,
            })
        }
    }

    /// The value of exported global `name`.
    pub fn global_get(&mut self, name: &str) -> Result<wasmtime::Val, Error> {
        self.export_kind(name, "global")?;
        let handle = self.handle();
        self.with_store(|mut store| match handle.get_export(&mut store, name) {
            Some(Extern::Global(g)) => Ok(g.get(&mut store)),
            _ => Err(Error::UnknownExport(name.to_string())),
        })?
    }

    /// Sets exported global `name`; `value` must already have the global's type (see
    /// [`Instance::global_type`]).
    pub fn global_set(&mut self, name: &str, value: wasmtime::Val) -> Result<(), Error> {
        let (_, mutable) = self.global_type(name)?;
        if !mutable {
            return Err(Error::ImmutableGlobal(name.to_string()));
        }
        let handle = self.handle();
        self.with_store(|mut store| match handle.get_export(&mut store, name) {
            Some(Extern::Global(g)) => g
                .set(&mut store, value)
                .map_err(|e| Error::InvalidValue(format!("{e:#}"))),
            _ => Err(Error::UnknownExport(name.to_string())),
        })?
    }

    /// The number of entries of exported table `name`.
    pub fn table_size(&mut self, name: &str) -> Result<u64, Error> {
        self.export_kind(name, "table")?;
        let handle = self.handle();
        self.with_store(|mut store| match handle.get_export(&mut store, name) {
            Some(Extern::Table(t)) => Ok(t.size(&store)),
            _ => Err(Error::UnknownExport(name.to_string())),
        })?
    }

    /// Entry `index` of exported table `name`.
    pub fn table_get(&mut self, name: &str, index: u64) -> Result<TableEntry, Error> {
        self.export_kind(name, "table")?;
        let handle = self.handle();
        let entry = self.with_store(|mut store| {
            let Some(Extern::Table(t)) = handle.get_export(&mut store, name) else {
                return Err(Error::UnknownExport(name.to_string()));
            };
            match t.get(&mut store, index) {
                None => Err(Error::BadTableIndex(index)),
                Some(r) if r.is_null() => Ok(TableEntry::Null),
                Some(Ref::Func(Some(f))) => Ok(TableEntry::Func {
                    index: None,
                    signature: signature(&f.ty(&store)),
                    raw: f.to_raw(&mut store) as usize,
                }),
                Some(_) => Ok(TableEntry::Other),
            }
        })??;
        match entry {
            TableEntry::Func { signature, raw, .. } => {
                let index = self.initial_funcs()?.index_of(raw);
                Ok(TableEntry::Func {
                    index,
                    signature,
                    raw,
                })
            }
            other => Ok(other),
        }
    }

    /// Grows the default memory by `delta` pages; returns its previous size in pages.
    pub fn memory_grow(&mut self, delta: u64) -> Result<u64, Error> {
        let memory = self.default_memory().ok_or(Error::NoMemory)?;
        self.with_store(|mut store| {
            let pages = memory.size(&store);
            memory
                .grow(&mut store, delta)
                .map_err(|_| Error::CannotGrow { delta, pages })
        })?
    }

    /// The size of the default memory in pages.
    pub fn memory_pages(&mut self) -> Result<u64, Error> {
        let memory = self.default_memory().ok_or(Error::NoMemory)?;
        self.with_store(|store| memory.size(&store))
    }
}

impl Instance {
    /// Size of the default memory in bytes.
    pub fn memory_size(&mut self) -> Result<u64, Error> {
        let memory = self.default_memory().ok_or(Error::NoMemory)?;
        self.with_store(|store| memory.data_size(&store) as u64)
    }

    /// Hands `len` bytes at `offset` of the default memory to `f`.
    pub fn read<R>(
        &mut self,
        offset: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, Error> {
        let memory = self.default_memory().ok_or(Error::NoMemory)?;
        self.with_store(|store| {
            let data = memory.data(&store);
            checked_range(data.len(), offset, len).map(|r| f(&data[r]))
        })?
    }

    /// Runs `f` on the NUL-terminated string at `offset` (without its NUL), if it is at
    /// most `max` bytes long.
    pub fn read_cstring<R>(
        &mut self,
        offset: u64,
        max: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, Error> {
        let memory = self.default_memory().ok_or(Error::NoMemory)?;
        self.with_store(|store| {
            let data = memory.data(&store);
            cstring_range(data, offset, max).map(|r| f(&data[r]))
        })?
    }

    /// Copies `bytes` into the default memory at `offset`.
    pub fn write(&mut self, offset: u64, bytes: &[u8]) -> Result<(), Error> {
        let memory = self.default_memory().ok_or(Error::NoMemory)?;
        self.with_store(|mut store| {
            let data = memory.data_mut(&mut store);
            checked_range(data.len(), offset, bytes.len() as u64)
                .map(|r| data[r].copy_from_slice(bytes))
        })?
    }
}
