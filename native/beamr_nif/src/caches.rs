//! The node's module caches: the in-memory cache of compilations (its count, dropping
//! a module or all of them, the count of compilations made) and the on-disk cache of
//! compiled artifacts (its directory and byte budget), with the figures of both.

use crate::module_resource::ModuleResource;
use crate::{atoms, errors, terms};
use beamr_core::disk_cache;
use beamr_core::module::{cache_info as memory_cache_info, clear_cache as clear_memory_cache};
use rustler::{Binary, Encoder, Env, ResourceArc, Term};

/// `module_count() -> non_neg_integer()`: compiled modules in the cache.
#[rustler::nif]
fn module_count() -> usize {
    beamr_core::module::cached_modules()
}

/// `delete_module(Module | Hash) -> boolean()`: drops the module from the cache.
/// Dirty: dropping the last reference frees the module's compiled code.
#[rustler::nif(schedule = "DirtyCpu")]
fn delete_module(term: Term) -> bool {
    let hash: Option<[u8; 32]> = if let Ok(m) = term.decode::<ResourceArc<ModuleResource>>() {
        Some(*m.module().hash())
    } else if let Ok(b) = term.decode::<Binary>() {
        <[u8; 32]>::try_from(b.as_slice()).ok()
    } else {
        None
    };
    hash.is_some_and(|h| beamr_core::module::forget(&h))
}

/// `compilations() -> non_neg_integer()`: modules compiled so far (cache misses).
#[rustler::nif]
fn compilations() -> u64 {
    beamr_core::module::compilations()
}

/// `cache_info() -> #{modules, hits, misses, disk => #{dir, files, bytes, max_bytes,
/// hits, misses, evictions}}`.
#[rustler::nif(schedule = "DirtyIo")]
fn cache_info(env: Env) -> Term {
    let mem = memory_cache_info();
    let disk = disk_cache::info();
    let dir = match &disk.dir {
        Some(d) => terms::bytes(env, d.to_string_lossy().as_bytes()),
        None => atoms::undefined().encode(env),
    };
    let disk_map = Term::map_from_pairs(
        env,
        &[
            (atoms::dir().encode(env), dir),
            (atoms::files().encode(env), disk.files.encode(env)),
            (atoms::bytes().encode(env), disk.bytes.encode(env)),
            (atoms::max_bytes().encode(env), disk.max_bytes.encode(env)),
            (atoms::hits().encode(env), disk.hits.encode(env)),
            (atoms::misses().encode(env), disk.misses.encode(env)),
            (atoms::evictions().encode(env), disk.evictions.encode(env)),
        ],
    );
    let map = Term::map_from_pairs(
        env,
        &[
            (atoms::modules().encode(env), mem.modules.encode(env)),
            (atoms::hits().encode(env), mem.hits.encode(env)),
            (atoms::misses().encode(env), mem.misses.encode(env)),
            (
                atoms::disk().encode(env),
                disk_map.unwrap_or(atoms::undefined().encode(env)),
            ),
        ],
    );
    map.unwrap_or(atoms::undefined().encode(env))
}

/// `clear_cache() -> ok`: empties the in-memory module cache.
/// Dirty: dropping the last references frees compiled code.
#[rustler::nif(schedule = "DirtyCpu")]
fn clear_cache() -> rustler::Atom {
    clear_memory_cache();
    atoms::ok()
}

/// `set_cache_dir(Path | undefined) -> ok | {error, Reason}`.
#[rustler::nif(schedule = "DirtyIo")]
fn set_cache_dir<'a>(env: Env<'a>, dir: Term<'a>) -> Term<'a> {
    let dir = match dir.decode::<Binary>() {
        Ok(b) => match std::str::from_utf8(b.as_slice()) {
            Ok(s) => Some(std::path::PathBuf::from(s)),
            Err(_) => return terms::error(env, (atoms::bad_option(), dir).encode(env)),
        },
        Err(_) => None,
    };
    match disk_cache::set_dir(dir) {
        Ok(()) => atoms::ok().encode(env),
        Err(e) => errors::core_error(env, &e),
    }
}

/// `set_cache_max_bytes(Bytes) -> ok`: the disk cache's byte budget; what no longer
/// fits is evicted at once.
#[rustler::nif(schedule = "DirtyIo")]
fn set_cache_max_bytes(bytes: u64) -> rustler::Atom {
    disk_cache::set_max_bytes(bytes);
    atoms::ok()
}
