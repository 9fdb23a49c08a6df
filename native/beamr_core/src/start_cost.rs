//! Whether instantiating a module is known to take microseconds, so that a start of
//! an already compiled module may run on the caller's (normal) scheduler instead of
//! hopping to a dirty one.
//!
//! Instantiation runs no guest code except the start function, and its other work is
//! bounded by the module's data and element segments: wasmtime maps memory from a
//! copy-on-write image where it can (and copies the segments where it cannot), fills
//! function tables lazily, and evaluates constant expressions per element item. So a
//! module without a start function whose segments are small starts in bounded time.
//! Anything that does not parse is not quick.

use wasmparser::{ElementItems, Parser, Payload};

/// Data segment bytes past which a start may be slow (copied where no copy-on-write
/// image applies, at memory bandwidth: well under a millisecond).
pub const MAX_DATA_BYTES: u64 = 1 << 20;

/// Element items past which a start may be slow (expressions are evaluated one by one).
pub const MAX_ELEMENT_ITEMS: u64 = 16 * 1024;

/// Imports and globals past which a start may be slow (each is resolved at start).
pub const MAX_ITEMS: u32 = 10_000;

/// Whether `wasm` (binary) instantiates in bounded, short time: no start function,
/// segments within [`MAX_DATA_BYTES`] and [`MAX_ELEMENT_ITEMS`], imports and globals
/// within [`MAX_ITEMS`].
///
/// ```
/// use beamr_core::start_cost::quick;
/// let small = wat::parse_str(r#"(module (memory 1) (data (i32.const 0) "hi"))"#).unwrap();
/// assert!(quick(&small));
/// let start = wat::parse_str(r#"(module (func $s) (start $s))"#).unwrap();
/// assert!(!quick(&start));
/// assert!(!quick(b"not wasm"));
/// ```
pub fn quick(wasm: &[u8]) -> bool {
    scan(wasm).unwrap_or(false)
}

fn scan(wasm: &[u8]) -> Option<bool> {
    let (mut data, mut items) = (0u64, 0u64);
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.ok()? {
            Payload::StartSection { .. } => return Some(false),
            Payload::ImportSection(reader) if reader.count() > MAX_ITEMS => return Some(false),
            Payload::GlobalSection(reader) if reader.count() > MAX_ITEMS => return Some(false),
            Payload::DataSection(reader) => {
                for segment in reader {
                    data = data.saturating_add(segment.ok()?.data.len() as u64);
                }
            }
            Payload::ElementSection(reader) => {
                for element in reader {
                    items = items.saturating_add(match element.ok()?.items {
                        ElementItems::Functions(f) => u64::from(f.count()),
                        ElementItems::Expressions(_, e) => u64::from(e.count()),
                    });
                }
            }
            _ => {}
        }
    }
    Some(data <= MAX_DATA_BYTES && items <= MAX_ELEMENT_ITEMS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wasm(text: &str) -> Vec<u8> {
        wat::parse_str(text).unwrap()
    }

    #[test]
    fn bounds() {
        assert!(quick(&wasm("(module)")));
        assert!(!quick(&wasm("(module (func $s) (start $s))")));
        let data = |n: usize| {
            format!(
                r#"(module (memory 32) (data (i32.const 0) "{}"))"#,
                "a".repeat(n)
            )
        };
        assert!(quick(&wasm(&data(MAX_DATA_BYTES as usize))));
        assert!(!quick(&wasm(&data(MAX_DATA_BYTES as usize + 1))));
        let elems = |n: u64| {
            let funcs = " $f".repeat(n as usize);
            format!("(module (table {n} funcref) (func $f) (elem (i32.const 0) func{funcs}))")
        };
        assert!(quick(&wasm(&elems(MAX_ELEMENT_ITEMS))));
        assert!(!quick(&wasm(&elems(MAX_ELEMENT_ITEMS + 1))));
        let globals = |n: u32| {
            let g = "(global i32 (i32.const 0))".repeat(n as usize);
            format!("(module {g})")
        };
        assert!(quick(&wasm(&globals(MAX_ITEMS))));
        assert!(!quick(&wasm(&globals(MAX_ITEMS + 1))));
        let imports = |n: u32| {
            let i = (0..n)
                .map(|k| format!(r#"(import "m" "f{k}" (func))"#))
                .collect::<String>();
            format!("(module {i})")
        };
        assert!(quick(&wasm(&imports(MAX_ITEMS))));
        assert!(!quick(&wasm(&imports(MAX_ITEMS + 1))));
        // Truncated bytes do not parse: not quick.
        let mut cut = wasm("(module (memory 1) (data (i32.const 0) \"abcdef\"))");
        cut.truncate(cut.len() - 2);
        assert!(!quick(&cut));
    }
}
