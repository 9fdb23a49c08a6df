//! The two halves of an asymmetric fence, for a Dekker-style handshake whose one side
//! runs on every call and whose other side runs only when a process queues.
//!
//! Each side of the gate's handshake stores its own flag and then loads the other's;
//! both loads may miss the other store unless a full fence sits between store and load
//! on both sides. A full fence on x86 costs as much as the compare-and-swap it would
//! replace. On Linux, `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` makes every
//! running thread of the process execute a full fence, so the frequent side needs only
//! a compiler fence and the rare side pays for a system call. Where membarrier is not
//! available (other systems, or a sandbox that refuses it), both sides use full fences.

use once_cell::sync::OnceCell;
use std::sync::atomic::{compiler_fence, fence, Ordering};

static ASYMMETRIC: OnceCell<bool> = OnceCell::new();

/// Chooses the fences; must run before either half is used (the gate calls it when it
/// is made, so any holder of a gate sees the choice made).
pub(crate) fn init() {
    ASYMMETRIC.get_or_init(register);
}

/// Whether the frequent side gets away with a compiler fence.
pub fn asymmetric() -> bool {
    ASYMMETRIC.get().copied().unwrap_or(false)
}

#[cfg(target_os = "linux")]
fn register() -> bool {
    use rustix::thread::{membarrier, membarrier_query, MembarrierCommand, MembarrierQuery};
    membarrier_query().contains(MembarrierQuery::PRIVATE_EXPEDITED)
        && membarrier(MembarrierCommand::RegisterPrivateExpedited).is_ok()
}

#[cfg(not(target_os = "linux"))]
fn register() -> bool {
    false
}

/// The frequent side: orders this thread's earlier stores before its later loads, as
/// seen by a thread that runs [`heavy`].
#[inline]
pub(crate) fn light() {
    if asymmetric() {
        compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

/// The rare side: a full fence here and on every other running thread of the process.
pub(crate) fn heavy() {
    #[cfg(target_os = "linux")]
    if asymmetric() {
        use rustix::thread::{membarrier, MembarrierCommand};
        // Registered in `init`, so this cannot be refused.
        let done = membarrier(MembarrierCommand::PrivateExpedited);
        debug_assert!(done.is_ok(), "membarrier after registering: {done:?}");
    }
    fence(Ordering::SeqCst);
}
