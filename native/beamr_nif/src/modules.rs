//! Compiled modules: compiling bytes into a module handle or a precompiled artifact,
//! WAT to wasm, a module's hash, and what a module imports and exports (as the
//! signature tuples the call protocol uses, or as typed maps).

use crate::compile_jobs::module_or_job;
use crate::module_resource::{module_of, module_of_handle, ModuleResource, NoModule};
use crate::options::{engine_choice, variant_for, EngineChoice};
use crate::{atoms, errors, terms};
use beamr_core::{describe, disk_cache, function_exists, ItemType};
use rustler::{Atom, Binary, Encoder, Env, ResourceArc, Term};

/// `compile_module(Bytes, Engine) -> {ok, Module} | {error, Reason} |
/// {compiling, Ref, Job}` (see `compile_jobs.rs`), for the engine `{Deterministic,
/// Proposals}` names (see `options.rs`).
#[rustler::nif(schedule = "DirtyCpu")]
fn compile_module<'a>(env: Env<'a>, bytes: Binary<'a>, engine: Term<'a>) -> Term<'a> {
    let Some(choice) = engine_choice(engine) else {
        return errors::bad_engine(env, engine);
    };
    match module_or_job(env, bytes, variant_for(choice, None)) {
        Ok(module) => (atoms::ok(), ResourceArc::new(ModuleResource::new(module))).encode(env),
        Err(answer) => answer,
    }
}

/// `precompile(Bytes, Engine) -> {ok, Artifact} | {error, Reason}`, `Engine` as
/// [`compile_module`] reads it.
#[rustler::nif(schedule = "DirtyCpu")]
fn precompile<'a>(env: Env<'a>, bytes: Binary<'a>, engine: Term<'a>) -> Term<'a> {
    let Some(choice) = engine_choice(engine) else {
        return errors::bad_engine(env, engine);
    };
    match disk_cache::precompile(bytes.as_slice(), variant_for(choice, None)) {
        Ok(a) => (atoms::ok(), terms::bytes(env, &a)).encode(env),
        Err(e) => errors::core_error(env, &e),
    }
}

/// `wat_to_wasm(Text) -> {ok, Wasm} | {error, {invalid_module, Why}}`.
#[rustler::nif(schedule = "DirtyCpu")]
fn wat_to_wasm<'a>(env: Env<'a>, text: Binary<'a>) -> Term<'a> {
    match beamr_core::module::wat_to_wasm(text.as_slice()) {
        Ok(wasm) => (atoms::ok(), terms::bytes(env, &wasm)).encode(env),
        Err(e) => errors::core_error(env, &e),
    }
}

/// `module_hash(Module) -> binary() | {error, {bad_module, Term}}`: the SHA-256 the
/// cache knows it by.
#[rustler::nif]
fn module_hash<'a>(env: Env<'a>, module: Term<'a>) -> Term<'a> {
    match module.decode::<ResourceArc<ModuleResource>>() {
        Ok(m) => terms::bytes(env, m.module().hash()),
        Err(_) => errors::bad_module(env, module),
    }
}

/// `imports(Module | Instance) -> [{func | memory | table | global | tag, Module,
/// Name, Signature}] | {error, {bad_module, Term}}`, binaries.
#[rustler::nif]
fn imports<'a>(env: Env<'a>, source: Term<'a>) -> Term<'a> {
    let Some(module) = module_of_handle(source) else {
        return errors::bad_module(env, source);
    };
    let list: Vec<Term> = module
        .imports()
        .iter()
        .map(|i| {
            let kind = Atom::from_str(env, i.kind.name()).unwrap_or(atoms::func());
            let (m, n, s) = (i.module.as_str(), i.name.as_str(), i.signature.as_str());
            (kind, m, n, s).encode(env)
        })
        .collect();
    list.encode(env)
}

/// `exports(Module | Instance) -> [{func | memory | table | global | tag, Name,
/// Signature}] | {error, {bad_module, Term}}`, binaries.
#[rustler::nif]
fn exports<'a>(env: Env<'a>, source: Term<'a>) -> Term<'a> {
    let Some(module) = module_of_handle(source) else {
        return errors::bad_module(env, source);
    };
    let list: Vec<Term> = module
        .exports()
        .iter()
        .map(|e| {
            let kind = Atom::from_str(env, e.kind.name()).unwrap_or(atoms::func());
            (kind, e.name.as_str(), e.signature.as_str()).encode(env)
        })
        .collect();
    list.encode(env)
}

/// `function_exists_in(Module | Instance, Name) -> boolean()`.
#[rustler::nif]
fn function_exists_in(source: Term, name: Binary) -> bool {
    let Ok(name) = std::str::from_utf8(name.as_slice()) else {
        return false;
    };
    module_of_handle(source).is_some_and(|m| function_exists(&m, name))
}

/// `describe_module(Module | Instance | Bytes) -> {ok, #{imports => [map()],
/// exports => [map()]}} | {error, Reason}`.
#[rustler::nif(schedule = "DirtyCpu")]
fn describe_module<'a>(env: Env<'a>, source: Term<'a>) -> Term<'a> {
    let module = match module_of(source, variant_for(EngineChoice::DEFAULT, None)) {
        Ok(m) => m,
        Err(e) => return NoModule::encode(e, env, source),
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
