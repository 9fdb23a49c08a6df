//! The content hash of a module binary, remembered for the last few large binaries.
//!
//! A start hashes its module (SHA-256, a cost that grows with the image) to find
//! the compilation in the cache, which is most of a cached start. A node that keeps an
//! image in memory (an ETS cache, say) passes the same off-heap binary every time, so
//! the hash of a binary is remembered by its address and length, with a reference to
//! the binary kept alongside: while it is held its memory cannot be reused, and Erlang
//! binaries never change, so the same address and length mean the same bytes. Only
//! binaries large enough to be off-heap are remembered (a heap binary moves), and only
//! a few, so what is kept alive stays bounded. The last few small binaries are
//! remembered by a copy of their bytes instead: comparing with a copy is several
//! times cheaper than hashing, and a small module started over and over (a fresh
//! instance per message) pays the hash once.

use beamr_core::module::content_hash;
use parking_lot::Mutex;
use rustler::env::SavedTerm;
use rustler::{Binary, OwnedEnv};
use std::collections::VecDeque;

/// Smaller binaries are hashed every time: cheap, and possibly on the process heap.
const MIN_BYTES: usize = 64 * 1024;
/// How many binaries are remembered (each is kept alive while remembered).
const ENTRIES: usize = 8;
/// How many small binaries are remembered by a copy (at most `MIN_BYTES` each).
const SMALL_ENTRIES: usize = 8;

struct Seen {
    addr: usize,
    len: usize,
    hash: [u8; 32],
    // Holds a reference to the binary, so that its memory is not reused.
    _env: OwnedEnv,
    _term: SavedTerm,
}

static SEEN: Mutex<VecDeque<Seen>> = Mutex::new(VecDeque::new());
/// A small binary's bytes and their hash.
type SmallSeen = (Box<[u8]>, [u8; 32]);

static SMALL: Mutex<VecDeque<SmallSeen>> = Mutex::new(VecDeque::new());

/// The SHA-256 of a small binary's bytes, remembered for the last few.
fn small_hash(bytes: &[u8]) -> [u8; 32] {
    if let Some((_, hash)) = SMALL.lock().iter().find(|(b, _)| **b == *bytes) {
        return *hash;
    }
    let hash = content_hash(bytes);
    let mut small = SMALL.lock();
    if small.len() == SMALL_ENTRIES {
        small.pop_front();
    }
    small.push_back((bytes.into(), hash));
    hash
}

/// The SHA-256 of `bin`'s bytes if it is cheap to have: a small binary is hashed, a
/// large one only found among those remembered. For the normal-scheduler start.
pub fn cheap_hash_of(bin: &Binary) -> Option<[u8; 32]> {
    let bytes = bin.as_slice();
    if bytes.len() < MIN_BYTES {
        return Some(small_hash(bytes));
    }
    let (addr, len) = (bytes.as_ptr() as usize, bytes.len());
    let seen = SEEN.lock();
    seen.iter()
        .find(|s| s.addr == addr && s.len == len)
        .map(|s| s.hash)
}

/// The SHA-256 of `bin`'s bytes.
pub fn hash_of(bin: &Binary) -> [u8; 32] {
    let bytes = bin.as_slice();
    if bytes.len() < MIN_BYTES {
        return small_hash(bytes);
    }
    let (addr, len) = (bytes.as_ptr() as usize, bytes.len());
    if let Some(seen) = SEEN.lock().iter().find(|s| s.addr == addr && s.len == len) {
        return seen.hash;
    }
    let hash = content_hash(bytes);
    let env = OwnedEnv::new();
    let term = env.save(*bin);
    let mut seen = SEEN.lock();
    if seen.len() == ENTRIES {
        seen.pop_front();
    }
    seen.push_back(Seen {
        addr,
        len,
        hash,
        _env: env,
        _term: term,
    });
    hash
}
