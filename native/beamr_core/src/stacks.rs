//! The fiber stacks wasmtime runs calls on, kept for reuse.
//!
//! Every call runs on a fiber of its own. wasmtime keeps one spare stack per store and
//! otherwise maps a fresh one for each fiber and unmaps it afterwards: a call made
//! while another is on its fiber (emscripten's `invoke_*` trampolines, a re-entrant
//! call from an import) would pay an `mmap`, the page faults of every stack page it
//! touches, and a `munmap`, many times what the call itself costs. This [`StackCreator`] hands out stacks from a node-wide free list and
//! takes them back when wasmtime drops them; the free list keeps at most
//! [`MAX_FREE`] stacks, whose touched pages stay resident for the next fiber.

use parking_lot::Mutex;
use std::ops::Range;
use wasmtime::{StackCreator, StackMemory};

/// Free stacks kept for reuse; more are unmapped.
pub const MAX_FREE: usize = 64;

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).unwrap_or(4096)
}

/// The failure of the system call just made.
fn os_error() -> wasmtime::Error {
    wasmtime::Error::msg(format!(
        "cannot map a fiber stack: {}",
        std::io::Error::last_os_error()
    ))
}

/// One mapping: a guard page at the bottom, then `len - guard` usable bytes.
struct Mapping {
    base: usize,
    len: usize,
    guard: usize,
}

impl Mapping {
    fn new(size: usize) -> Result<Mapping, wasmtime::Error> {
        let guard = page_size();
        let size = size
            .checked_next_multiple_of(guard)
            .ok_or_else(|| wasmtime::Error::msg("fiber stack size overflows"))?;
        let len = size + guard;
        // SAFETY: a fresh anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(os_error());
        }
        let mapping = Mapping {
            base: base as usize,
            len,
            guard,
        };
        // SAFETY: the range lies inside the mapping made above.
        let made_usable = unsafe {
            libc::mprotect(
                (mapping.base + guard) as *mut libc::c_void,
                size,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
        if made_usable != 0 {
            return Err(os_error());
        }
        Ok(mapping)
    }

    fn usable(&self) -> Range<usize> {
        self.base + self.guard..self.base + self.len
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and no stack refers to it any more.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.len) };
    }
}

/// Stacks waiting for reuse, shared by every engine (they use one stack size).
static FREE: Mutex<Vec<Mapping>> = Mutex::new(Vec::new());

/// Stacks waiting for reuse.
pub fn free_stacks() -> usize {
    FREE.lock().len()
}

/// The [`StackCreator`] beamr's engines use.
pub struct PooledStacks;

/// A stack lent to wasmtime; back to the free list when wasmtime drops it.
struct PooledStack(Option<Mapping>);

// SAFETY: the usable range is page aligned, mapped read-write and owned by this stack
// until it is dropped; the guard page below it is mapped with no access.
unsafe impl StackMemory for PooledStack {
    fn top(&self) -> *mut u8 {
        self.range().end as *mut u8
    }

    fn range(&self) -> Range<usize> {
        self.0.as_ref().map_or(0..0, Mapping::usable)
    }

    fn guard_range(&self) -> Range<*mut u8> {
        match &self.0 {
            Some(m) => m.base as *mut u8..(m.base + m.guard) as *mut u8,
            None => std::ptr::null_mut()..std::ptr::null_mut(),
        }
    }
}

impl Drop for PooledStack {
    fn drop(&mut self) {
        if let Some(mapping) = self.0.take() {
            let mut free = FREE.lock();
            if free.len() < MAX_FREE {
                free.push(mapping);
            }
        }
    }
}

// SAFETY: every stack it makes is a `PooledStack` as described there.
unsafe impl StackCreator for PooledStacks {
    fn new_stack(
        &self,
        size: usize,
        zeroed: bool,
    ) -> Result<Box<dyn StackMemory>, wasmtime::Error> {
        let reused = {
            let mut free = FREE.lock();
            let fits = free.iter().rposition(|m| m.usable().len() >= size);
            fits.map(|i| free.swap_remove(i))
        };
        let mapping = match reused {
            Some(m) => {
                if zeroed {
                    let r = m.usable();
                    // SAFETY: the range is mapped read-write and owned by this stack.
                    unsafe { std::ptr::write_bytes(r.start as *mut u8, 0, r.len()) };
                }
                m
            }
            None => Mapping::new(size)?,
        };
        Ok(Box::new(PooledStack(Some(mapping))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_are_aligned_guarded_writable_and_reused() {
        let size = 64 * 1024;
        let a = PooledStacks.new_stack(size, false).unwrap();
        let page = page_size();
        let r = a.range();
        assert_eq!(r.start % page, 0);
        assert_eq!(r.end % page, 0);
        assert!(r.len() >= size);
        assert_eq!(a.top() as usize, r.end);
        assert_eq!(a.guard_range().end as usize, r.start);
        // SAFETY: the stack's usable range is mapped read-write.
        unsafe { std::ptr::write_bytes(r.start as *mut u8, 0xAB, r.len()) };
        drop(a);
        assert!(free_stacks() >= 1);
        // Zeroing asked for: a reused stack comes back clean.
        let b = PooledStacks.new_stack(size, true).unwrap();
        let r = b.range();
        // SAFETY: as above.
        let bytes = unsafe { std::slice::from_raw_parts(r.start as *const u8, r.len()) };
        assert!(bytes.iter().all(|&x| x == 0));
    }
}
