//! Precompiled artifacts: the optional on-disk module cache and `aot` images.
//!
//! An artifact is a header followed by wasmtime's serialized module:
//! magic `BEAMRAOT`, format version (u32), engine variant (u8), the SHA-256 of the
//! engine's configuration (wasmtime's `precompile_compatibility_hash` plus beamr's and
//! wasmtime's versions), the SHA-256 of the wasm source, the payload length (u64), the
//! payload's SHA-256 and its CRC-32; all integers little-endian.
//!
//! Trust model. `Module::deserialize` runs whatever machine code the payload holds, so
//! beamr only ever deserializes bytes it wrote itself: a file in the configured cache
//! directory (whoever can write to that directory can run code in the VM: give it the
//! node's own permissions and nobody else's), or an `aot` artifact whose payload digest
//! equals that of an artifact this node produced (by [`precompile`] in this run, or in
//! its cache directory). The header checks (engine configuration, source hash, length,
//! digest) catch stale, truncated and corrupted artifacts; the trust check catches
//! artifacts from anyone else. A file of the cache directory is trusted by where it
//! is, so its payload is checked against the CRC-32 only, for accidental damage (much
//! cheaper than SHA-256 over the megabytes of a large module, which a node restart
//! pays per image); an `aot` artifact, which comes from outside, against the SHA-256
//! its trust check stands on. Anything that fails is an error and is never executed;
//! a cache file that fails is recompiled and rewritten.
//!
//! Layout and size. The configured directory is a root: artifacts live in a subfolder
//! named by [`version_dir`] (beamr's version, wasmtime's, the artifact format and the
//! load-time rewrites), so artifacts of another build are never even opened. The files
//! of that subfolder are kept under a byte budget ([`set_max_bytes`]): a hit touches
//! its file's modification time, and after each write the least recently used files
//! are removed until the rest fit.

use crate::engine::{engine_for, Variant};
use crate::error::Error;
use crate::initial_tables::InitialTables;
use crate::module::{compile_for, describe, insert, lookup, CompiledModule};
use once_cell::sync::Lazy;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use wasmtime::{Engine, Module};

const MAGIC: &[u8; 8] = b"BEAMRAOT";
const VERSION: u32 = 2;

/// The load-time rewrites a source goes through before compilation (see
/// `module::prepare`, each with its revision): an artifact compiled under another list
/// is another program.
const LOAD_REWRITES: &[u8] = b"legacy-eh reserved-exports bulk-chunks-3";
const HEADER: usize = 8 + 4 + 1 + 32 + 32 + 8 + 32 + 4;
/// The wasmtime release beamr is built against (as Cargo.lock has it; a test checks).
pub const WASMTIME_VERSION: &str = "48.0.11";

/// The cache directory's default byte budget: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// A temporary file older than this was left by a writer that died; eviction removes it.
const STALE_TMP: Duration = Duration::from_secs(3600);

struct State {
    dir: Option<PathBuf>,
    max_bytes: u64,
    hits: u64,
    misses: u64,
    evictions: u64,
    /// Payload digests of artifacts this node produced in this run.
    trusted: HashSet<[u8; 32]>,
}

static STATE: Lazy<Mutex<State>> = Lazy::new(|| {
    Mutex::new(State {
        dir: None,
        max_bytes: DEFAULT_MAX_BYTES,
        hits: 0,
        misses: 0,
        evictions: 0,
        trusted: HashSet::new(),
    })
});

/// Makes temporary file names unique among this process's writers.
static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// The subfolder of the configured directory that holds this build's artifacts: it
/// changes whenever an artifact of another build could be stale.
///
/// ```
/// let v = beamr_core::disk_cache::version_dir();
/// assert!(v.starts_with("beamr-") && v.contains("-wasmtime-"));
/// assert!(!v.contains('/'));
/// ```
pub fn version_dir() -> String {
    let mut h = Sha256::new();
    h.update(VERSION.to_le_bytes());
    h.update(LOAD_REWRITES);
    format!(
        "beamr-{}-wasmtime-{}-{}",
        env!("CARGO_PKG_VERSION"),
        WASMTIME_VERSION,
        hex(&h.finalize()[..4])
    )
}

/// Sets (or with `None` clears) the cache's root directory. Artifacts go into its
/// [`version_dir`] subfolder, which is created and must be writable: otherwise this
/// is an error and the cache is left off.
pub fn set_dir(root: Option<PathBuf>) -> Result<(), Error> {
    let Some(root) = root else {
        STATE.lock().dir = None;
        return Ok(());
    };
    let dir = root.join(version_dir());
    let usable = std::fs::create_dir_all(&dir).and_then(|()| probe(&dir));
    let mut state = STATE.lock();
    match usable {
        Ok(()) => {
            state.dir = Some(dir.clone());
            let budget = state.max_bytes;
            drop(state);
            evict(&dir, budget, None);
            Ok(())
        }
        Err(e) => {
            state.dir = None;
            Err(Error::Aot(format!("cache dir {}: {e}", dir.display())))
        }
    }
}

