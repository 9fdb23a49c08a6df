//! What an instance may consume, chosen when it starts.
//!
//! Memory and table sizes are enforced by a wasmtime `StoreLimits` in the store, so a
//! `memory.grow` or `table.grow` past them returns -1 as the spec says, and the VM never
//! runs out of memory because of one instance. The wasm stack is bounded engine-wide
//! ([`crate::engine::MAX_WASM_STACK`]); time by the per-call deadline; instructions by
//! fuel, available when the instance runs on the deterministic engine.

use crate::engine::Variant;
use std::sync::atomic::{AtomicU32, Ordering};
use wasmtime::{StoreLimits, StoreLimitsBuilder};

/// Default limit on calls nested inside imports: a re-entrant call from an import fun,
/// or emscripten's `invoke_*`. Each level runs on a fiber stack of its own.
pub const DEFAULT_MAX_NESTING: u32 = 1000;

static MAX_NESTING: AtomicU32 = AtomicU32::new(DEFAULT_MAX_NESTING);

/// How deep calls may nest inside imports on one instance, node-wide; a call past it
/// fails with [`crate::Error::NestingTooDeep`] and the calls around it go on.
pub fn max_nesting() -> u32 {
    MAX_NESTING.load(Ordering::Relaxed)
}

/// Sets [`max_nesting`] for the node.
pub fn set_max_nesting(levels: u32) {
    MAX_NESTING.store(levels, Ordering::Relaxed);
}

/// Default ceiling on one linear memory: 4 GiB.
pub const DEFAULT_MAX_MEMORY: u64 = 4 << 30;
/// Default ceiling on the elements of one table.
pub const DEFAULT_MAX_TABLE_ELEMENTS: u64 = 1 << 20;

/// Start options of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Largest size any one linear memory may reach, in bytes.
    pub max_memory: u64,
    /// Largest number of elements any one table may hold.
    pub max_table_elements: u64,
    /// Run on the deterministic engine: NaN canonicalization and fuel metering.
    pub deterministic: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_memory: DEFAULT_MAX_MEMORY,
            max_table_elements: DEFAULT_MAX_TABLE_ELEMENTS,
            deterministic: false,
        }
    }
}

impl Options {
    /// The engine these options need.
    pub fn variant(&self) -> Variant {
        if self.deterministic {
            Variant::Deterministic
        } else {
            Variant::Default
        }
    }

    pub(crate) fn store_limits(&self) -> StoreLimits {
        let clamp = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        StoreLimitsBuilder::new()
            .memory_size(clamp(self.max_memory))
            .table_elements(clamp(self.max_table_elements))
            .build()
    }
}
