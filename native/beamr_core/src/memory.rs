//! Bounds-checked access to an instance's linear memory.
//!
//! Offsets and lengths come from callers and are untrusted: every range is checked
//! with overflow-free arithmetic against the memory's current size before any slice
//! is taken or any buffer is sized from it.

use crate::error::Error;
use crate::module::{CompiledModule, Kind};
use crate::prepare::reserved_exports;
use std::ops::Range;
use wasmtime::{AsContextMut, Instance, Memory};

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

/// The range of the NUL-terminated string at `offset` in `data`, without its NUL, if
/// it is at most `max` bytes long.
pub fn cstring_range(data: &[u8], offset: u64, max: u64) -> Result<Range<usize>, Error> {
    let size = data.len() as u64;
    if offset >= size {
        return Err(Error::OutOfBounds {
            offset,
            len: 1,
            size,
        });
    }
    let start = offset as usize;
    let end = offset.saturating_add(max).saturating_add(1).min(size) as usize;
    match memchr::memchr(0, &data[start..end]) {
        Some(len) => Ok(start..start + len),
        None if end as u64 == size => Err(Error::UnterminatedString { offset }),
        None => Err(Error::StringTooLong { offset, max }),
    }
}

/// The memory an instance's reads and writes address: its first exported memory, else
/// the memory it defines (reached through its reserved export).
pub(crate) fn default_memory(
    store: impl AsContextMut,
    instance: &Instance,
    module: &CompiledModule,
) -> Option<Memory> {
    // From the module's own descriptions: walking the instance's exports would make a
    // store item of every exported function on every start (thousands, for AOS).
    let name = module
        .exports()
        .iter()
        .find(|e| e.kind == Kind::Memory)
        .map_or(reserved_exports::MEMORY_NAME, |e| e.name.as_str());
    instance.get_memory(store, name)
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

    #[test]
    fn strings_end_at_their_nul_within_memory_and_max() {
        let data = b"ab\0cd\0ef";
        assert_eq!(cstring_range(data, 0, u64::MAX).unwrap(), 0..2);
        assert_eq!(cstring_range(data, 2, u64::MAX).unwrap(), 2..2);
        assert_eq!(cstring_range(data, 3, 2).unwrap(), 3..5);
        assert_eq!(cstring_range(data, 2, 0).unwrap(), 2..2);
        assert_eq!(
            cstring_range(data, 3, 1),
            Err(Error::StringTooLong { offset: 3, max: 1 })
        );
        assert_eq!(
            cstring_range(data, 7, u64::MAX),
            Err(Error::UnterminatedString { offset: 7 })
        );
        assert_eq!(
            cstring_range(data, 8, 1000),
            Err(Error::OutOfBounds {
                offset: 8,
                len: 1,
                size: 8
            })
        );
        assert!(cstring_range(data, u64::MAX, u64::MAX).is_err());
        assert!(cstring_range(&[], 0, 1).is_err());
    }
}
