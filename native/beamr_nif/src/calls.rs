//! Calls: starting one, answering its imports, continuing it on a normal or a dirty
//! scheduler, its fuel, and stopping the instance.
//!
//! Each step returns what the call reached: `{ok, Results}`, an import to answer
//! (`{import, Module, Name, Args, Signature}`), `yield` when its time slice ended (the
//! caller goes on with [`proceed_normal`] or [`proceed`]), `busy` when another
//! process's call holds the instance, or an error. `call` and `resume_again`, run on
//! every call and every import round trip, are registered by `raw_nif.rs`.

use crate::access::with_instance;
use crate::instance::{Access, Handle, InstanceResource};
use crate::raw_nif::{raw_nif, RawResult};
use crate::{access, atoms, errors, terms};
use beamr_core::{Instance, Slice, Step, Target, Val, ValType};
use rustler::{Binary, Encoder, Env, Term};
use std::time::Instant;

/// Encodes a step; an import carries its module, name, arguments and signature.
fn step<'a>(env: Env<'a>, core: &Instance, step: Step) -> Term<'a> {
    match step {
        Step::Done(values) => {
            let term = (atoms::ok(), terms::vals(env, &values)).encode(env);
            // The vector's allocation carries the next call's arguments.
            core.recycle_vals(values);
            term
        }
        Step::Import { index, args } => {
            let i = core.import_desc(index);
            let (m, n, s) = (i.module.as_str(), i.name.as_str(), i.signature.as_str());
            let term = (atoms::import(), m, n, terms::vals(env, &args), s).encode(env);
            // The vector's allocation carries the answer to this import.
            core.recycle_vals(args);
            term
        }
        Step::Yield => atoms::yield_().encode(env),
        Step::Failed(e) => errors::core_error(env, &e),
    }
}

/// `call(Instance, Func, Args, Timeout) -> Step | busy` where `Func` is a binary name
/// or a table index. Starts a call, or a re-entrant one from inside an import.
fn call<'a>(env: Env<'a>, [handle, func, values, timeout]: [Term<'a>; 4]) -> RawResult<'a> {
    let Ok(handle) = handle.decode::<Handle>() else {
        return Ok(errors::bad_instance(env, handle));
    };
    let Ok(deadline) = terms::deadline(timeout) else {
        return Ok(errors::bad_timeout(env, timeout));
    };
    Ok(match target_of(func) {
        Some(target) => call_target(env, &handle, target, values, deadline, None),
        None => errors::bad_func(env, func),
    })
}
raw_nif!("call", 4, call);

/// `call_fuel(Instance, Func, Args, Timeout, Fuel)`: [`call`] with a fuel budget for
/// the call (ignored for a re-entrant call, which shares its outer call's budget).
#[rustler::nif]
fn call_fuel<'a>(
    env: Env<'a>,
    handle: Handle,
    func: Term<'a>,
    values: Term<'a>,
    timeout: Term<'a>,
    fuel: u64,
) -> Term<'a> {
    let Ok(deadline) = terms::deadline(timeout) else {
        return errors::bad_timeout(env, timeout);
    };
    match target_of(func) {
        Some(target) => call_target(env, &handle, target, values, deadline, Some(fuel)),
        None => errors::bad_func(env, func),
    }
}

/// Decodes a call's function reference: a binary name (the common case, tried first)
/// or a table index.
fn target_of(func: Term<'_>) -> Option<Target<'_>> {
    if let Ok(name) = func.decode::<Binary>() {
        return Some(Target::NameBytes(name.as_slice()));
    }
    func.decode::<u64>().ok().map(Target::Index)
}

fn call_target<'a>(
    env: Env<'a>,
    handle: &Handle,
    target: Target<'_>,
    args: Term<'a>,
    deadline: Option<Instant>,
    fuel: Option<u64>,
) -> Term<'a> {
    with_instance(env, handle, Access::Call, |core| {
        if fuel.is_some() && core.is_idle() {
            if let Err(e) = core.set_fuel_budget(fuel) {
                return errors::core_error(env, &e);
            }
        }
        let mut refused = None;
        let made =
            |types: &[ValType], spare: &mut Vec<Val>| match terms::to_vals_in(args, types, spare) {
                Ok(()) => true,
                Err(m) => {
                    refused = Some(m);
                    false
                }
            };
        match core.call_target(target, Slice::Normal, deadline, made) {
            Some(s) => step(env, core, s),
            None => match refused {
                Some(m) => terms::error(env, terms::mismatch(env, m)),
                None => terms::error(env, atoms::internal_error().encode(env)),
            },
        }
    })
}

