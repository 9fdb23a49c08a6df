//! Bounds-checked access to an instance's linear memory.
//!
//! Offsets and lengths come from callers and are untrusted: every range is checked
//! with overflow-free arithmetic against the memory's current size before any slice
//! is taken or any buffer is sized from it.

use crate::error::Error;
use std::ops::Range;
use wasmtime::{AsContextMut, Extern, Instance, Memory};

/// The byte range `offset..offset + len` of a memory of `size` bytes, if it lies inside.
pub fn checked_range(size: usize, offset: u64, len: u64) -> Result<Range<usize>, Error> {
    let out_of_bounds = Error::OutOfBounds {
        offset,
        len,
        size: size as u64,
    };
    let end = offset.checked_add(len).ok_or(out_of_bounds.clone())?;
    if end > size as u64 {
        return Err(out_of_bounds);
    }
    Ok(offset as usize..end as usize)
}

/// The memory an instance's reads and writes address: its first exported memory.
pub(crate) fn default_memory(mut store: impl AsContextMut, instance: &Instance) -> Option<Memory> {
    let exports: Vec<Extern> = instance
        .exports(&mut store)
        .map(|e| e.into_extern())
        .collect();
    exports.into_iter().find_map(|e| e.into_memory())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_inside_memory_pass() {
        assert_eq!(checked_range(100, 0, 100).unwrap(), 0..100);
        assert_eq!(checked_range(100, 100, 0).unwrap(), 100..100);
    }

    #[test]
    fn hostile_ranges_are_rejected_without_overflow() {
        assert!(checked_range(100, 101, 0).is_err());
        assert!(checked_range(100, 50, 51).is_err());
        assert!(checked_range(100, u64::MAX, 1).is_err());
        assert!(checked_range(100, 1, u64::MAX).is_err());
        assert!(checked_range(0, 0, 1).is_err());
    }
}
