//! Getting a compiled module: from source through the caches ([`compile`] and its
//! variants, keyed on the source's content hash and the engine variant), or from an
//! `aot` artifact ([`load_artifact`], made by [`precompile`]).
//!
//! A module is compiled once per node per content hash and shared by all its
//! instances. The type itself is in `module/compiled.rs`, at the bottom of this folder;
//! above it the in-memory cache (`module/memory_cache.rs`) and the disk cache with the
//! artifact format (`module/disk_cache.rs`); this file, on top, uses both and runs the
//! load-time rewrites (`prepare.rs`) on a miss.

mod compiled;
pub mod disk_cache;
mod memory_cache;

pub(crate) use self::compiled::describe;
#[cfg(test)]
pub(crate) use self::compiled::describe_with;
pub use self::compiled::{CompiledModule, ExportDesc, ImportDesc, Kind};
pub use self::memory_cache::{
    cache_info, cached_modules, cached_quick, cached_quick_for, clear_cache, forget, CacheInfo,
    CACHE_CAPACITY,
};
pub use crate::source::{content_hash, wat_to_wasm};

use self::memory_cache::{insert, lookup, peek};
use crate::engine::{engine_for, Variant};
use crate::error::Error;
use crate::initial_tables::{InitialTables, TableInit};
use crate::prepare::prepare;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

fn build(bytes: &[u8], hash: [u8; 32], variant: Variant) -> Result<CompiledModule, Error> {
    let module = disk_cache::load_or_compile(engine_for(variant), variant, &hash, || {
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

/// [`compile_exactly`] after a [`lookup_hashed`] of `(variant, hash)` missed, with the
/// variant that lookup used (memory layout chosen already): the cache is looked at
/// again (another caller may have compiled the bytes meanwhile) without counting a miss.
pub fn compile_missed(
    bytes: &[u8],
    hash: [u8; 32],
    variant: Variant,
) -> Result<Arc<CompiledModule>, Error> {
    if let Some(found) = peek(&(variant, hash)) {
        return Ok(found);
    }
    let compiled = Arc::new(build(bytes, hash, variant)?);
    insert(compiled.clone());
    Ok(compiled)
}

static COMPILATIONS: AtomicU64 = AtomicU64::new(0);

/// How many modules this process has compiled (cache misses that compiled), so a
/// caller can tell that a second start of the same bytes reused the first compilation.
pub fn compilations() -> u64 {
    COMPILATIONS.load(Ordering::Relaxed)
}

/// Compiles `bytes` for `variant` and returns an artifact that [`load_artifact`] on
/// this node (or a node sharing its cache directory) accepts.
pub fn precompile(bytes: &[u8], variant: Variant) -> Result<Vec<u8>, Error> {
    let compiled = compile_for(bytes, variant)?;
    let variant = compiled.variant();
    let payload = compiled
        .wasmtime_module()
        .serialize()
        .map_err(|e| Error::Aot(format!("serialize: {e:#}")))?;
    Ok(disk_cache::seal(
        engine_for(variant),
        variant,
        compiled.hash(),
        &payload,
    ))
}

/// The compiled module an `aot` artifact stands for, if every check passes (see
/// `module/disk_cache.rs`).
pub fn load_artifact(artifact: &[u8]) -> Result<Arc<CompiledModule>, Error> {
    let trusted = disk_cache::open(artifact)?;
    let key = trusted.key();
    if let Some(found) = lookup(&key) {
        return Ok(found);
    }
    // An artifact carries no wasm to read the element segments from: its instances
    // read their tables when they start.
    let initial = InitialTables::unknown();
    let compiled = Arc::new(describe(trusted.module()?, key.1, key.0, initial)?);
    insert(compiled.clone());
    Ok(compiled)
}
