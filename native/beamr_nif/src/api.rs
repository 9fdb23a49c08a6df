//! NIFs of the wider `beamr` API: compiled-module handles and the module cache, typed
//! introspection, links, and exported globals, tables and memory growth.
//!
//! Thin like the rest of the crate: each NIF decodes its terms, calls `beamr_core`, and
//! encodes the answer. Store operations go through the crate's `with_store`, so they
//! queue behind a running call (the caller gets `busy` and is woken) and work from
//! inside an import.

use crate::instance::Handle;
use crate::{atoms, deadline, terms, with_store};
use beamr_core::module::{compile_exactly, compile_hashed};
use beamr_core::proposals::Optional;
use beamr_core::{
    describe, function_exists, CompiledModule, Error, ItemType, Link, Options, Starting,
    TableEntry, Variant,
};
use rustler::{Atom, Binary, Encoder, Env, Resource, ResourceArc, Term};
use std::sync::Arc;

/// A compiled module, as the term `beamr:compile/1` returns.
pub struct ModuleResource {
    module: Arc<CompiledModule>,
}

#[rustler::resource_impl]
impl Resource for ModuleResource {}

impl ModuleResource {
    pub fn new(module: Arc<CompiledModule>) -> ModuleResource {
        ModuleResource { module }
    }
}

/// The compiled module behind a module handle or an instance.
pub fn module_of_handle(term: Term) -> Result<Arc<CompiledModule>, Error> {
    if let Ok(m) = term.decode::<ResourceArc<ModuleResource>>() {
        return Ok(m.module.clone());
    }
    match term.decode::<Handle>() {
        Ok(i) => Ok(i.module_arc()),
        Err(_) => Err(Error::Compile("not a module or an instance".into())),
    }
}

/// As [`module_of_handle`], also compiling wasm/WAT bytes for `variant` (or finding
/// them in the cache); only for NIFs on dirty schedulers.
fn module_of(term: Term, variant: Variant) -> Result<Arc<CompiledModule>, Error> {
    match term.decode::<Binary>() {
        Ok(bytes) => compile_hashed(
            bytes.as_slice(),
            crate::image_hash::hash_of(&bytes),
            variant,
        ),
        Err(_) => module_of_handle(term),
    }
}

/// As [`module_of`], bytes compiled for exactly `variant`, memory layout included.
fn module_of_on(term: Term, variant: Variant) -> Result<Arc<CompiledModule>, Error> {
    match term.decode::<Binary>() {
        Ok(bytes) => compile_exactly(
            bytes.as_slice(),
            crate::image_hash::hash_of(&bytes),
            variant,
        ),
        Err(_) => module_of_handle(term),
    }
}

/// The engine the Erlang side names as `{Deterministic, Proposals}` (a boolean and a
/// list of optional proposal names), either one `default` to take `handle`'s choice
/// (the default engine's without a handle). `None` for a term of another shape.
pub(crate) fn variant_of(term: Term, handle: Option<&CompiledModule>) -> Option<Variant> {
    let (deterministic, proposals): (Term, Term) = term.decode().ok()?;
    let base = handle.map_or(Variant::DEFAULT, |m| m.variant());
    let is_default = |t: Term| t.as_c_arg() == atoms::default().as_c_arg();
    let deterministic = if is_default(deterministic) {
        base.deterministic
    } else {
        deterministic.decode::<bool>().ok()?
    };
    let optional = if is_default(proposals) {
        base.optional
    } else {
        let names = proposals
            .decode::<Vec<Term>>()
            .ok()?
            .into_iter()
            .map(|t| t.atom_to_string().ok())
            .collect::<Option<Vec<String>>>()?;
        Optional::from_names(names.iter().map(String::as_str)).ok()?
    };
    Some(Variant {
        deterministic,
        optional,
        ..base
    })
}

/// `{error, {bad_option, engine, Term}}`: an engine choice [`variant_of`] refused.
pub(crate) fn bad_engine<'a>(env: Env<'a>, term: Term<'a>) -> Term<'a> {
    terms::error(
        env,
        (atoms::bad_option(), atoms::engine(), term).encode(env),
    )
}

