//! Terms in and out: call values, timeouts, binaries and the `{error, Reason}` wrapper.
//!
//! Values are checked against the wasm type they are meant for (rules in
//! `beamr_core::value`); a term that does not fit produces
//! `{bad_arg, Position, ExpectedType, Term}` with a 1-based position. Results go the
//! other way: integers, floats, and the atoms `nan`, `infinity`, `neg_infinity` and
//! `null` for what an Erlang float or integer cannot hold. The reasons inside error
//! tuples are made in `errors.rs`.

use crate::atoms;
use beamr_core::value::{to_val, type_name};
use beamr_core::{Arg, SpecialFloat, Val, ValType};
use rustler::types::atom::Atom;
use rustler::{Binary, Encoder, Env, NewBinary, Term};
use std::time::{Duration, Instant};

/// Decodes a timeout in milliseconds or `infinity` into a deadline.
#[inline]
pub fn deadline(t: Term) -> Result<Option<Instant>, ()> {
    // Atoms are immediate terms: `infinity` (what nearly every call passes) is this
    // one word, found without decoding; any other atom fails the decode below.
    if t.as_c_arg() == atoms::infinity().as_c_arg() {
        return Ok(None);
    }
    let ms: u64 = t.decode().map_err(|_| ())?;
    Ok(Instant::now().checked_add(Duration::from_millis(ms)))
}

/// Reads one caller term as an [`Arg`], without yet knowing whether it fits.
fn decode_arg(term: Term) -> Option<Arg> {
    if let Ok(n) = term.decode::<i64>() {
        return Some(Arg::Int(n as i128));
    }
    if let Ok(n) = term.decode::<u64>() {
        return Some(Arg::Int(n as i128));
    }
    if let Ok(x) = term.decode::<f64>() {
        return Some(Arg::Float(x));
    }
    if let Ok(a) = term.decode::<Atom>() {
        return match a {
            a if a == atoms::nan() => Some(Arg::Special(SpecialFloat::Nan)),
            a if a == atoms::infinity() => Some(Arg::Special(SpecialFloat::Infinity)),
            a if a == atoms::neg_infinity() => Some(Arg::Special(SpecialFloat::NegInfinity)),
            a if a == atoms::null() => Some(Arg::Null),
            _ => None,
        };
    }
    if let Ok(b) = term.decode::<Binary>() {
        return <[u8; 16]>::try_from(b.as_slice()).ok().map(Arg::V128);
    }
    None
}

/// Why a list of terms does not fit a list of types, as an error term.
pub fn mismatch<'a>(env: Env<'a>, e: Mismatch<'a>) -> Term<'a> {
    match e {
        Mismatch::Arity { expected, got } => (atoms::bad_arity(), expected, got).encode(env),
        Mismatch::Type {
            index,
            expected,
            got,
        } => (atoms::bad_arg(), index + 1, type_atom(&expected), got).encode(env),
        Mismatch::NotAList(t) => (atoms::bad_args(), t).encode(env),
    }
}

pub enum Mismatch<'a> {
    Arity {
        expected: usize,
        got: usize,
    },
    Type {
        index: usize,
        expected: Box<ValType>,
        got: Term<'a>,
    },
    NotAList(Term<'a>),
}

/// The float a term holds, if it is a float. (rustler's `is_float` and its f64
/// decoder each ask the VM, and the decoder also takes integers, rounding them.)
#[inline(always)]
fn float_of(term: Term) -> Option<f64> {
    let mut x = 0.0;
    // SAFETY: the term and its environment are live for the NIF call; `enif_get_double`
    // writes `x` only when the term is a float.
    let got = unsafe {
        rustler::sys::enif_get_double(term.get_env().as_c_arg(), term.as_c_arg(), &mut x)
    };
    (got != 0).then_some(x)
}

/// Reads a term as a value of type `ty` onto the end of `values`; false if it does
/// not fit. The common cases take one `enif_get_*` call and push the value directly,
/// by the rules of [`to_val`]; the rest go through it. (Pushing here rather than
/// returning an `Option<Val>` keeps the value out of a stack temporary whose reload
/// stalled every call.)
#[inline(always)]
fn push_as(term: Term, ty: &ValType, values: &mut Vec<Val>) -> bool {
    match ty {
        ValType::I32 => {
            if let Ok(n) = term.decode::<i64>() {
                let fits = (-(1i64 << 31)..(1i64 << 32)).contains(&n);
                fits.then(|| values.push(Val::I32(n as u32 as i32)));
                return fits;
            }
        }
        ValType::I64 => {
            if let Ok(n) = term.decode::<i64>() {
                values.push(Val::I64(n));
                return true;
            }
        }
        ValType::F64 => {
            if let Some(x) = float_of(term) {
                values.push(Val::F64(x.to_bits()));
                return true;
            }
        }
        ValType::F32 => {
            if let Some(x) = float_of(term) {
                values.push(Val::F32((x as f32).to_bits()));
                return true;
            }
        }
        _ => {}
    }
    match decode_arg(term).and_then(|arg| to_val(&arg, ty)) {
        Some(v) => {
            values.push(v);
            true
        }
        None => false,
    }
}

