//! The reasons of beamr's error tuples: a core [`Error`] as a term, and the refusals of
//! arguments that never reach the core (a term that is no instance, no module, no
//! UTF-8 name, no timeout), each carrying the term refused.

use crate::{atoms, terms};
use beamr_core::{Error, SnapshotError};
use rustler::types::atom::Atom;
use rustler::{Encoder, Env, Term};

/// The reason term of a core error.
pub fn reason<'a>(env: Env<'a>, e: &Error) -> Term<'a> {
    let text = |s: &str| terms::bytes(env, s.as_bytes());
    match e {
        Error::Compile(m) => (atoms::invalid_module(), text(m)).encode(env),
        Error::Instantiate(m) => (atoms::instantiate(), text(m)).encode(env),
        Error::ImportDuringStart { module, name } => {
            (atoms::import_during_start(), text(module), text(name)).encode(env)
        }
        Error::UnknownExport(n) => (atoms::unknown_export(), text(n)).encode(env),
        Error::NotAFunction(n) => (atoms::not_a_function(), text(n)).encode(env),
        Error::NoTable => atoms::no_indirect_function_table().encode(env),
        Error::BadTableIndex(i) => (atoms::bad_table_index(), *i).encode(env),
        Error::BadArity { expected, got } => (atoms::bad_arity(), *expected, *got).encode(env),
        Error::Trap(m) => (atoms::trap(), text(m)).encode(env),
        Error::Stopped => atoms::stopped().encode(env),
        Error::Timeout => atoms::timeout().encode(env),
        Error::NestingTooDeep(n) => (atoms::nesting_too_deep(), *n).encode(env),
        Error::ImportAborted(m) => (atoms::import_aborted(), text(m)).encode(env),
        Error::NoMemory => atoms::no_memory().encode(env),
        Error::OutOfBounds { offset, len, size } => {
            (atoms::out_of_bounds(), *offset, *len, *size).encode(env)
        }
        Error::UnterminatedString { .. } => atoms::unterminated_string().encode(env),
        Error::StringTooLong { max, .. } => (atoms::string_too_long(), *max).encode(env),
        Error::InvalidState(m) => (atoms::invalid_state(), text(m)).encode(env),
        Error::Busy => atoms::busy().encode(env),
        Error::WrongKind { name, expected } => {
            let kind = Atom::from_str(env, expected).unwrap_or(atoms::error());
            (atoms::wrong_kind(), text(name), kind).encode(env)
        }
        Error::ImmutableGlobal(n) => (atoms::immutable_global(), text(n)).encode(env),
        Error::InvalidValue(m) => (atoms::invalid_value(), text(m)).encode(env),
        Error::CannotGrow { delta, pages } => (atoms::cannot_grow(), *delta, *pages).encode(env),
        Error::OutOfFuel => atoms::out_of_fuel().encode(env),
        Error::NotMetered => atoms::not_metered().encode(env),
        Error::Snapshot(e) => snapshot_reason(env, e),
        Error::Aot(m) => (atoms::aot(), text(m)).encode(env),
        Error::MemoryBudget { requested, budget } => {
            (atoms::memory_budget(), *requested, *budget).encode(env)
        }
    }
}

/// `{snapshot, Why}` or `{snapshot, Why, Detail}`.
fn snapshot_reason<'a>(env: Env<'a>, e: &SnapshotError) -> Term<'a> {
    let tag = atoms::snapshot();
    let text = |s: &str| terms::bytes(env, s.as_bytes());
    match e {
        SnapshotError::Truncated => (tag, atoms::truncated()).encode(env),
        SnapshotError::Corrupt => (tag, atoms::corrupt()).encode(env),
        SnapshotError::WrongModule => (tag, atoms::wrong_module()).encode(env),
        SnapshotError::Version(v) => (tag, atoms::version(), *v).encode(env),
        SnapshotError::Unsupported(m) => (tag, atoms::unsupported(), text(m)).encode(env),
        SnapshotError::DoesNotFit(m) => (tag, atoms::does_not_fit(), text(m)).encode(env),
    }
}

/// `{error, Reason}` for a core error.
pub fn core_error<'a>(env: Env<'a>, e: &Error) -> Term<'a> {
    terms::error(env, reason(env, e))
}

/// `{error, {Tag, Term}}`: an argument refused before it reached the core.
fn refused<'a>(env: Env<'a>, tag: Atom, term: Term<'a>) -> Term<'a> {
    terms::error(env, (tag, term).encode(env))
}

/// `{error, {bad_instance, Term}}`: no instance handle.
pub fn bad_instance<'a>(env: Env<'a>, term: Term<'a>) -> Term<'a> {
    refused(env, atoms::bad_instance(), term)
}

/// `{error, {bad_module, Term}}`: neither a module handle nor an instance (nor, where
/// bytes are taken too, a binary).
pub fn bad_module<'a>(env: Env<'a>, term: Term<'a>) -> Term<'a> {
    refused(env, atoms::bad_module(), term)
}

/// `{error, {bad_name, Name}}`: an export name that is not UTF-8, which no export has.
pub fn bad_name<'a>(env: Env<'a>, term: Term<'a>) -> Term<'a> {
    refused(env, atoms::bad_name(), term)
}

/// `{error, {bad_timeout, Term}}`.
pub fn bad_timeout<'a>(env: Env<'a>, term: Term<'a>) -> Term<'a> {
    refused(env, atoms::bad_timeout(), term)
}

/// `{error, {bad_func, Term}}`: neither a function name nor a table index.
pub fn bad_func<'a>(env: Env<'a>, term: Term<'a>) -> Term<'a> {
    refused(env, atoms::bad_func(), term)
}

/// `{error, {bad_offset, Term}}`.
pub fn bad_offset<'a>(env: Env<'a>, term: Term<'a>) -> Term<'a> {
    refused(env, atoms::bad_offset(), term)
}

/// `{error, {bad_length, Term}}`.
pub fn bad_length<'a>(env: Env<'a>, term: Term<'a>) -> Term<'a> {
    refused(env, atoms::bad_length(), term)
}

/// `{error, {bad_links, Term}}`.
pub fn bad_links<'a>(env: Env<'a>, term: Term<'a>) -> Term<'a> {
    refused(env, atoms::bad_links(), term)
}

/// `{error, {bad_option, engine, Term}}`: an engine choice `options.rs` refused.
pub fn bad_engine<'a>(env: Env<'a>, term: Term<'a>) -> Term<'a> {
    terms::error(
        env,
        (atoms::bad_option(), atoms::engine(), term).encode(env),
    )
}
