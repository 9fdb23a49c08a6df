//! NIFs for an instance's state and its resources: start options, snapshots, fuel,
//! the module cache and precompiled artifacts. Thin wrappers over `beamr_core`.

use crate::instance::Handle;
use crate::{atoms, bad_timeout, deadline, terms, with_store};
use beamr_core::disk_cache;
use beamr_core::module::{cache_info as memory_cache_info, clear_cache as clear_memory_cache};
use beamr_core::Options;
use rustler::{Binary, Encoder, Env, NewBinary, Term};

/// Start options as the Erlang side validated them:
/// `{MaxMemoryBytes, MaxTableElements, Deterministic}`.
type OptionsTerm = (u64, u64, bool);

fn options((max_memory, max_table_elements, deterministic): OptionsTerm) -> Options {
    Options {
        max_memory,
        max_table_elements,
        deterministic,
        ..Options::default()
    }
}

/// `start_aot(Artifact, Timeout, Options) -> {ok, Instance} | {error, Reason}`: starts
/// an instance from an artifact of [`precompile`], if every check passes.
#[rustler::nif(schedule = "DirtyCpu")]
fn start_aot<'a>(
    env: Env<'a>,
    artifact: Binary<'a>,
    timeout: Term<'a>,
    opts: OptionsTerm,
) -> Term<'a> {
    let Ok(deadline) = deadline(timeout) else {
        return bad_timeout(env, timeout);
    };
    let opts = options(opts);
    let made = disk_cache::load_artifact(artifact.as_slice()).and_then(|m| {
        let opts = Options {
            deterministic: m.variant().deterministic,
            optional: m.variant().optional,
            ..opts
        };
        beamr_core::Starting::new(m, Vec::new(), deadline, &opts)
    });
    crate::starting::poll_start(env, made)
}

/// `precompile(Bytes, Engine) -> {ok, Artifact} | {error, Reason}`, `Engine` as
/// `api::variant_of` reads it.
#[rustler::nif(schedule = "DirtyCpu")]
fn precompile<'a>(env: Env<'a>, bytes: Binary<'a>, engine: Term<'a>) -> Term<'a> {
    let Some(variant) = crate::api::variant_of(engine, None) else {
        return crate::api::bad_engine(env, engine);
    };
    match disk_cache::precompile(bytes.as_slice(), variant) {
        Ok(a) => (atoms::ok(), terms::bytes(env, &a)).encode(env),
        Err(e) => terms::core_error(env, &e),
    }
}

/// A NIF binary as the snapshot writer's output buffer.
struct Out<'a>(NewBinary<'a>);

impl AsMut<[u8]> for Out<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        self.0.as_mut_slice()
    }
}

/// `serialize(Instance) -> {ok, Snapshot} | {error, _} | busy`.
#[rustler::nif(schedule = "DirtyCpu")]
fn serialize<'a>(env: Env<'a>, handle: Handle) -> Term<'a> {
    with_store(env, &handle, |core| {
        let out = core.serialize_into(|n| Out(NewBinary::new(env, n)))?;
        let bin: Binary = out.0.into();
        Ok((atoms::ok(), bin).encode(env))
    })
}

/// `deserialize(Instance, Snapshot) -> ok | {error, _} | busy`.
#[rustler::nif(schedule = "DirtyCpu")]
fn deserialize<'a>(env: Env<'a>, handle: Handle, bytes: Binary<'a>) -> Term<'a> {
    with_store(env, &handle, |core| {
        core.deserialize(bytes.as_slice())
            .map(|()| atoms::ok().encode(env))
    })
}

/// `fuel_consumed(Instance) -> {ok, N | undefined} | {error, not_metered} | busy`.
#[rustler::nif]
fn fuel_consumed<'a>(env: Env<'a>, handle: Handle) -> Term<'a> {
    with_store(env, &handle, |core| {
        Ok(match core.fuel_consumed()? {
            Some(n) => (atoms::ok(), n).encode(env),
            None => (atoms::ok(), atoms::undefined()).encode(env),
        })
    })
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
        Err(e) => terms::core_error(env, &e),
    }
}

/// `set_cache_max_bytes(Bytes) -> ok`: the disk cache's byte budget; what no longer
/// fits is evicted at once.
#[rustler::nif(schedule = "DirtyIo")]
fn set_cache_max_bytes(bytes: u64) -> rustler::Atom {
    disk_cache::set_max_bytes(bytes);
    atoms::ok()
}

/// `memory_budget() -> {Budget, Used}`: the node-wide linear memory budget and what
/// live instances hold of it, in bytes.
#[rustler::nif]
fn memory_budget() -> (u64, u64) {
    (
        beamr_core::memory_budget::budget(),
        beamr_core::memory_budget::used(),
    )
}

/// `set_memory_budget(Bytes) -> ok`.
#[rustler::nif]
fn set_memory_budget(bytes: u64) -> rustler::Atom {
    beamr_core::memory_budget::set_budget(bytes);
    atoms::ok()
}
