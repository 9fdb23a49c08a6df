//! Clearing linear memory without touching what was never used. Where memory is known
//! to start as zeros from the kernel (past the module's initial contents, see
//! `memory_extent.rs`), whole host pages are handed back with `madvise(MADV_DONTNEED)`:
//! they read as zeros again and hold no memory, so clearing gigabytes a guest grew but
//! never wrote costs a system call, not a pass over every page. Elsewhere, and for the
//! partial pages at the edges, only the bytes that are not zero already are written.

/// The granule at which already-zero bytes are skipped rather than written.
const GRANULE: usize = 4096;

/// Sets `bytes` to zero. `bytes` starts at linear-memory offset `offset`; from memory
/// offset `fresh_from` on (if known), the memory is private anonymous memory whose
/// dropped pages read as zeros.
pub(crate) fn clear(bytes: &mut [u8], offset: u64, fresh_from: Option<u64>) {
    let Some(fresh_from) = fresh_from else {
        return write_zeros(bytes);
    };
    let skip = usize::try_from(fresh_from.saturating_sub(offset))
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let (written, fresh) = bytes.split_at_mut(skip);
    write_zeros(written);
    let page = host_page();
    let start = fresh.as_ptr() as usize;
    let head = start.next_multiple_of(page) - start;
    if head >= fresh.len() {
        return write_zeros(fresh);
    }
    let body = (fresh.len() - head) / page * page;
    let (head_bytes, rest) = fresh.split_at_mut(head);
    let (body_bytes, tail_bytes) = rest.split_at_mut(body);
    write_zeros(head_bytes);
    write_zeros(tail_bytes);
    if body > 0 && !drop_pages(body_bytes) {
        write_zeros(body_bytes);
    }
}

/// Writes zeros over every granule of `bytes` that is not all zeros already.
fn write_zeros(bytes: &mut [u8]) {
    for granule in bytes.chunks_mut(GRANULE) {
        if !is_zero(granule) {
            granule.fill(0);
        }
    }
}

/// True when every byte is zero; word-wise, so it runs at memory bandwidth.
pub(crate) fn is_zero(bytes: &[u8]) -> bool {
    // SAFETY: u128 has no invalid bit patterns; align_to only splits at alignment.
    let (head, body, tail) = unsafe { bytes.align_to::<u128>() };
    head.iter().all(|&b| b == 0)
        && tail.iter().all(|&b| b == 0)
        && body
            .chunks(16)
            .all(|c| c.iter().fold(0, |a, &w| a | w) == 0)
}

#[cfg(target_os = "linux")]
fn host_page() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(GRANULE).max(1)
}

#[cfg(not(target_os = "linux"))]
fn host_page() -> usize {
    GRANULE
}

/// Hands the pages of `bytes` (page-aligned, whole pages, in private anonymous memory)
/// back to the kernel; false if it refused, and nothing changed.
#[cfg(target_os = "linux")]
fn drop_pages(bytes: &mut [u8]) -> bool {
    // SAFETY: `bytes` is an exclusively borrowed, page-aligned run of whole pages of a
    // private anonymous mapping (the caller's contract): MADV_DONTNEED leaves the
    // mapping in place and makes those pages read as zeros, which is exactly writing
    // zeros through the borrow; no other reference to them exists meanwhile.
    unsafe { libc::madvise(bytes.as_mut_ptr().cast(), bytes.len(), libc::MADV_DONTNEED) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn drop_pages(_bytes: &mut [u8]) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A private anonymous mapping, as wasmtime gives linear memory.
    struct Mapping {
        ptr: *mut u8,
        len: usize,
    }

    impl Mapping {
        fn new(len: usize) -> Mapping {
            // SAFETY: a fresh anonymous mapping; checked for failure below.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            assert_ne!(ptr, libc::MAP_FAILED);
            Mapping {
                ptr: ptr.cast(),
                len,
            }
        }

        fn bytes(&mut self) -> &mut [u8] {
            // SAFETY: the mapping is live, readable and writable for `len` bytes and
            // borrowed mutably through `self`.
            unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
        }

        /// Pages of the mapping the kernel holds in memory.
        fn resident_pages(&self) -> usize {
            let page = host_page();
            let mut vec = vec![0u8; self.len.div_ceil(page)];
            // SAFETY: `vec` has one byte per page of the live mapping.
            assert_eq!(
                unsafe { libc::mincore(self.ptr.cast(), self.len, vec.as_mut_ptr()) },
                0
            );
            vec.iter().filter(|&&b| b & 1 == 1).count()
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: unmaps the mapping made in `new`, no longer borrowed.
            unsafe { libc::munmap(self.ptr.cast(), self.len) };
        }
    }

    #[test]
    fn fresh_memory_is_cleared_without_being_touched() {
        let len = 64 << 20;
        let mut m = Mapping::new(len);
        let bytes = m.bytes();
        bytes[10] = 9;
        bytes[100] = 1;
        bytes[len / 2] = 2;
        bytes[len - 1] = 3;
        let before = m.resident_pages();
        assert!(before >= 3);
        clear(&mut m.bytes()[50..], 50, Some(0));
        // What stays resident is at most the partial page at the edge it wrote.
        assert!(m.resident_pages() <= 1, "{}", m.resident_pages());
        assert_eq!(m.bytes()[10], 9, "bytes before the slice are left alone");
        assert!(m.bytes()[50..].iter().all(|&b| b == 0));
    }

    #[test]
    fn below_fresh_from_bytes_are_written() {
        let mut m = Mapping::new(1 << 20);
        let bytes = m.bytes();
        bytes.iter_mut().step_by(1000).for_each(|b| *b = 7);
        clear(&mut m.bytes()[10..], 10, Some(300_000));
        let bytes = m.bytes();
        assert!(bytes[10..].iter().all(|&b| b == 0));
        assert_eq!(bytes[0], 7);
    }

    #[test]
    fn unknown_extent_writes_everything() {
        let mut m = Mapping::new(1 << 16);
        m.bytes().fill(9);
        clear(m.bytes(), 0, None);
        assert!(m.bytes().iter().all(|&b| b == 0));
    }
}