/// Converts a list of terms to values of `types`. An improper list is refused before
/// anything is decoded (rustler's list decoder would panic on one, and a panic must
/// never cross the NIF boundary).
pub fn to_vals<'a>(list: Term<'a>, types: &[ValType]) -> Result<Vec<Val>, Mismatch<'a>> {
    let mut values = Vec::new();
    to_vals_in(list, types, &mut values).map(|()| values)
}

/// [`to_vals`] into `values` (emptied first), to reuse its allocation.
pub fn to_vals_in<'a>(
    list: Term<'a>,
    types: &[ValType],
    values: &mut Vec<Val>,
) -> Result<(), Mismatch<'a>> {
    let len = list.list_length().map_err(|_| Mismatch::NotAList(list))?;
    if len != types.len() {
        return Err(Mismatch::Arity {
            expected: types.len(),
            got: len,
        });
    }
    values.clear();
    values.reserve_exact(len);
    let mut rest = list;
    for (index, ty) in types.iter().enumerate() {
        let (term, tail) = rest.list_get_cell().map_err(|_| Mismatch::NotAList(list))?;
        if !push_as(term, ty, values) {
            return Err(Mismatch::Type {
                index,
                expected: Box::new(ty.clone()),
                got: term,
            });
        }
        rest = tail;
    }
    Ok(())
}

fn float<'a>(env: Env<'a>, x: f64) -> Term<'a> {
    match SpecialFloat::of(x) {
        None => x.encode(env),
        Some(SpecialFloat::Nan) => atoms::nan().encode(env),
        Some(SpecialFloat::Infinity) => atoms::infinity().encode(env),
        Some(SpecialFloat::NegInfinity) => atoms::neg_infinity().encode(env),
    }
}

pub fn val<'a>(env: Env<'a>, v: &Val) -> Term<'a> {
    match v {
        Val::I32(n) => n.encode(env),
        Val::I64(n) => n.encode(env),
        Val::F32(bits) => float(env, f32::from_bits(*bits) as f64),
        Val::F64(bits) => float(env, f64::from_bits(*bits)),
        Val::V128(v) => bytes(env, &v.as_u128().to_le_bytes()),
        Val::FuncRef(None) | Val::ExternRef(None) | Val::AnyRef(None) | Val::ExnRef(None) => {
            atoms::null().encode(env)
        }
        _ => atoms::r#ref().encode(env),
    }
}

/// A list of values. Short lists (every import's arguments and results in practice)
/// are made in one `enif_make_list_from_array` call from an array on the stack, where
/// rustler's list encoder would collect the terms into a heap vector first.
#[inline]
pub fn vals<'a>(env: Env<'a>, vs: &[Val]) -> Term<'a> {
    // SAFETY: `vals_raw` makes its term in `env`.
    unsafe { Term::new(env, vals_raw(env, vs)) }
}

/// [`vals`] as a bare term: one register back to the caller, where a `Term` (term and
/// environment) came back through the stack and stalled its reload on every call.
fn vals_raw(env: Env<'_>, vs: &[Val]) -> rustler::sys::ErlNifTerm {
    const SHORT: usize = 8;
    if vs.len() > SHORT {
        let list = vs.iter().rev().fold(Term::list_new_empty(env), |tail, v| {
            tail.list_prepend(val(env, v))
        });
        return list.as_c_arg();
    }
    let mut terms = [rustler::sys::ErlNifTerm::default(); SHORT];
    for (slot, v) in terms.iter_mut().zip(vs) {
        *slot = val(env, v).as_c_arg();
    }
    // SAFETY: the first `vs.len()` entries are terms just made in `env`, and the list
    // is made in `env` too.
    unsafe {
        rustler::sys::enif_make_list_from_array(env.as_c_arg(), terms.as_ptr(), vs.len() as u32)
    }
}

pub fn bytes<'a>(env: Env<'a>, data: &[u8]) -> Term<'a> {
    NewBinary::from_slice(env, data).into()
}

pub fn type_atom(ty: &ValType) -> Atom {
    match type_name(ty) {
        "i32" => atoms::i32(),
        "i64" => atoms::i64(),
        "f32" => atoms::f32(),
        "f64" => atoms::f64(),
        "v128" => atoms::v128(),
        "funcref" => atoms::funcref(),
        "externref" => atoms::externref(),
        "exnref" => atoms::exnref(),
        _ => atoms::anyref(),
    }
}

pub fn error<'a>(env: Env<'a>, reason: Term<'a>) -> Term<'a> {
    (atoms::error(), reason).encode(env)
}
