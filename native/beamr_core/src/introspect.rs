//! Typed descriptions of a module's imports and exports.
//!
//! wasmtime's [`ExternType`] carries everything a caller may want to know about an
//! import or export, but in wasmtime's vocabulary. [`ItemType`] restates it as plain
//! data (limits as numbers, value types by name, mutability as a flag) so that the NIF
//! can turn it into maps without knowing wasmtime, and tests can compare it directly.

use crate::module::CompiledModule;
use crate::value::type_name;
use wasmtime::{ExternType, Mutability, ValType};

/// What one import or export is, with its full type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemType {
    Func {
        params: Vec<&'static str>,
        results: Vec<&'static str>,
    },
    Memory {
        /// Limits in pages.
        min: u64,
        max: Option<u64>,
        /// True for memory64 (addresses are i64).
        is_64: bool,
        shared: bool,
    },
    Table {
        element: &'static str,
        min: u64,
        max: Option<u64>,
        is_64: bool,
    },
    Global {
        content: &'static str,
        mutable: bool,
    },
    Tag {
        params: Vec<&'static str>,
    },
}

fn names(types: impl Iterator<Item = ValType>) -> Vec<&'static str> {
    types.map(|t| type_name(&t)).collect()
}

/// Restates a wasmtime type as an [`ItemType`].
pub fn describe(ty: &ExternType) -> ItemType {
    match ty {
        ExternType::Func(f) => ItemType::Func {
            params: names(f.params()),
            results: names(f.results()),
        },
        ExternType::Memory(m) => ItemType::Memory {
            min: m.minimum(),
            max: m.maximum(),
            is_64: m.is_64(),
            shared: m.is_shared(),
        },
        ExternType::Table(t) => ItemType::Table {
            element: type_name(&ValType::Ref(t.element().clone())),
            min: t.minimum(),
            max: t.maximum(),
            is_64: t.is_64(),
        },
        ExternType::Global(g) => ItemType::Global {
            content: type_name(g.content()),
            mutable: g.mutability() == Mutability::Var,
        },
        ExternType::Tag(t) => ItemType::Tag {
            params: names(t.ty().params()),
        },
    }
}

/// True if the module exports a function by that name.
pub fn function_exists(module: &CompiledModule, name: &str) -> bool {
    module
        .exports()
        .iter()
        .any(|e| e.name == name && matches!(e.ty, ExternType::Func(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module::compile;

    const WAT: &str = r#"(module
        (import "env" "mem" (memory i64 1 10))
        (import "env" "g" (global (mut f64)))
        (import "env" "f" (func (param i32 i64) (result f32)))
        (table (export "t") 2 5 funcref)
        (global (export "c") i32 (i32.const 7))
        (global (export "v") (mut i64) (i64.const 1))
        (tag (export "e") (param i32))
        (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#;

    #[test]
    fn imports_and_exports_carry_full_types() {
        let m = compile(WAT.as_bytes()).unwrap();
        let imports: Vec<ItemType> = m.imports().iter().map(|i| describe(&i.ty)).collect();
        assert_eq!(
            imports,
            vec![
                ItemType::Memory {
                    min: 1,
                    max: Some(10),
                    is_64: true,
                    shared: false
                },
                ItemType::Global {
                    content: "f64",
                    mutable: true
                },
                ItemType::Func {
                    params: vec!["i32", "i64"],
                    results: vec!["f32"]
                },
            ]
        );
        let exports: Vec<(String, ItemType)> = m
            .exports()
            .iter()
            .map(|e| (e.name.clone(), describe(&e.ty)))
            .collect();
        assert_eq!(
            exports[0].1,
            ItemType::Table {
                element: "funcref",
                min: 2,
                max: Some(5),
                is_64: false
            }
        );
        assert_eq!(
            exports[1].1,
            ItemType::Global {
                content: "i32",
                mutable: false
            }
        );
        assert_eq!(
            exports[2].1,
            ItemType::Global {
                content: "i64",
                mutable: true
            }
        );
        assert_eq!(
            exports[3].1,
            ItemType::Tag {
                params: vec!["i32"]
            }
        );
        assert!(function_exists(&m, "add"));
        assert!(!function_exists(&m, "t"));
        assert!(!function_exists(&m, "nope"));
    }
}