/// `compile(Bytes, Engine) -> {ok, Module} | {error, Reason} | {compiling, Ref, Job}`
/// (see `starting.rs`): compiled for the engine `{Deterministic, Proposals}` names (see
/// [`variant_of`]).
#[rustler::nif(schedule = "DirtyCpu")]
fn compile_module<'a>(env: Env<'a>, bytes: Binary<'a>, engine: Term<'a>) -> Term<'a> {
    let Some(variant) = variant_of(engine, None) else {
        return bad_engine(env, engine);
    };
    match crate::starting::module_or_job(env, bytes, variant) {
        Ok(module) => (atoms::ok(), ResourceArc::new(ModuleResource { module })).encode(env),
        Err(answer) => answer,
    }
}

/// `module_hash(Module) -> binary() | {error, {bad_module, Term}}`: the SHA-256 the
/// cache knows it by.
#[rustler::nif]
fn module_hash<'a>(env: Env<'a>, module: Term<'a>) -> Term<'a> {
    match module.decode::<ResourceArc<ModuleResource>>() {
        Ok(m) => terms::bytes(env, m.module.hash()),
        Err(_) => terms::error(env, (atoms::bad_module(), module).encode(env)),
    }
}

/// `module_count() -> non_neg_integer()`: compiled modules in the cache.
#[rustler::nif]
fn module_count() -> usize {
    beamr_core::module::cached_modules()
}

/// `delete_module(Module | Hash) -> boolean()`: drops the module from the cache.
/// Dirty: dropping the last reference frees the module's compiled code.
#[rustler::nif(schedule = "DirtyCpu")]
fn delete_module(term: Term) -> bool {
    let hash: Option<[u8; 32]> = if let Ok(m) = term.decode::<ResourceArc<ModuleResource>>() {
        Some(*m.module.hash())
    } else if let Ok(b) = term.decode::<Binary>() {
        <[u8; 32]>::try_from(b.as_slice()).ok()
    } else {
        None
    };
    hash.is_some_and(|h| beamr_core::module::forget(&h))
}

/// `instantiate(Source, Timeout, [{Name, Source}], Options) -> {ok, Instance} |
/// {error, Reason}`: `Source` is a module handle or bytes; the list names the links
/// (see `link.rs`); `Options` is `{MaxMemory, MaxTableElements, Engine}` as the
/// Erlang side validated them, `Engine` as [`variant_of`] reads it.
#[rustler::nif(schedule = "DirtyCpu")]
fn instantiate<'a>(
    env: Env<'a>,
    source: Term<'a>,
    timeout: Term<'a>,
    links: Term<'a>,
    options: (u64, u64, Term<'a>),
) -> Term<'a> {
    let Ok(deadline) = deadline(timeout) else {
        return terms::error(env, (atoms::bad_timeout(), timeout).encode(env));
    };
    let Ok(pairs) = links.decode::<Vec<(Binary, Term)>>() else {
        return terms::error(env, (atoms::bad_links(), links).encode(env));
    };
    let (max_memory, max_table_elements, engine) = options;
    // A handle is compiled already; bytes are compiled below, for the options' engine.
    let compiled = module_of_handle(source).ok();
    let Some(variant) = variant_of(engine, compiled.as_deref()) else {
        return bad_engine(env, engine);
    };
    let options = Options {
        max_memory,
        max_table_elements,
        deterministic: variant.deterministic,
        optional: variant.optional,
    };
    let module = match compiled {
        Some(m) => m,
        None => match module_of(source, options.variant()) {
            Ok(m) => m,
            Err(e) => return terms::core_error(env, &e),
        },
    };
    // Links share the module's store, so they are compiled for its very engine.
    let mut resolved = Vec::with_capacity(pairs.len());
    for (name, source) in pairs {
        let Ok(name) = std::str::from_utf8(name.as_slice()) else {
            return terms::error(env, (atoms::bad_links(), links).encode(env));
        };
        match module_of_on(source, module.variant()) {
            Ok(module) => resolved.push(Link {
                name: name.to_string(),
                module,
            }),
            Err(e) => return terms::core_error(env, &e),
        }
    }
    crate::starting::poll_start(env, Starting::new(module, resolved, deadline, &options))
}