/// `resume_again(Instance, Results) -> Step | {again, Args} | {bad_import_result, Why}
/// | busy`: answers the pending import; results that do not fit its type leave it
/// pending. A step parking the call in the very import just answered is
/// `{again, Args}`: the caller already holds the import's module, name and signature,
/// so they are not made again.
fn resume_again<'a>(env: Env<'a>, [handle, results]: [Term<'a>; 2]) -> RawResult<'a> {
    let Ok(handle) = handle.decode::<Handle>() else {
        return Ok(errors::bad_instance(env, handle));
    };
    Ok(with_instance(env, &handle, Access::Drive, |core| {
        let Some(answered) = core.pending_import_index() else {
            let s = core.resume(Vec::new(), Slice::Normal);
            return step(env, core, s);
        };
        let types = core.import_desc(answered).result_types();
        let mut values = core.spare_vals();
        match terms::to_vals_in(results, types, &mut values) {
            Ok(()) => match core.resume(values, Slice::Normal) {
                Step::Import { index, args } if index == answered => {
                    let term = (atoms::again(), terms::vals(env, &args)).encode(env);
                    core.recycle_vals(args);
                    term
                }
                s => step(env, core, s),
            },
            Err(m) => (atoms::bad_import_result(), terms::mismatch(env, m)).encode(env),
        }
    }))
}
raw_nif!("resume_again", 2, resume_again);

/// `fail_import(Instance, Reason) -> Step | busy`: the pending import traps.
#[rustler::nif]
fn fail_import<'a>(env: Env<'a>, handle: Handle, reason: Binary<'a>) -> Term<'a> {
    let reason = String::from_utf8_lossy(reason.as_slice()).into_owned();
    with_instance(env, &handle, Access::Drive, |core| {
        let s = core.fail_import(reason, Slice::Normal);
        step(env, core, s)
    })
}

/// `proceed(Instance) -> Step | busy`: continues a call that yielded, on a dirty
/// scheduler, where it runs until it finishes, reaches an import, or is interrupted.
#[rustler::nif(schedule = "DirtyCpu")]
fn proceed<'a>(env: Env<'a>, handle: Handle) -> Term<'a> {
    with_instance(env, &handle, Access::Drive, |core| {
        let s = core.proceed(Slice::Dirty);
        step(env, core, s)
    })
}

/// `proceed_normal(Instance) -> Step | busy`: continues a call that yielded for one
/// more slice on the calling normal scheduler, whose core's caches hold what the call
/// was working on; the caller lets other processes run first.
#[rustler::nif]
fn proceed_normal<'a>(env: Env<'a>, handle: Handle) -> Term<'a> {
    with_instance(env, &handle, Access::Drive, |core| {
        let s = core.proceed(Slice::Normal);
        step(env, core, s)
    })
}

/// `fuel_consumed(Instance) -> {ok, N | undefined} | {error, not_metered} | busy`.
#[rustler::nif]
fn fuel_consumed<'a>(env: Env<'a>, handle: Handle) -> Term<'a> {
    access::with_store(env, &handle, |core| {
        Ok(match core.fuel_consumed()? {
            Some(n) => (atoms::ok(), n).encode(env),
            None => (atoms::ok(), atoms::undefined()).encode(env),
        })
    })
}

/// `stop(Instance) -> ok`.
#[rustler::nif]
fn stop(env: Env, handle: Handle) -> rustler::Atom {
    InstanceResource::stop(&handle, env);
    atoms::ok()
}

/// `is_stopped(Instance) -> boolean()`.
#[rustler::nif]
fn is_stopped(handle: Handle) -> bool {
    handle.stop_handle().is_stopped()
}
