//! An instance's exported globals and tables, by export name: reading and setting
//! globals, a table's size and its entries. Like memory access, each works between
//! calls and from inside an import.

use crate::access::with_store;
use crate::instance::Handle;
use crate::{atoms, errors, terms};
use beamr_core::TableEntry;
use rustler::{Binary, Encoder, Env, Term};

/// Runs `op` with the export name as text, or answers `{error, {bad_name, Name}}`
/// before touching the instance when the name is not UTF-8.
fn named<'a>(env: Env<'a>, name: Binary<'a>, op: impl FnOnce(&str) -> Term<'a>) -> Term<'a> {
    match std::str::from_utf8(name.as_slice()) {
        Ok(text) => op(text),
        Err(_) => errors::bad_name(env, name.to_term(env)),
    }
}

/// `global_get(Instance, Name) -> {ok, Value} | {error, _} | busy`.
#[rustler::nif]
fn global_get<'a>(env: Env<'a>, handle: Handle, name: Binary<'a>) -> Term<'a> {
    named(env, name, |name| {
        with_store(env, &handle, |core| {
            let v = core.global_get(name)?;
            Ok((atoms::ok(), terms::val(env, &v)).encode(env))
        })
    })
}

/// `global_set(Instance, Name, Value) -> ok | {error, _} | busy`. The value is checked
/// like a call argument: `{error, {bad_arg, 1, Type, Value}}` when it does not fit.
#[rustler::nif]
fn global_set<'a>(env: Env<'a>, handle: Handle, name: Binary<'a>, value: Term<'a>) -> Term<'a> {
    named(env, name, |name| {
        with_store(env, &handle, |core| {
            let (ty, _) = core.global_type(name)?;
            match terms::to_vals(vec![value].encode(env), std::slice::from_ref(&ty)) {
                Ok(mut vals) => {
                    core.global_set(name, vals.remove(0))?;
                    Ok(atoms::ok().encode(env))
                }
                Err(m) => Ok(terms::error(env, terms::mismatch(env, m))),
            }
        })
    })
}

/// `table_size(Instance, Name) -> {ok, Entries} | {error, _} | busy`.
#[rustler::nif]
fn table_size<'a>(env: Env<'a>, handle: Handle, name: Binary<'a>) -> Term<'a> {
    named(env, name, |name| {
        with_store(env, &handle, |core| {
            let n = core.table_size(name)?;
            Ok((atoms::ok(), n).encode(env))
        })
    })
}

/// `table_get(Instance, Name, Index) -> {ok, null | {func, Index, Signature} | ref} |
/// {error, _} | busy`. Dirty: the first read of an instance builds its function-index
/// map, one lookup per function its element segments name (thousands, for AOS).
#[rustler::nif(schedule = "DirtyCpu")]
fn table_get<'a>(env: Env<'a>, handle: Handle, name: Binary<'a>, index: u64) -> Term<'a> {
    named(env, name, |name| {
        with_store(env, &handle, |core| {
            let entry = match core.table_get(name, index)? {
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
    })
}
