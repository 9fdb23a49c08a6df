//! Links: instantiating a module together with the modules it imports from.
//!
//! wasmtime only links items that live in the same store, and a memory cannot cross
//! stores. So a link is a *module*, not a running instance: each linked module is
//! instantiated privately into the new instance's own store, in the order given, and
//! registered under its link name; the main module's imports of that name are then
//! satisfied by it directly (functions, memories, globals, tables, tags), with no round
//! trip to Erlang. Every other function import (of the main module or of a linked one)
//! is answered by Erlang, as usual; other unsatisfied items get fresh store-local ones.
//!
//! A link's state belongs to the instance that linked it: two instances linking the same
//! module get two copies, and stopping one affects nothing else. Imports of linked
//! modules are numbered after the main module's, so a suspended call reports them like
//! any other import (see [`crate::Instance::import_desc`]).

use crate::host_import::{self, Binding};
use crate::module::{CompiledModule, ImportDesc};
use crate::store::Host;
use std::sync::Arc;
use wasmtime::{Extern, ExternType, Global, Linker, Memory, Ref, Store, Table, Tag, Val};

/// A module to instantiate alongside the main one, under the import module name `name`.
#[derive(Clone)]
pub struct Link {
    pub name: String,
    pub module: Arc<CompiledModule>,
}

/// A fresh store-local item of type `ty`, for an import nothing else provides.
pub(crate) fn local_item(
    store: &mut Store<Host>,
    ty: &ExternType,
) -> wasmtime::Result<Option<Extern>> {
    Ok(Some(match ty {
        ExternType::Func(_) => return Ok(None),
        ExternType::Memory(ty) => Memory::new(&mut *store, ty.clone())?.into(),
        ExternType::Table(ty) => {
            let init = Ref::null(ty.element().heap_type());
            Table::new(&mut *store, ty.clone(), init)?.into()
        }
        ExternType::Global(ty) => {
            let init = Val::default_for_ty(ty.content())
                .ok_or_else(|| wasmtime::format_err!("no default value for global"))?;
            Global::new(&mut *store, ty.clone(), init)?.into()
        }
        ExternType::Tag(ty) => Tag::new(&mut *store, ty)?.into(),
    }))
}

/// Defines, in `linker`, every import of `imports` it does not already hold: functions
/// as calls to Erlang, import `i` numbered `first_index + i`; the rest as store-local
/// items.
fn define_missing(
    linker: &mut Linker<Host>,
    store: &mut Store<Host>,
    imports: &[ImportDesc],
    first_index: usize,
) -> wasmtime::Result<()> {
    for (i, import) in imports.iter().enumerate() {
        if linker
            .get(&mut *store, &import.module, &import.name)
            .is_ok()
        {
            continue;
        }
        match &import.ty {
            ExternType::Func(ty) => {
                host_import::define(
                    linker,
                    &import.module,
                    &import.name,
                    ty,
                    &import.signature,
                    first_index + i,
                    Binding::Typed,
                )?;
            }
            ty => {
                if let Some(item) = local_item(store, ty)? {
                    linker.define(&*store, &import.module, &import.name, item)?;
                }
            }
        }
    }
    Ok(())
}

/// Instantiates `links` then `module` into `store`. Returns the main instance, the
/// memory the main module imports (if it imports one), and the imports of the linked
/// modules, numbered after the main module's (those satisfied by an earlier link are
/// listed too, to keep the numbering plain, but never reached).
pub(crate) async fn instantiate(
    store: &mut Store<Host>,
    module: &CompiledModule,
    links: &[Link],
) -> wasmtime::Result<(wasmtime::Instance, Option<Memory>, Vec<ImportDesc>)> {
    let mut linker: Linker<Host> = Linker::new(module.wasmtime_module().engine());
    let mut extra: Vec<ImportDesc> = Vec::new();
    for link in links {
        let first = module.imports().len() + extra.len();
        define_missing(&mut linker, store, link.module.imports(), first)?;
        extra.extend(link.module.imports().iter().cloned());
        let instance = linker
            .instantiate_async(&mut *store, link.module.wasmtime_module())
            .await?;
        linker.instance(&mut *store, &link.name, instance)?;
    }
    define_missing(&mut linker, store, module.imports(), 0)?;
    let memory = module
        .imports()
        .iter()
        .filter(|i| matches!(i.ty, ExternType::Memory(_)))
        .find_map(|i| {
            linker
                .get(&mut *store, &i.module, &i.name)
                .ok()
                .and_then(|e| e.into_memory())
        });
    let instance = linker
        .instantiate_async(&mut *store, module.wasmtime_module())
        .await?;
    Ok((instance, memory, extra))
}
