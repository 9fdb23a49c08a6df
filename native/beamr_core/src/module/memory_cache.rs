//! The in-memory cache of compiled modules: at most [`CACHE_CAPACITY`] of them, keyed
//! on engine variant and source hash, the least recently used evicted first, with hit
//! and miss counts ([`cache_info`]). Instances keep their module alive past eviction.

use super::compiled::CompiledModule;
use crate::engine::Variant;
use once_cell::sync::Lazy;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

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

/// The cached compilation for `key`, if any, counting neither a hit nor a miss.
pub(crate) fn peek(key: &Key) -> Option<Arc<CompiledModule>> {
    CACHE.lock().modules.get(key).cloned()
}