/// Checks that files can be created in `dir`.
fn probe(dir: &Path) -> std::io::Result<()> {
    let path = tmp_path(&dir.join("probe"));
    std::fs::write(&path, b"")?;
    std::fs::remove_file(&path)
}

/// Sets the byte budget of the cache directory, evicting at once what no longer fits.
pub fn set_max_bytes(bytes: u64) {
    let dir = {
        let mut state = STATE.lock();
        state.max_bytes = bytes;
        state.dir.clone()
    };
    if let Some(dir) = dir {
        evict(&dir, bytes, None);
    }
}

/// Removes the least recently used artifacts of `dir` (oldest modification time
/// first) until the rest fit in `budget` bytes, sparing `keep`; also removes
/// temporary files a dead writer left behind.
fn evict(dir: &Path, budget: u64, keep: Option<&Path>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    let mut files = Vec::new();
    let mut total = 0u64;
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        if name.contains(".tmp") {
            if now.duration_since(modified).unwrap_or_default() > STALE_TMP {
                let _ = std::fs::remove_file(entry.path());
            }
            continue;
        }
        if !name.ends_with(".cwasm") {
            continue;
        }
        total += meta.len();
        files.push((modified, meta.len(), entry.path()));
    }
    if total <= budget {
        return;
    }
    files.sort();
    let mut evicted = 0;
    for (_, len, path) in files {
        if total <= budget {
            break;
        }
        if Some(path.as_path()) == keep {
            continue;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
            evicted += 1;
        }
    }
    STATE.lock().evictions += evicted;
}

/// A fresh temporary name next to `path`.
fn tmp_path(path: &Path) -> PathBuf {
    let seq = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
    path.with_extension(format!("tmp{}-{seq}", std::process::id()))
}

