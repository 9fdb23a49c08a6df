//! Compiled modules: compilation, their import/export descriptions, and the cache.
//!
//! A [`CompiledModule`] is compiled once per node per content hash and shared by all
//! its instances. It carries a [`Linker`] whose function imports are all bound to the
//! suspend-and-ask-the-caller host function (see `host_import.rs`), pre-resolved into an
//! [`InstancePre`] whenever the module imports nothing but functions, so that an
//! instance costs a store and a copy-on-write memory map, not a link step.

use crate::emscripten;
use crate::engine::{engine_for, Variant};
use crate::error::Error;
use crate::host_import::{self, Binding};
use crate::initial_tables::{InitialTables, TableInit};
use crate::instance::Host;
use crate::reserved_exports::StateExports;
use crate::value::signature;
use once_cell::sync::Lazy;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    imports: Vec<ImportDesc>,
    exports: Vec<ExportDesc>,
    hash: [u8; 32],
    variant: Variant,
    /// What each table holds at instantiation, worked out at compile time.
    initial_tables: Arc<InitialTables>,
    /// The reserved exports through which instances reach their state.
    state_exports: StateExports,
    /// Where the initial contents of the module's own memory end, when known (see
    /// `memory_extent.rs`).
    memory_extent: Option<u64>,
    /// Instantiation is bounded and short (see `start_cost.rs`), imports permitting.
    quick_start: bool,
    /// An instance was made: wasmtime's per-module setup (the copy-on-write memory
    /// image) is done, so the next starts do only per-instance work.
    instantiated: AtomicBool,
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

fn build(bytes: &[u8], hash: [u8; 32], variant: Variant) -> Result<CompiledModule, Error> {
    let module = crate::disk_cache::load_or_compile(engine_for(variant), variant, &hash, || {
        // Only reached when the disk cache (if any) has no artifact either.
        COMPILATIONS.fetch_add(1, Ordering::Relaxed);
        prepare(bytes)
    })
    .map_err(|e| crate::proposals::explain(e, bytes, variant.optional))?;
    let mut compiled = describe(module, hash, variant, InitialTables::derive(bytes))?;
    if let Ok(wasm) = wat::parse_bytes(bytes) {
        compiled.memory_extent = crate::memory_extent::initial_extent(&wasm);
        // A table whose initial contents are unknown is read at every start.
        let tables_known = (compiled.state_exports.tables.iter())
            .all(|(i, _)| matches!(compiled.initial_tables.table(*i), TableInit::Known(_)));
        compiled.quick_start = tables_known && crate::start_cost::quick(&wasm);
    }
    Ok(compiled)
}

/// The binary encoding of a module given as WAT text; wasm bytes come back unchanged.
pub fn wat_to_wasm(text: &[u8]) -> Result<Vec<u8>, Error> {
    wat::parse_bytes(text)
        .map(|wasm| wasm.into_owned())
        .map_err(|e| Error::Compile(format!("{e}")))
}

