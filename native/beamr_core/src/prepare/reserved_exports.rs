//! A load-time rewrite that exports every piece of state a snapshot needs.
//!
//! wasmtime's public API reaches only exported globals, tables and memories, but a
//! snapshot must capture all mutable state: `__stack_pointer`, for one, is a mutable
//! global that compilers rarely export. So before compiling, beamr appends exports under
//! reserved names — `__beamr_global_<index>` for every mutable global (imported or
//! defined), `__beamr_table_<index>` for every table and `__beamr_memory_0` for the
//! first memory. Adding exports shifts no index, so every other section is copied byte
//! for byte; only the export section is rebuilt (its original entries copied raw, the
//! new ones appended). The reserved names are hidden from export listings.

use crate::error::Error;
use wasm_encoder::{Encode, RawSection};
use wasmparser::{Parser, Payload, TypeRef};
use wasmtime::{ExternType, Module, ModuleExport};

/// Every export beamr adds starts with this; a module's own exports may not.
pub const RESERVED_PREFIX: &str = "__beamr_";

/// The reserved export name of mutable global `index`.
pub fn global_name(index: u32) -> String {
    format!("{RESERVED_PREFIX}global_{index}")
}

/// The reserved export name of table `index`.
pub fn table_name(index: u32) -> String {
    format!("{RESERVED_PREFIX}table_{index}")
}

/// The reserved export name of function `index` (every function an element segment
/// names, so that a table entry can be told by its function index).
pub fn func_name(index: u32) -> String {
    format!("{RESERVED_PREFIX}func_{index}")
}

/// The function index a reserved function export stands for.
pub fn func_index(name: &str) -> Option<u32> {
    name.strip_prefix(RESERVED_PREFIX)?
        .strip_prefix("func_")?
        .parse()
        .ok()
}

/// The reserved export name of the first memory.
pub const MEMORY_NAME: &str = "__beamr_memory_0";

/// Whether an export name is one beamr added.
pub fn is_reserved(name: &str) -> bool {
    name.starts_with(RESERVED_PREFIX)
}

/// The reserved exports of a compiled module that reach state (the memory, mutable
/// globals and tables, not the functions), found once per compilation so that an
/// instance reaches each in O(1) when it starts, without walking the module's exports.
#[derive(Default)]
pub struct StateExports {
    pub memory: Option<ModuleExport>,
    /// By global index.
    pub globals: Vec<(u32, ModuleExport)>,
    /// By table index.
    pub tables: Vec<(u32, ModuleExport)>,
}

impl StateExports {
    pub fn of(module: &Module) -> StateExports {
        let mut found = StateExports::default();
        let index = |name: &str, kind: &str| -> Option<u32> {
            name.strip_prefix(RESERVED_PREFIX)?
                .strip_prefix(kind)?
                .parse()
                .ok()
        };
        for export in module.exports() {
            let name = export.name();
            if !is_reserved(name) || func_index(name).is_some() {
                continue;
            }
            let Some(at) = module.get_export_index(name) else {
                continue;
            };
            match export.ty() {
                ExternType::Memory(_) if name == MEMORY_NAME => found.memory = Some(at),
                ExternType::Global(_) => found
                    .globals
                    .extend(index(name, "global_").map(|i| (i, at))),
                ExternType::Table(_) => found.tables.extend(index(name, "table_").map(|i| (i, at))),
                _ => {}
            }
        }
        found.globals.sort_by_key(|(i, _)| *i);
        found.tables.sort_by_key(|(i, _)| *i);
        found
    }
}

const EXPORT_SECTION: u8 = 7;
/// Sections that must come after the export section (start, element, code, data,
/// data count); the rebuilt export section goes before the first of them.
fn after_exports(id: u8) -> bool {
    matches!(id, 8..=12)
}

const KIND_FUNC: u8 = 0;
const KIND_TABLE: u8 = 1;
const KIND_MEMORY: u8 = 2;
const KIND_GLOBAL: u8 = 3;

/// Returns the module with the reserved exports added. Input that is not a core
/// module (WAT is parsed first) is returned as wasm for wasmtime to judge; a module
/// whose own exports use the reserved prefix is refused.
pub fn add_reserved_exports(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let wasm = wat::parse_bytes(bytes).map_err(|e| Error::Compile(format!("{e}")))?;
    let wasm: &[u8] = &wasm;
    match rewrite(wasm) {
        Ok(Some(out)) => Ok(out),
        // Not a plain core module (a component, say): compile it as it is.
        Ok(None) => Ok(wasm.to_vec()),
        Err(Refusal::Reserved(name)) => Err(Error::Compile(format!(
            "export {name:?} uses the prefix {RESERVED_PREFIX:?} reserved by beamr"
        ))),
        // Malformed: leave the diagnosis to wasmtime, which reports it precisely.
        Err(Refusal::Malformed) => Ok(wasm.to_vec()),
    }
}