fn type_atoms(env: Env, names: &[&str]) -> Vec<Atom> {
    names
        .iter()
        .map(|n| Atom::from_str(env, n).unwrap_or(atoms::anyref()))
        .collect()
}

fn limit<'a>(env: Env<'a>, max: Option<u64>) -> Term<'a> {
    match max {
        Some(n) => n.encode(env),
        None => atoms::infinity().encode(env),
    }
}

fn index_atom(is_64: bool) -> Atom {
    if is_64 {
        atoms::i64()
    } else {
        atoms::i32()
    }
}

/// One import or export as a map; `module` is set for imports.
fn item<'a>(env: Env<'a>, module: Option<&str>, name: &str, ty: &ItemType) -> Term<'a> {
    let mut pairs: Vec<(Term<'a>, Term<'a>)> = vec![(atoms::name().encode(env), name.encode(env))];
    if let Some(m) = module {
        pairs.push((atoms::module().encode(env), m.encode(env)));
    }
    let mut put = |k: Atom, v: Term<'a>| pairs.push((k.encode(env), v));
    match ty {
        ItemType::Func { params, results } => {
            put(atoms::kind(), atoms::func().encode(env));
            put(atoms::params(), type_atoms(env, params).encode(env));
            put(atoms::results(), type_atoms(env, results).encode(env));
        }
        ItemType::Memory {
            min,
            max,
            is_64,
            shared,
        } => {
            put(atoms::kind(), atoms::memory().encode(env));
            put(atoms::min(), min.encode(env));
            put(atoms::max(), limit(env, *max));
            put(atoms::index(), index_atom(*is_64).encode(env));
            put(atoms::shared(), shared.encode(env));
        }
        ItemType::Table {
            element,
            min,
            max,
            is_64,
        } => {
            put(atoms::kind(), atoms::table().encode(env));
            put(atoms::element(), type_atoms(env, &[element])[0].encode(env));
            put(atoms::min(), min.encode(env));
            put(atoms::max(), limit(env, *max));
            put(atoms::index(), index_atom(*is_64).encode(env));
        }
        ItemType::Global { content, mutable } => {
            put(atoms::kind(), atoms::global().encode(env));
            put(atoms::r#type(), type_atoms(env, &[content])[0].encode(env));
            put(atoms::mutable(), mutable.encode(env));
        }
        ItemType::Tag { params } => {
            put(atoms::kind(), atoms::tag().encode(env));
            put(atoms::params(), type_atoms(env, params).encode(env));
        }
    }
    Term::map_from_pairs(env, &pairs).unwrap_or_else(|_| atoms::error().encode(env))
}

/// `describe(Module | Instance | Bytes) -> #{imports => [map()], exports => [map()]}`.
#[rustler::nif(schedule = "DirtyCpu")]
fn describe_module<'a>(env: Env<'a>, source: Term<'a>) -> Term<'a> {
    let module = match module_of(source, Variant::DEFAULT) {
        Ok(m) => m,
        Err(e) => return terms::core_error(env, &e),
    };
    let imports: Vec<Term> = module
        .imports()
        .iter()
        .map(|i| item(env, Some(&i.module), &i.name, &describe(&i.ty)))
        .collect();
    let exports: Vec<Term> = module
        .exports()
        .iter()
        .map(|e| item(env, None, &e.name, &describe(&e.ty)))
        .collect();
    let pairs = [
        (atoms::imports().encode(env), imports.encode(env)),
        (atoms::exports().encode(env), exports.encode(env)),
    ];
    let map = Term::map_from_pairs(env, &pairs).unwrap_or_else(|_| atoms::error().encode(env));
    (atoms::ok(), map).encode(env)
}

