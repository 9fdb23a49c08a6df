//! Compiled modules: compilation, their import/export descriptions, and the cache.
//!
//! A [`CompiledModule`] is compiled once per node per content hash and shared by all
//! its instances. It carries a [`Linker`] whose function imports are all bound to the
//! suspend-and-ask-the-caller host function (see `instance.rs`), pre-resolved into an
//! [`InstancePre`] whenever the module imports nothing but functions, so that an
//! instance costs a store and a copy-on-write memory map, not a link step.

use crate::engine::engine;
use crate::error::Error;
use crate::instance::{import_host_fn, Host};
use crate::value::signature;
use once_cell::sync::Lazy;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
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
}

impl ImportDesc {
    /// The result types of a function import; empty for other kinds.
    pub fn result_types(&self) -> Vec<ValType> {
        match &self.ty {
            ExternType::Func(f) => f.results().collect(),
            _ => Vec::new(),
        }
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
    imports: Vec<ImportDesc>,
    exports: Vec<ExportDesc>,
    hash: [u8; 32],
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
}

fn sig_of(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(f) => signature(f),
        _ => String::new(),
    }
}

fn build(bytes: &[u8], hash: [u8; 32]) -> Result<CompiledModule, Error> {
    let bytes = crate::legacy_eh::prepare(bytes)?;
    let module = Module::new(engine(), &bytes).map_err(|e| Error::Compile(format!("{e:#}")))?;
    let imports: Vec<ImportDesc> = module
        .imports()
        .map(|i| ImportDesc {
            module: i.module().to_string(),
            name: i.name().to_string(),
            kind: Kind::of(&i.ty()),
            signature: sig_of(&i.ty()),
            ty: i.ty(),
        })
        .collect();
    let exports = module
        .exports()
        .map(|e| ExportDesc {
            name: e.name().to_string(),
            kind: Kind::of(&e.ty()),
            signature: sig_of(&e.ty()),
            ty: e.ty(),
        })
        .collect();

    let mut linker = Linker::new(engine());
    let mut defined = HashSet::new();
    for (index, import) in imports.iter().enumerate() {
        if let ExternType::Func(ty) = &import.ty {
            // A module may import the same name twice; the first index answers both.
            if defined.insert((import.module.as_str(), import.name.as_str())) {
                linker
                    .func_new_async(&import.module, &import.name, ty.clone(), move |c, p, r| {
                        import_host_fn(c, index, p, r)
                    })
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
        module,
        linker,
        pre,
        imports,
        exports,
        hash,
    })
}

/// How many compiled modules the cache keeps before evicting the least recently used.
pub const CACHE_CAPACITY: usize = 64;

struct Cache {
    modules: HashMap<[u8; 32], Arc<CompiledModule>>,
    order: VecDeque<[u8; 32]>,
}

static CACHE: Lazy<Mutex<Cache>> = Lazy::new(|| {
    Mutex::new(Cache {
        modules: HashMap::new(),
        order: VecDeque::new(),
    })
});

/// Compiles wasm bytes or WAT text, reusing an earlier compilation of the same bytes.
pub fn compile(bytes: &[u8]) -> Result<Arc<CompiledModule>, Error> {
    let hash: [u8; 32] = Sha256::digest(bytes).into();
    if let Some(found) = lookup(&hash) {
        return Ok(found);
    }
    let compiled = Arc::new(build(bytes, hash)?);
    COMPILATIONS.fetch_add(1, Ordering::Relaxed);
    let mut cache = CACHE.lock();
    if cache.modules.len() >= CACHE_CAPACITY {
        if let Some(oldest) = cache.order.pop_front() {
            cache.modules.remove(&oldest);
        }
    }
    cache.modules.insert(hash, compiled.clone());
    cache.order.push_back(hash);
    Ok(compiled)
}

fn lookup(hash: &[u8; 32]) -> Option<Arc<CompiledModule>> {
    let mut cache = CACHE.lock();
    let found = cache.modules.get(hash).cloned()?;
    if let Some(pos) = cache.order.iter().position(|h| h == hash) {
        cache.order.remove(pos);
        cache.order.push_back(*hash);
    }
    Some(found)
}

static COMPILATIONS: AtomicU64 = AtomicU64::new(0);

/// How many modules this process has compiled (cache misses that compiled), so a
/// caller can tell that a second start of the same bytes reused the first compilation.
pub fn compilations() -> u64 {
    COMPILATIONS.load(Ordering::Relaxed)
}

/// How many compiled modules the cache holds.
pub fn cached_modules() -> usize {
    CACHE.lock().modules.len()
}
