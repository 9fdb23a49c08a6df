//! Bounds-checked access to an instance's linear memory.
//!
//! Offsets and lengths come from callers and are untrusted: every range is checked
//! with overflow-free arithmetic against the memory's current size before any slice
//! is taken or any buffer is sized from it.

use crate::error::Error;
use crate::module::{CompiledModule, Kind};
use crate::reserved_exports;
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
}