/// `function_exists(Module | Instance, Name) -> boolean()`.
#[rustler::nif]
fn function_exists_in(source: Term, name: Binary) -> bool {
    let Ok(name) = std::str::from_utf8(name.as_slice()) else {
        return false;
    };
    match source.decode::<ResourceArc<ModuleResource>>() {
        Ok(m) => function_exists(&m.module, name),
        Err(_) => source
            .decode::<Handle>()
            .is_ok_and(|i| function_exists(i.module(), name)),
    }
}

fn utf8<'a>(name: &'a Binary) -> Result<&'a str, Error> {
    std::str::from_utf8(name.as_slice()).map_err(|_| Error::UnknownExport("<not utf-8>".into()))
}

/// `global_get(Instance, Name) -> {ok, Value} | {error, _} | busy`.
#[rustler::nif]
fn global_get<'a>(env: Env<'a>, handle: Handle, name: Binary<'a>) -> Term<'a> {
    with_store(env, &handle, |core| {
        let v = core.global_get(utf8(&name)?)?;
        Ok((atoms::ok(), terms::val(env, &v)).encode(env))
    })
}

/// `global_set(Instance, Name, Value) -> ok | {error, _} | busy`. The value is checked
/// like a call argument: `{error, {bad_arg, 1, Type, Value}}` when it does not fit.
#[rustler::nif]
fn global_set<'a>(env: Env<'a>, handle: Handle, name: Binary<'a>, value: Term<'a>) -> Term<'a> {
    with_store(env, &handle, |core| {
        let name = utf8(&name)?;
        let (ty, _) = core.global_type(name)?;
        match terms::to_vals(vec![value].encode(env), std::slice::from_ref(&ty)) {
            Ok(mut vals) => {
                core.global_set(name, vals.remove(0))?;
                Ok(atoms::ok().encode(env))
            }
            Err(m) => Ok(terms::error(env, terms::mismatch(env, m))),
        }
    })
}

/// `table_size(Instance, Name) -> {ok, Entries} | {error, _} | busy`.
#[rustler::nif]
fn table_size<'a>(env: Env<'a>, handle: Handle, name: Binary<'a>) -> Term<'a> {
    with_store(env, &handle, |core| {
        let n = core.table_size(utf8(&name)?)?;
        Ok((atoms::ok(), n).encode(env))
    })
}

/// `table_get(Instance, Name, Index) -> {ok, null | {func, Signature} | ref} | {error, _}`.
/// Dirty: the first read of an instance builds its function-index map, one lookup per
/// function its element segments name (thousands, for AOS).
#[rustler::nif(schedule = "DirtyCpu")]
fn table_get<'a>(env: Env<'a>, handle: Handle, name: Binary<'a>, index: u64) -> Term<'a> {
    with_store(env, &handle, |core| {
        let entry = match core.table_get(utf8(&name)?, index)? {
            TableEntry::Null => atoms::null().encode(env),
            TableEntry::Func {
                index, signature, ..
            } => match index {
                Some(i) => (atoms::func(), i, signature.as_str()).encode(env),
                None => (atoms::func(), atoms::undefined(), signature.as_str()).encode(env),
            },
            TableEntry::Other => atoms::r#ref().encode(env),
        };
        Ok((atoms::ok(), entry).encode(env))
    })
}

/// `memory_grow(Instance, Pages) -> {ok, OldPages} | {error, _} | busy`.
#[rustler::nif]
fn memory_grow<'a>(env: Env<'a>, handle: Handle, delta: u64) -> Term<'a> {
    with_store(env, &handle, |core| {
        let old = core.memory_grow(delta)?;
        Ok((atoms::ok(), old).encode(env))
    })
}

/// `memory_pages(Instance) -> {ok, Pages} | {error, _} | busy`.
#[rustler::nif]
fn memory_pages<'a>(env: Env<'a>, handle: Handle) -> Term<'a> {
    with_store(env, &handle, |core| {
        let n = core.memory_pages()?;
        Ok((atoms::ok(), n).encode(env))
    })
}
