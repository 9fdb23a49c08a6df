//! A compiled module: its import and export descriptions and its linker.
//!
//! A [`CompiledModule`] carries a [`Linker`] whose function imports are all bound to
//! the suspend-and-ask-the-caller host function (see `host_import.rs`), or to the
//! native emscripten runtime (`emscripten.rs`), pre-resolved into an [`InstancePre`]
//! whenever the module imports nothing but functions, so that an instance costs a
//! store and a copy-on-write memory map, not a link step.

use crate::emscripten;
use crate::engine::Variant;
use crate::error::Error;
use crate::host_import::{self, Binding};
use crate::initial_tables::InitialTables;
use crate::prepare::reserved_exports::StateExports;
use crate::store::Host;
use crate::value::signature;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use wasmtime::{ExternType, InstancePre, Linker, Module, ValType};

/// What kind of thing an import or export is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Func,
    Memory,
    Table,
    Global,
    Tag,
}

impl Kind {
    fn of(ty: &ExternType) -> Kind {
        match ty {
            ExternType::Func(_) => Kind::Func,
            ExternType::Memory(_) => Kind::Memory,
            ExternType::Table(_) => Kind::Table,
            ExternType::Global(_) => Kind::Global,
            ExternType::Tag(_) => Kind::Tag,
        }
    }

    /// The lower-case name HyperBEAM uses for the kind.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Func => "func",
            Kind::Memory => "memory",
            Kind::Table => "table",
            Kind::Global => "global",
            Kind::Tag => "tag",
        }
    }
}

/// One import of a module.
#[derive(Debug, Clone)]
pub struct ImportDesc {
    pub module: String,
    pub name: String,
    pub kind: Kind,
    /// HyperBEAM's signature string for functions, empty for other kinds.
    pub signature: String,
    pub ty: ExternType,
    /// The result types of a function import (empty for other kinds), kept apart
    /// because every answer to the import is checked against them.
    results: Box<[ValType]>,
}

impl ImportDesc {
    /// The result types of a function import; empty for other kinds.
    pub fn result_types(&self) -> &[ValType] {
        &self.results
    }
}

/// One export of a module.
#[derive(Debug, Clone)]
pub struct ExportDesc {
    pub name: String,
    pub kind: Kind,
    pub signature: String,
    pub ty: ExternType,
}

/// A module compiled for the shared engine, ready to instantiate.
pub struct CompiledModule {
    pub(crate) module: Module,
    pub(crate) linker: Linker<Host>,
    /// Set when every import is a function, so instances skip linking.
    pub(crate) pre: Option<InstancePre<Host>>,
    pub(super) imports: Vec<ImportDesc>,
    pub(super) exports: Vec<ExportDesc>,
    pub(super) hash: [u8; 32],
    pub(super) variant: Variant,
    /// What each table holds at instantiation, worked out at compile time.
    pub(super) initial_tables: Arc<InitialTables>,
    /// The reserved exports through which instances reach their state.
    pub(super) state_exports: StateExports,
    /// Where the initial contents of the module's own memory end, when known (see
    /// `memory_extent.rs`).
    pub(super) memory_extent: Option<u64>,
    /// Instantiation is bounded and short (see `start_cost.rs`), imports permitting.
    pub(super) quick_start: bool,
    /// An instance was made: wasmtime's per-module setup (the copy-on-write memory
    /// image) is done, so the next starts do only per-instance work.
    pub(super) instantiated: AtomicBool,
}

impl CompiledModule {
    pub fn imports(&self) -> &[ImportDesc] {
        &self.imports
    }

    pub fn exports(&self) -> &[ExportDesc] {
        &self.exports
    }

    /// SHA-256 of the bytes the module was compiled from.
    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    pub fn wasmtime_module(&self) -> &Module {
        &self.module
    }

    /// The engine variant the module was compiled for.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// What each table holds when an instance starts, as far as the module says.
    pub fn initial_tables(&self) -> &Arc<InitialTables> {
        &self.initial_tables
    }