/// Marks `path` as just used, for least-recently-used eviction.
fn touch(path: &Path) {
    if let Ok(file) = std::fs::File::options().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

/// The disk cache's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskInfo {
    pub dir: Option<PathBuf>,
    pub files: u64,
    pub bytes: u64,
    pub max_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

pub fn info() -> DiskInfo {
    let state = STATE.lock();
    let (mut files, mut bytes) = (0, 0);
    if let Some(Ok(entries)) = state.dir.as_ref().map(std::fs::read_dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().ends_with(".cwasm") {
                files += 1;
                bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    DiskInfo {
        dir: state.dir.clone(),
        files,
        bytes,
        max_bytes: state.max_bytes,
        hits: state.hits,
        misses: state.misses,
        evictions: state.evictions,
    }
}

/// Feeds `Hash` output into SHA-256, for a digest that is stable across processes.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn engine_digest(engine: &Engine) -> [u8; 32] {
    let mut h = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    h.0.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.0.update(b"wasmtime-");
    h.0.update(WASMTIME_VERSION.as_bytes());
    h.0.update(LOAD_REWRITES);
    h.0.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn path_for(dir: &Path, variant: Variant, hash: &[u8; 32]) -> PathBuf {
    dir.join(format!("{}-{}.cwasm", hex(hash), variant.tag()))
}

/// Wraps a serialized module in the artifact header.
fn wrap(engine: &Engine, variant: Variant, hash: &[u8; 32], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.push(variant.tag());
    out.extend_from_slice(&engine_digest(engine));
    out.extend_from_slice(hash);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(payload));
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// A checked artifact: everything in the header verified against this node's engine.
struct Checked<'a> {
    variant: Variant,
    hash: [u8; 32],
    digest: [u8; 32],
    payload: &'a [u8],
}

/// How a payload's integrity is checked (see the trust model above).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Integrity {
    /// Against its SHA-256: an artifact from outside.
    Digest,
    /// Against its CRC-32: a file of the cache directory.
    Crc,
}

fn check(artifact: &[u8], integrity: Integrity) -> Result<Checked<'_>, Error> {
    let bad = |m: &str| Error::Aot(m.to_string());
    if artifact.len() < HEADER || &artifact[..8] != MAGIC {
        return Err(bad("not a beamr artifact"));
    }
    let version = u32::from_le_bytes(artifact[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(bad("unsupported artifact version"));
    }
    let variant = Variant::from_tag(artifact[12]).ok_or_else(|| bad("unknown engine variant"))?;
    if artifact[13..45] != engine_digest(engine_for(variant)) {
        return Err(bad("built for another engine configuration"));
    }
    let hash: [u8; 32] = artifact[45..77].try_into().expect("32 bytes");
    let len = u64::from_le_bytes(artifact[77..85].try_into().expect("8 bytes"));
    let digest: [u8; 32] = artifact[85..117].try_into().expect("32 bytes");
    let crc = u32::from_le_bytes(artifact[117..121].try_into().expect("4 bytes"));
    let payload = &artifact[HEADER..];
    if payload.len() as u64 != len {
        return Err(bad("truncated"));
    }
    let intact = match integrity {
        Integrity::Digest => Sha256::digest(payload).as_slice() == digest,
        Integrity::Crc => crc32fast::hash(payload) == crc,
    };
    if !intact {
        return Err(bad("corrupted"));
    }
    Ok(Checked {
        variant,
        hash,
        digest,
        payload,
    })
}

/// Deserializes a payload that [`check`] passed and that beamr itself wrote.
fn deserialize(engine: &Engine, checked: &Checked) -> Result<Module, Error> {
    // SAFETY: the payload's digest matches an artifact this node wrote with this very
    // engine configuration (see the trust model above), so it is wasmtime's own output.
    unsafe { Module::deserialize(engine, checked.payload) }
        .map_err(|e| Error::Aot(format!("deserialize: {e:#}")))
}

/// Compiles the module `prepare` produces (the rewritten wasm, made only on a miss)
/// for `variant`, going through the disk cache when one is configured. `hash` is the
/// SHA-256 of the original bytes.
pub(crate) fn load_or_compile(
    engine: &Engine,
    variant: Variant,
    hash: &[u8; 32],
    prepare: impl FnOnce() -> Result<Vec<u8>, Error>,
) -> Result<Module, Error> {
    let dir = STATE.lock().dir.clone();
    let Some(dir) = dir else {
        let wasm = prepare()?;
        return Module::new(engine, &wasm).map_err(|e| Error::Compile(format!("{e:#}")));
    };
    let path = path_for(&dir, variant, hash);
    if let Ok(bytes) = std::fs::read(&path) {
        if let Ok(checked) = check(&bytes, Integrity::Crc) {
            if checked.variant == variant && &checked.hash == hash {
                if let Ok(module) = deserialize(engine, &checked) {
                    STATE.lock().hits += 1;
                    touch(&path);
                    return Ok(module);
                }
            }
        }
    }
    STATE.lock().misses += 1;
    let wasm = prepare()?;
    let module = Module::new(engine, &wasm).map_err(|e| Error::Compile(format!("{e:#}")))?;
    if let Ok(payload) = module.serialize() {
        let artifact = wrap(engine, variant, hash, &payload);
        let budget = STATE.lock().max_bytes;
        // An artifact that alone passes the budget is not kept.
        if artifact.len() as u64 <= budget {
            // Written under a temporary name and renamed, so a reader never sees half
            // a file.
            let tmp = tmp_path(&path);
            if std::fs::write(&tmp, &artifact).is_ok() && std::fs::rename(&tmp, &path).is_ok() {
                evict(&dir, budget, Some(&path));
            } else {
                let _ = std::fs::remove_file(&tmp);
            }
        }
    }
    Ok(module)
}

/// Compiles `bytes` for `variant` and returns an artifact that [`load_artifact`] on
/// this node (or a node sharing its cache directory) accepts.
pub fn precompile(bytes: &[u8], variant: Variant) -> Result<Vec<u8>, Error> {
    let compiled = compile_for(bytes, variant)?;
    let variant = compiled.variant();
    let engine = engine_for(variant);
    let payload = compiled
        .wasmtime_module()
        .serialize()
        .map_err(|e| Error::Aot(format!("serialize: {e:#}")))?;
    let artifact = wrap(engine, variant, compiled.hash(), &payload);
    STATE.lock().trusted.insert(Sha256::digest(&payload).into());
    Ok(artifact)
}

/// The compiled module an `aot` artifact stands for, if every check passes.
pub fn load_artifact(artifact: &[u8]) -> Result<Arc<CompiledModule>, Error> {
    let checked = check(artifact, Integrity::Digest)?;
    let trusted = {
        let state = STATE.lock();
        state.trusted.contains(&checked.digest)
            || state.dir.as_ref().is_some_and(|dir| {
                let path = path_for(dir, checked.variant, &checked.hash);
                std::fs::read(path)
                    .ok()
                    .and_then(|own| {
                        let own = check(&own, Integrity::Crc).ok()?;
                        Some(own.digest == checked.digest)
                    })
                    .unwrap_or(false)
            })
    };
    if !trusted {
        return Err(Error::Aot(
            "artifact not produced by this node's cache".to_string(),
        ));
    }
    if let Some(found) = lookup(&(checked.variant, checked.hash)) {
        return Ok(found);
    }
    let module = deserialize(engine_for(checked.variant), &checked)?;
    // An artifact carries no wasm to read the element segments from: its instances
    // read their tables when they start.
    let initial = InitialTables::unknown();
    let compiled = Arc::new(describe(module, checked.hash, checked.variant, initial)?);
    insert(compiled.clone());
    Ok(compiled)
}
