//! The node-wide budget for linear memory: the sum of the sizes of every instance's
//! memories may not pass it. Each store's limiter (see `limits.rs`) reserves from it
//! as its memories are created and grow, and gives back what it held when the store
//! is dropped. Growth past the budget is refused like growth past a memory's own
//! limit (`memory.grow` returns -1); an instance whose initial memory does not fit
//! does not start. It counts the sizes guests ask for, not the pages they touch: a
//! bound on what guests may demand, whatever they end up using.

use once_cell::sync::Lazy;
use std::sync::atomic::{AtomicU64, Ordering};

/// The default budget, as a fraction of the machine's physical memory: one half.
pub const DEFAULT_FRACTION: (u64, u64) = (1, 2);

/// The budget in bytes, the default until set.
static BUDGET: Lazy<AtomicU64> = Lazy::new(|| AtomicU64::new(default_budget()));
/// Bytes held by live stores.
static USED: AtomicU64 = AtomicU64::new(0);

/// Half of the machine's physical memory (or of 4 GiB where it cannot be read).
pub fn default_budget() -> u64 {
    let (num, den) = DEFAULT_FRACTION;
    physical_memory().unwrap_or(4 << 30) / den * num
}

#[cfg(unix)]
fn physical_memory() -> Option<u64> {
    // SAFETY: sysconf has no preconditions.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    u64::try_from(pages)
        .ok()?
        .checked_mul(u64::try_from(size).ok()?)
}

#[cfg(not(unix))]
fn physical_memory() -> Option<u64> {
    None
}

/// The budget in bytes.
///
/// ```
/// assert!(beamr_core::memory_budget::budget() > 0);
/// ```
pub fn budget() -> u64 {
    BUDGET.load(Ordering::Relaxed)
}

/// Sets the budget. Memory already held stays held; only later growth is checked.
///
/// ```
/// use beamr_core::memory_budget::{budget, set_budget};
/// let before = budget();
/// set_budget(before);
/// assert_eq!(budget(), before);
/// ```
pub fn set_budget(bytes: u64) {
    BUDGET.store(bytes, Ordering::Relaxed);
}

/// Bytes of linear memory live instances hold.
///
/// ```
/// let _held: u64 = beamr_core::memory_budget::used();
/// ```
pub fn used() -> u64 {
    USED.load(Ordering::Relaxed)
}

/// Takes `bytes` from the budget, if that leaves it not exceeded.
pub(crate) fn reserve(bytes: u64) -> bool {
    let limit = budget();
    USED.fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
        used.checked_add(bytes).filter(|&total| total <= limit)
    })
    .is_ok()
}

/// Gives back `bytes` taken with [`reserve`].
pub(crate) fn release(bytes: u64) {
    USED.fetch_sub(bytes, Ordering::AcqRel);
}