enum Refusal {
    Reserved(String),
    Malformed,
}

impl From<wasmparser::BinaryReaderError> for Refusal {
    fn from(_: wasmparser::BinaryReaderError) -> Refusal {
        Refusal::Malformed
    }
}

fn rewrite(wasm: &[u8]) -> Result<Option<Vec<u8>>, Refusal> {
    // First pass: count state-bearing items and find the export section.
    let mut globals = 0u32;
    let mut mutable_globals = Vec::new();
    let mut tables = 0u32;
    let mut memories = 0u32;
    let mut sections: Vec<(u8, std::ops::Range<usize>)> = Vec::new();
    let mut exports: Option<(u32, std::ops::Range<usize>)> = None;
    let mut element_funcs = std::collections::BTreeSet::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        match &payload {
            Payload::Version { encoding, .. } if *encoding != wasmparser::Encoding::Module => {
                return Ok(None);
            }
            Payload::ImportSection(reader) => {
                for import in reader.clone().into_imports() {
                    match import?.ty {
                        TypeRef::Global(g) => {
                            if g.mutable {
                                mutable_globals.push(globals);
                            }
                            globals += 1;
                        }
                        TypeRef::Table(_) => tables += 1,
                        TypeRef::Memory(_) => memories += 1,
                        _ => {}
                    }
                }
            }
            // Counted by reading each entry: the count a section declares is the
            // input's word, and each reserved export costs output bytes.
            Payload::TableSection(reader) => {
                for table in reader.clone() {
                    table?;
                    tables += 1;
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader.clone() {
                    memory?;
                    memories += 1;
                }
            }
            Payload::GlobalSection(reader) => {
                for global in reader.clone() {
                    if global?.ty.mutable {
                        mutable_globals.push(globals);
                    }
                    globals += 1;
                }
            }
            Payload::ElementSection(reader) => {
                for element in reader.clone() {
                    match element?.items {
                        wasmparser::ElementItems::Functions(funcs) => {
                            for f in funcs {
                                element_funcs.insert(f?);
                            }
                        }
                        wasmparser::ElementItems::Expressions(_, exprs) => {
                            for expr in exprs {
                                for op in expr?.get_operators_reader() {
                                    if let wasmparser::Operator::RefFunc { function_index } = op? {
                                        element_funcs.insert(function_index);
                                    }
                                }
                            }
                        }
                    }
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader.clone() {
                    let name = export?.name;
                    if is_reserved(name) {
                        return Err(Refusal::Reserved(name.to_string()));
                    }
                }
                let r = reader.range();
                exports = Some((reader.count(), r.start as usize..r.end as usize));
            }
            _ => {}
        }
        if let Some((id, range)) = payload.as_section() {
            sections.push((id, range.start as usize..range.end as usize));
        }
    }

    let mut added = Vec::new();
    let mut count = 0u32;
    let mut push = |name: &str, kind: u8, index: u32| {
        name.encode(&mut added);
        added.push(kind);
        index.encode(&mut added);
        count += 1;
    };
    for &index in &mutable_globals {
        push(&global_name(index), KIND_GLOBAL, index);
    }
    for index in 0..tables {
        push(&table_name(index), KIND_TABLE, index);
    }
    if memories > 0 {
        push(MEMORY_NAME, KIND_MEMORY, 0);
    }
    for &index in &element_funcs {
        push(&func_name(index), KIND_FUNC, index);
    }
    if count == 0 {
        return Ok(Some(wasm.to_vec()));
    }

    let mut export_section = Vec::new();
    match &exports {
        Some((old, range)) => {
            (old + count).encode(&mut export_section);
            let body = &wasm[range.clone()];
            let items = body.get(leb_len(body)?..).ok_or(Refusal::Malformed)?;
            export_section.extend_from_slice(items);
        }
        None => count.encode(&mut export_section),
    }
    export_section.extend_from_slice(&added);

    let mut module = wasm_encoder::Module::new();
    let mut placed = false;
    let place = |module: &mut wasm_encoder::Module| {
        module.section(&RawSection {
            id: EXPORT_SECTION,
            data: &export_section,
        });
    };
    for (id, range) in &sections {
        if *id == EXPORT_SECTION || (!placed && exports.is_none() && after_exports(*id)) {
            if !placed {
                place(&mut module);
                placed = true;
            }
            if *id == EXPORT_SECTION {
                continue;
            }
        }
        module.section(&RawSection {
            id: *id,
            data: &wasm[range.clone()],
        });
    }
    if !placed {
        place(&mut module);
    }
    Ok(Some(module.finish()))
}

/// The length of the unsigned LEB128 number at the start of `bytes`.
fn leb_len(bytes: &[u8]) -> Result<usize, Refusal> {
    bytes
        .iter()
        .take(5)
        .position(|b| b & 0x80 == 0)
        .map(|p| p + 1)
        .ok_or(Refusal::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmparser::{ExternalKind, Validator, WasmFeatures};

    fn export_names(wasm: &[u8]) -> Vec<(String, ExternalKind, u32)> {
        let mut out = Vec::new();
        for payload in Parser::new(0).parse_all(wasm) {
            if let Payload::ExportSection(r) = payload.unwrap() {
                for e in r {
                    let e = e.unwrap();
                    out.push((e.name.to_string(), e.kind, e.index));
                }
            }
        }
        out
    }

    fn validate(wasm: &[u8]) {
        Validator::new_with_features(WasmFeatures::all())
            .validate_all(wasm)
            .expect("rewritten module validates");
    }

    #[test]
    fn adds_hidden_globals_tables_memory_and_element_functions() {
        let wat = r#"(module
            (import "env" "g" (global $ig (mut i64)))
            (import "env" "c" (global $ic i32))
            (memory 1)
            (table 2 funcref)
            (global $sp (mut i32) (i32.const 1024))
            (global $k i32 (i32.const 7))
            (global $f (mut f64) (f64.const 1.5))
            (func $f0 (export "f") (result i32) global.get $sp)
            (elem (i32.const 0) $f0)
            (data (i32.const 0) "hi"))"#;
        let out = add_reserved_exports(wat.as_bytes()).unwrap();
        validate(&out);
        let names = export_names(&out);
        assert_eq!(
            names,
            vec![
                ("f".to_string(), ExternalKind::Func, 0),
                ("__beamr_global_0".to_string(), ExternalKind::Global, 0),
                ("__beamr_global_2".to_string(), ExternalKind::Global, 2),
                ("__beamr_global_4".to_string(), ExternalKind::Global, 4),
                ("__beamr_table_0".to_string(), ExternalKind::Table, 0),
                ("__beamr_memory_0".to_string(), ExternalKind::Memory, 0),
                ("__beamr_func_0".to_string(), ExternalKind::Func, 0),
            ]
        );
    }

    #[test]
    fn module_without_exports_gets_a_section_in_order() {
        let wat = r#"(module (memory 1) (global (mut i32) (i32.const 0))
            (func $s) (start $s) (data (i32.const 0) "x"))"#;
        let out = add_reserved_exports(wat.as_bytes()).unwrap();
        validate(&out);
        assert_eq!(export_names(&out).len(), 2);
    }

    #[test]
    fn other_sections_are_copied_byte_for_byte() {
        let wat = r#"(module (memory (export "memory") 1) (global (mut i32) (i32.const 0))
            (func (export "a") (param i32) (result i32) local.get 0 i32.const 1 i32.add)
            (@custom "note" "kept"))"#;
        let original = wat::parse_str(wat).unwrap();
        let out = add_reserved_exports(&original).unwrap();
        validate(&out);
        let code = |w: &[u8]| {
            Parser::new(0)
                .parse_all(w)
                .filter_map(|p| p.unwrap().as_section())
                .filter(|(id, _)| *id != EXPORT_SECTION)
                .map(|(id, r)| (id, w[r.start as usize..r.end as usize].to_vec()))
                .collect::<Vec<_>>()
        };
        assert_eq!(code(&original), code(&out));
    }

    #[test]
    fn reserved_export_names_in_the_module_are_refused() {
        let wat = r#"(module (func (export "__beamr_global_0")))"#;
        assert!(matches!(
            add_reserved_exports(wat.as_bytes()),
            Err(Error::Compile(_))
        ));
    }

    #[test]
    fn stateless_and_malformed_modules_pass_through() {
        let plain = wat::parse_str("(module (func (export \"f\")))").unwrap();
        assert_eq!(add_reserved_exports(&plain).unwrap(), plain);
        let junk = b"\0asm\x01\0\0\0\x07\xff";
        assert_eq!(add_reserved_exports(junk).unwrap(), junk.to_vec());
    }

    /// A table or memory section that claims a million entries and holds one is
    /// malformed, and passes through as it is, not as a million exports.
    #[test]
    fn a_section_count_larger_than_its_entries_adds_nothing() {
        // Count 1_000_000 (LEB), then one table `funcref, min 0`, or one memory `min 0`.
        let table = [4, 6, 0xC0, 0x84, 0x3D, 0x70, 0x00, 0x00];
        let memory = [5, 5, 0xC0, 0x84, 0x3D, 0x00, 0x00];
        for section in [&table[..], &memory[..]] {
            let wasm = [&b"\0asm\x01\0\0\0"[..], section].concat();
            assert_eq!(add_reserved_exports(&wasm).unwrap(), wasm);
        }
    }
}
