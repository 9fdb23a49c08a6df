//! What an instance may consume, chosen when it starts.
//!
//! Memory and table sizes are enforced by the store's resource limiter ([`Limits`]), so
//! a `memory.grow` or `table.grow` past them returns -1 as the spec says, and the VM
//! never runs out of memory because of one instance; the same limiter takes every
//! memory's bytes from the node-wide budget (`memory_budget.rs`), so neither does it
//! because of many. The wasm stack is bounded engine-wide
//! ([`crate::engine::MAX_WASM_STACK`]); time by the per-call deadline; instructions by
//! fuel, available when the instance runs on the deterministic engine.

use crate::engine::Variant;
use crate::memory_budget;
use crate::proposals::Optional;
use std::sync::atomic::{AtomicU32, Ordering};
use wasmtime::ResourceLimiter;

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
    /// The optional wasm proposals the instance's engine enables.
    pub optional: Optional,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_memory: DEFAULT_MAX_MEMORY,
            max_table_elements: DEFAULT_MAX_TABLE_ELEMENTS,
            deterministic: false,
            optional: Optional::NONE,
        }
    }
}

impl Options {
    /// Start options for `variant`'s engine, each limit the default where `None`:
    /// the one place a caller's omitted limit gets its value.
    ///
    /// ```
    /// use beamr_core::limits::{Options, DEFAULT_MAX_TABLE_ELEMENTS};
    /// use beamr_core::Variant;
    /// let o = Options::new(Some(1 << 20), None, Variant::DETERMINISTIC);
    /// assert_eq!((o.max_memory, o.max_table_elements), (1 << 20, DEFAULT_MAX_TABLE_ELEMENTS));
    /// assert!(o.deterministic);
    /// ```
    pub fn new(
        max_memory: Option<u64>,
        max_table_elements: Option<u64>,
        variant: Variant,
    ) -> Options {
        Options {
            max_memory: max_memory.unwrap_or(DEFAULT_MAX_MEMORY),
            max_table_elements: max_table_elements.unwrap_or(DEFAULT_MAX_TABLE_ELEMENTS),
            deterministic: variant.deterministic,
            optional: variant.optional,
        }
    }

    /// The engine these options ask for; the module picks its memory layout (see
    /// [`crate::engine::choose`]).
    pub fn variant(&self) -> Variant {
        Variant {
            deterministic: self.deterministic,
            optional: self.optional,
            ..Variant::DEFAULT
        }
    }

    pub(crate) fn limits(&self) -> Limits {
        let clamp = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Limits {
            max_memory: clamp(self.max_memory),
            max_table_elements: clamp(self.max_table_elements),
            held: 0,
            pending: 0,
            over_budget: None,
        }
    }
}

/// A store's resource limiter: each memory's and table's own ceiling, and the bytes
/// this store holds of the node-wide memory budget (given back when it is dropped).
#[derive(Debug)]
pub struct Limits {
    max_memory: usize,
    max_table_elements: usize,
    /// Bytes reserved from the budget for this store's memories.
    held: u64,
    /// The reservation of the growth in progress, given back if wasmtime then fails it.
    pending: u64,
    /// The size a memory asked for when the budget refused it, last time it did.
    over_budget: Option<u64>,
}

impl Limits {
    /// The size a memory of this store asked for when the budget last refused it.
    pub(crate) fn over_budget(&self) -> Option<u64> {
        self.over_budget
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.pending = 0;
        if desired > self.max_memory {
            return Ok(false);
        }
        let delta = desired.saturating_sub(current) as u64;
        if !memory_budget::reserve(delta) {
            self.over_budget = Some(desired as u64);
            return Ok(false);
        }
        self.held += delta;
        self.pending = delta;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        memory_budget::release(self.pending);
        self.held -= self.pending;
        self.pending = 0;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.max_table_elements)
    }
}

impl Drop for Limits {
    fn drop(&mut self) {
        memory_budget::release(self.held);
    }
}