/// The load-time rewrites a module goes through before compilation, on the bytes
/// (WAT already parsed into wasm by the first of them): legacy exception handling to
/// the standard encoding, bulk memory instructions in bounded chunks, then the reserved
/// exports snapshots reach state through.
fn prepare(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let standard = crate::legacy_eh::prepare(bytes)?;
    let bounded = crate::bulk_chunks::bound(&standard)?;
    crate::reserved_exports::add_reserved_exports(&bounded)
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
        .filter(|e| !crate::reserved_exports::is_reserved(e.name()))
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

/// How many compiled modules the cache keeps before evicting the least recently used.
pub const CACHE_CAPACITY: usize = 64;

/// A cache key: the engine variant and the SHA-256 of the original bytes.
type Key = (Variant, [u8; 32]);

struct Cache {
    modules: HashMap<Key, Arc<CompiledModule>>,
    order: VecDeque<Key>,
    hits: u64,
    misses: u64,
}

static CACHE: Lazy<Mutex<Cache>> = Lazy::new(|| {
    Mutex::new(Cache {
        modules: HashMap::new(),
        order: VecDeque::new(),
        hits: 0,
        misses: 0,
    })
});

/// Compiles wasm bytes or WAT text, reusing an earlier compilation of the same bytes.
pub fn compile(bytes: &[u8]) -> Result<Arc<CompiledModule>, Error> {
    compile_for(bytes, Variant::DEFAULT)
}

/// [`compile`] for the engine `variant`, with the memory layout the module suits (see
/// [`crate::engine::choose`]). The cache is keyed on that variant and the hash of the
/// bytes as given, before any load-time rewrite.
pub fn compile_for(bytes: &[u8], variant: Variant) -> Result<Arc<CompiledModule>, Error> {
    compile_hashed(bytes, content_hash(bytes), variant)
}

/// The SHA-256 of a module's bytes as given: its cache key and its name in snapshots.
pub fn content_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// [`compile_for`] with the bytes' [`content_hash`] already known (a caller that has
/// seen these very bytes before); a wrong hash only misfiles the cache entry.
pub fn compile_hashed(
    bytes: &[u8],
    hash: [u8; 32],
    variant: Variant,
) -> Result<Arc<CompiledModule>, Error> {
    compile_exactly(bytes, hash, crate::engine::choose(bytes, variant))
}

/// [`compile_hashed`] for exactly `variant`, memory layout included: for a link, which
/// shares the store, so the engine, of the module it serves.
pub fn compile_exactly(
    bytes: &[u8],
    hash: [u8; 32],
    variant: Variant,
) -> Result<Arc<CompiledModule>, Error> {
    if let Some(found) = lookup(&(variant, hash)) {
        return Ok(found);
    }
    let compiled = Arc::new(build(bytes, hash, variant)?);
    insert(compiled.clone());
    Ok(compiled)
}

/// The cached compilation of the bytes whose [`content_hash`] is `key.1`, if any;
/// `key.0` as [`crate::engine::choose`] picks it for those bytes.
pub fn lookup_hashed(key: &(Variant, [u8; 32])) -> Option<Arc<CompiledModule>> {
    lookup(key)
}

/// [`compile_hashed`] after a [`lookup_hashed`] missed: the cache is looked at again
/// (another caller may have compiled the bytes meanwhile) without counting a miss.
pub fn compile_missed(
    bytes: &[u8],
    hash: [u8; 32],
    variant: Variant,
) -> Result<Arc<CompiledModule>, Error> {
    let variant = crate::engine::choose(bytes, variant);
    if let Some(found) = CACHE.lock().modules.get(&(variant, hash)).cloned() {
        return Ok(found);
    }
    let compiled = Arc::new(build(bytes, hash, variant)?);
    insert(compiled.clone());
    Ok(compiled)
}

/// [`cached_quick`] of the bytes whose SHA-256 is `hash` for the variant `requested`
/// names, with the node's Spectre setting, in either memory layout: without reading
/// the bytes (which [`crate::engine::choose`] would), since a compilation of these
/// bytes in either layout runs them. The standard layout, most modules', first.
pub fn cached_quick_for(hash: &[u8; 32], requested: Variant) -> Option<Arc<CompiledModule>> {
    let standard = Variant {
        spectre_guard: crate::engine::spectre_guard(),
        ..requested.requested()
    };
    let small = Variant {
        layout: crate::engine::Layout::Small64,
        ..standard
    };
    cached_quick(hash, standard).or_else(|| cached_quick(hash, small))
}

/// The cached compilation of SHA-256 `hash` for `variant` if it
/// [starts quickly](CompiledModule::starts_quickly), counted as a hit; `None` (and
/// nothing counted) otherwise.
pub fn cached_quick(hash: &[u8; 32], variant: Variant) -> Option<Arc<CompiledModule>> {
    let key = (variant, *hash);
    let mut cache = CACHE.lock();
    let found = cache
        .modules
        .get(&key)
        .filter(|m| m.starts_quickly())?
        .clone();
    cache.hits += 1;
    if let Some(pos) = cache.order.iter().position(|h| *h == key) {
        cache.order.remove(pos);
        cache.order.push_back(key);
    }
    Some(found)
}

/// Adds a compiled module to the in-memory cache, evicting the least recently used.
pub(crate) fn insert(compiled: Arc<CompiledModule>) {
    let key = (compiled.variant, compiled.hash);
    let mut cache = CACHE.lock();
    if cache.modules.contains_key(&key) {
        return;
    }
    if cache.modules.len() >= CACHE_CAPACITY {
        if let Some(oldest) = cache.order.pop_front() {
            cache.modules.remove(&oldest);
        }
    }
    cache.modules.insert(key, compiled);
    cache.order.push_back(key);
}

/// The cached compilation for `key`, counting a hit or a miss.
pub(crate) fn lookup(key: &Key) -> Option<Arc<CompiledModule>> {
    let mut cache = CACHE.lock();
    let Some(found) = cache.modules.get(key).cloned() else {
        cache.misses += 1;
        return None;
    };
    cache.hits += 1;
    if let Some(pos) = cache.order.iter().position(|h| h == key) {
        cache.order.remove(pos);
        cache.order.push_back(*key);
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

/// Removes the compilations of SHA-256 `hash` (for every engine variant) from the
/// in-memory cache; true if there was one. Instances and module handles that hold one
/// keep it alive until they are dropped.
pub fn forget(hash: &[u8; 32]) -> bool {
    let mut cache = CACHE.lock();
    let before = cache.modules.len();
    cache.modules.retain(|(_, h), _| h != hash);
    cache.order.retain(|(_, h)| h != hash);
    cache.modules.len() != before
}

/// The in-memory cache's figures: modules held, hits and misses since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheInfo {
    pub modules: usize,
    pub hits: u64,
    pub misses: u64,
}

pub fn cache_info() -> CacheInfo {
    let cache = CACHE.lock();
    CacheInfo {
        modules: cache.modules.len(),
        hits: cache.hits,
        misses: cache.misses,
    }
}

/// Empties the in-memory cache (instances keep their modules alive).
pub fn clear_cache() {
    let mut cache = CACHE.lock();
    cache.modules.clear();
    cache.order.clear();
}
