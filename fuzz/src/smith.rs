//! wasm-smith modules shaped for beamr: only the proposals beamr keeps on by default
//! (memory64, multi-value, bulk memory, reference types, SIMD, tail calls, exceptions,
//! and the small finished ones of wasm 2.0), and sizes small enough that a fuzz
//! iteration compiles and runs in milliseconds.

use arbitrary::{Arbitrary, Unstructured};

/// A generated module with at most `max_imports` imports.
pub fn module(u: &mut Unstructured, max_imports: usize) -> arbitrary::Result<Vec<u8>> {
    let mut c = wasm_smith::Config::arbitrary(u)?;
    c.gc_enabled = false;
    c.threads_enabled = false;
    c.shared_everything_threads_enabled = false;
    c.relaxed_simd_enabled = false;
    c.wide_arithmetic_enabled = false;
    c.custom_page_sizes_enabled = false;
    c.custom_descriptors_enabled = false;
    c.compact_imports_enabled = false;
    c.extended_const_enabled = false;
    c.acquire_release_atomics_enabled = false;
    c.multibyte_array_access_enabled = false;
    c.max_imports = c.max_imports.min(max_imports);
    c.max_types = c.max_types.min(40);
    c.max_funcs = c.max_funcs.min(40);
    c.max_globals = c.max_globals.min(20);
    c.max_exports = c.max_exports.min(40);
    c.max_tags = c.max_tags.min(8);
    c.max_element_segments = c.max_element_segments.min(10);
    c.max_elements = c.max_elements.min(50);
    c.max_data_segments = c.max_data_segments.min(10);
    c.max_instructions = c.max_instructions.min(400);
    c.max_memories = c.max_memories.min(2);
    c.max_tables = c.max_tables.min(4);
    c.max_table_elements = c.max_table_elements.min(1000);
    // Large enough for bulk operations of many 16 KiB chunks.
    c.max_memory32_bytes = c.max_memory32_bytes.min(4 << 20);
    c.max_memory64_bytes = c.max_memory64_bytes.min(4 << 20);
    Ok(wasm_smith::Module::new(c, u)?.to_bytes())
}
