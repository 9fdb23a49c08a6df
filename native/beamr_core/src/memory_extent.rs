//! How far into a module's own linear memory its initial contents reach: past that
//! offset, memory starts as zeros that the kernel supplies on demand (anonymous
//! pages), including everything `memory.grow` adds. wasmtime maps a module's data
//! segments from a copy-on-write image (or copies them in); only within that span
//! does a page dropped by the kernel come back as something other than zeros. A
//! snapshot restore uses it to clear memory by handing pages back to the kernel
//! instead of writing, and so without touching pages that were never used.

use wasmparser::{DataKind, Operator, Parser, Payload, TypeRef};

/// The end of memory 0's initial contents, when the module defines that memory and
/// places every active data segment at a constant offset; `None` otherwise (an
/// imported memory, a computed offset, bytes that do not parse), where nothing may be
/// assumed.
///
/// ```
/// use beamr_core::memory_extent::initial_extent;
/// let wasm = wat::parse_str(r#"(module (memory 2) (data (i32.const 70000) "abc"))"#).unwrap();
/// assert_eq!(initial_extent(&wasm), Some(70003));
/// let imported = wat::parse_str(r#"(module (import "m" "mem" (memory 1)))"#).unwrap();
/// assert_eq!(initial_extent(&imported), None);
/// ```
pub fn initial_extent(wasm: &[u8]) -> Option<u64> {
    let mut own_memory = false;
    let mut end = 0u64;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.ok()? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if matches!(import.ok()?.ty, TypeRef::Memory(_)) {
                        return None;
                    }
                }
            }
            Payload::MemorySection(reader) => own_memory |= reader.count() > 0,
            Payload::DataSection(reader) => {
                for data in reader {
                    let data = data.ok()?;
                    let DataKind::Active {
                        memory_index,
                        offset_expr,
                    } = data.kind
                    else {
                        continue;
                    };
                    if memory_index != 0 {
                        continue;
                    }
                    let mut ops = offset_expr.get_operators_reader();
                    let offset = match ops.read().ok()? {
                        Operator::I32Const { value } => u64::from(value as u32),
                        Operator::I64Const { value } => value as u64,
                        _ => return None,
                    };
                    if !matches!(ops.read().ok()?, Operator::End) {
                        return None;
                    }
                    end = end.max(offset.checked_add(data.data.len() as u64)?);
                }
            }
            _ => {}
        }
    }
    own_memory.then_some(end)
}

#[cfg(test)]
mod tests {
    use super::initial_extent;

    fn extent(text: &str) -> Option<u64> {
        initial_extent(&wat::parse_str(text).unwrap())
    }

    #[test]
    fn no_data_means_all_zeros() {
        assert_eq!(extent("(module (memory 1))"), Some(0));
    }

    #[test]
    fn passive_segments_and_other_memories_do_not_count() {
        assert_eq!(
            extent(r#"(module (memory 1) (data "passive") (data (i32.const 8) "x"))"#),
            Some(9)
        );
    }

    #[test]
    fn a_computed_offset_is_unknown() {
        assert_eq!(
            extent(
                r#"(module (global $g i32 (i32.const 4)) (memory 1) (data (global.get $g) "x"))"#
            ),
            None
        );
    }

    #[test]
    fn memory64_offsets() {
        assert_eq!(
            extent(r#"(module (memory i64 1) (data (i64.const 65536) "xy"))"#),
            Some(65538)
        );
    }

    #[test]
    fn no_memory_is_unknown() {
        assert_eq!(extent("(module)"), None);
    }
}