    pub(crate) fn state_exports(&self) -> &StateExports {
        &self.state_exports
    }

    /// Where the initial contents of the module's own memory end, when known: past it
    /// memory starts as zero pages from the kernel.
    pub fn memory_extent(&self) -> Option<u64> {
        self.memory_extent
    }

    /// Whether an instance of this module starts in a few microseconds: it runs no
    /// start function, its segments are small (see `start_cost.rs`), it needs no
    /// linking, and an instance of it was made before.
    pub fn starts_quickly(&self) -> bool {
        self.quick_start && self.pre.is_some() && self.instantiated.load(Ordering::Relaxed)
    }

    /// Records that an instance was made (see [`CompiledModule::starts_quickly`]).
    pub(crate) fn note_instantiated(&self) {
        if !self.instantiated.load(Ordering::Relaxed) {
            self.instantiated.store(true, Ordering::Relaxed);
        }
    }
}

fn sig_of(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(f) => signature(f),
        _ => String::new(),
    }
}

/// Wraps a compiled wasmtime module: its imports, exports and linker.
pub(crate) fn describe(
    module: Module,
    hash: [u8; 32],
    variant: Variant,
    initial_tables: InitialTables,
) -> Result<CompiledModule, Error> {
    describe_with(module, hash, variant, initial_tables, Binding::Typed)
}

/// [`describe`], binding the function imports the caller answers as `binding` says.
pub(crate) fn describe_with(
    module: Module,
    hash: [u8; 32],
    variant: Variant,
    initial_tables: InitialTables,
    binding: Binding,
) -> Result<CompiledModule, Error> {
    let engine = module.engine().clone();
    // Each `ty()` looks a function's type up in the engine's type registry (under its
    // lock): once per item, so that loading a module with thousands of exports stays
    // cheap.
    let imports: Vec<ImportDesc> = module
        .imports()
        .map(|i| {
            let ty = i.ty();
            ImportDesc {
                module: i.module().to_string(),
                name: i.name().to_string(),
                kind: Kind::of(&ty),
                signature: sig_of(&ty),
                results: match &ty {
                    ExternType::Func(f) => f.results().collect(),
                    _ => Box::default(),
                },
                ty,
            }
        })
        .collect();
    let exports = module
        .exports()
        .filter(|e| !crate::prepare::reserved_exports::is_reserved(e.name()))
        .map(|e| {
            let ty = e.ty();
            ExportDesc {
                name: e.name().to_string(),
                kind: Kind::of(&ty),
                signature: sig_of(&ty),
                ty,
            }
        })
        .collect();

    let mut linker = Linker::new(&engine);
    let mut defined = HashSet::new();
    for (index, import) in imports.iter().enumerate() {
        if let ExternType::Func(ty) = &import.ty {
            // A module may import the same name twice; the first index answers both.
            let first = defined.insert((import.module.as_str(), import.name.as_str()));
            // emscripten's unwinding runtime (invoke_*, __cxa_*, ...) runs natively.
            if first
                && !emscripten::define(&mut linker, &import.module, &import.name, ty)
                    .map_err(|e| Error::Instantiate(format!("{e:#}")))?
            {
                host_import::define(
                    &mut linker,
                    &import.module,
                    &import.name,
                    ty,
                    &import.signature,
                    index,
                    binding,
                )
                .map_err(|e| Error::Instantiate(format!("{e:#}")))?;
            }
        }
    }
    let pre = if imports.iter().all(|i| i.kind == Kind::Func) {
        Some(
            linker
                .instantiate_pre(&module)
                .map_err(|e| Error::Instantiate(format!("{e:#}")))?,
        )
    } else {
        None
    };
    Ok(CompiledModule {
        linker,
        pre,
        imports,
        exports,
        hash,
        variant,
        initial_tables: Arc::new(initial_tables),
        state_exports: StateExports::of(&module),
        memory_extent: None,
        quick_start: false,
        instantiated: AtomicBool::new(false),
        module,
    })
}
