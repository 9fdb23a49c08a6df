//! beamr's NIF: thin functions over `beamr_core`.
//!
//! Each NIF decodes its terms, takes the instance through [`instance::InstanceResource`]
//! (which serializes callers without blocking), runs one step of the core, and encodes
//! the outcome. Short steps run on normal schedulers; compilation and calls that
//! outlived their time slice continue on dirty CPU schedulers. The Erlang module
//! `beamr` drives the protocol: see its documentation for the shapes.

mod api;
mod atoms;
mod handle;
mod image_hash;
mod instance;
mod raw_nif;
mod starting;
mod terms;

mod state;

use beamr_core::{Error, Instance, Slice, Step, Target, Val, ValType};
use instance::{Access, Entered, Handle, InstanceResource};
use raw_nif::{raw_nif, RawResult};
use rustler::{Binary, Encoder, Env, Term};
use std::time::{Duration, Instant};

/// Decodes a timeout in milliseconds or `infinity` into a deadline.
#[inline]
pub(crate) fn deadline(t: Term) -> Result<Option<Instant>, ()> {
    // Atoms are immediate terms: `infinity` (what nearly every call passes) is this
    // one word, found without decoding; any other atom fails the decode below.
    if t.as_c_arg() == atoms::infinity().as_c_arg() {
        return Ok(None);
    }
    let ms: u64 = t.decode().map_err(|_| ())?;
    Ok(Instant::now().checked_add(Duration::from_millis(ms)))
}

pub(crate) fn bad_timeout<'a>(env: Env<'a>, t: Term<'a>) -> Term<'a> {
    terms::error(env, (atoms::bad_timeout(), t).encode(env))
}

/// `start(Bytes, Timeout) -> {ok, Instance} | {error, Reason} | {starting, S} |
/// {compiling, Ref, Job}`: compile (or reuse a compilation of the same bytes) and
/// instantiate; the last two continue as `starting.rs` says.
#[rustler::nif(schedule = "DirtyCpu")]
fn start<'a>(env: Env<'a>, bytes: Binary<'a>, timeout: Term<'a>) -> Term<'a> {
    let Ok(deadline) = deadline(timeout) else {
        return bad_timeout(env, timeout);
    };
    match starting::module_or_job(env, bytes, beamr_core::Variant::DEFAULT) {
        Ok(module) => starting::poll_start(
            env,
            beamr_core::Starting::new(module, Vec::new(), deadline, &Default::default()),
        ),
        Err(answer) => answer,
    }
}

/// `start_cached(Bytes, Timeout) -> {ok, Instance} | {error, Reason} | not_cached`:
/// on a normal scheduler, starts an instance of bytes whose compilation is cached and
/// [starts quickly](beamr_core::CompiledModule::starts_quickly), which takes
/// microseconds; `not_cached` sends the caller to [`start`], on a dirty scheduler.
#[rustler::nif]
fn start_cached<'a>(env: Env<'a>, bytes: Binary<'a>, timeout: Term<'a>) -> Term<'a> {
    let Ok(deadline) = deadline(timeout) else {
        return bad_timeout(env, timeout);
    };
    let quick = image_hash::cheap_hash_of(&bytes)
        .and_then(|hash| beamr_core::module::cached_quick_for(&hash, beamr_core::Variant::DEFAULT));
    match quick {
        Some(module) => started(env, Instance::new(module, deadline)),
        None => atoms::not_cached().encode(env),
    }
}

/// `{ok, Instance}` for a new instance, or the error that kept it from starting.
pub(crate) fn started<'a>(env: Env<'a>, made: Result<Instance, Error>) -> Term<'a> {
    match made {
        Ok(i) => (atoms::ok(), handle::new_term(env, InstanceResource::new(i))).encode(env),
        Err(e) => terms::core_error(env, &e),
    }
}

/// `[{func | memory | table | global | tag, Module, Name, Signature}]`, binaries.
#[rustler::nif]
fn imports<'a>(env: Env<'a>, source: Term<'a>) -> Term<'a> {
    let module = match api::module_of_handle(source) {
        Ok(m) => m,
        Err(e) => return terms::core_error(env, &e),
    };
    let list: Vec<Term> = module
        .imports()
        .iter()
        .map(|i| {
            let kind = rustler::Atom::from_str(env, i.kind.name()).unwrap_or(atoms::func());
            (
                kind,
                i.module.as_str(),
                i.name.as_str(),
                i.signature.as_str(),
            )
                .encode(env)
        })
        .collect();
    list.encode(env)
}

/// `[{func | memory | table | global | tag, Name, Signature}]`, binaries.
#[rustler::nif]
fn exports<'a>(env: Env<'a>, source: Term<'a>) -> Term<'a> {
    let module = match api::module_of_handle(source) {
        Ok(m) => m,
        Err(e) => return terms::core_error(env, &e),
    };
    let list: Vec<Term> = module
        .exports()
        .iter()
        .map(|e| {
            let kind = rustler::Atom::from_str(env, e.kind.name()).unwrap_or(atoms::func());
            (kind, e.name.as_str(), e.signature.as_str()).encode(env)
        })
        .collect();
    list.encode(env)
}

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
        Step::Failed(e) => terms::core_error(env, &e),
    }
}

/// Runs `op` on the instance with `access`, then settles ownership and wakes waiters.
/// A panic in `op` settles them too, as it unwinds to the NIF's entry, which turns it
/// into an error: `{error, internal_error}` from the hot NIFs (see `raw_nif.rs`), an
/// exception from rustler's. (A `catch_unwind` here as well cost two stalled copies
/// per call.)
fn with_instance<'a>(
    env: Env<'a>,
    handle: &Handle,
    access: Access,
    op: impl FnOnce(&mut Instance) -> Term<'a>,
) -> Term<'a> {
    match Entered::new(handle, env, access) {
        Ok(mut entered) => op(entered.core()),
        Err(reason) => refused(env, reason),
    }
}

/// The answer when `enter` refuses: `busy` as is (the caller waits), anything else
/// as an error tuple.
fn refused(env: Env, reason: rustler::Atom) -> Term {
    if reason == atoms::busy() {
        reason.encode(env)
    } else {
        terms::error(env, reason.encode(env))
    }
}

/// Runs a store operation (memory access); when a call is executing rather than
/// parked, the caller is queued and gets `busy`.
pub(crate) fn with_store<'a>(
    env: Env<'a>,
    handle: &Handle,
    op: impl FnOnce(&mut Instance) -> Result<Term<'a>, Error>,
) -> Term<'a> {
    match InstanceResource::enter(handle, env, Access::Any) {
        Ok(mut core) => {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op(&mut core)))
                .unwrap_or(Err(Error::InvalidState("internal error")));
            let busy = out == Err(Error::Busy);
            InstanceResource::leave(handle, env, core, busy);
            match out {
                Ok(term) => term,
                Err(Error::Busy) => atoms::busy().encode(env),
                Err(e) => terms::core_error(env, &e),
            }
        }
        Err(reason) => refused(env, reason),
    }
}

/// `call(Instance, Func, Args, Timeout) -> Step | busy` where `Func` is a binary name
/// or a table index. Starts a call, or a re-entrant one from inside an import.
fn call<'a>(env: Env<'a>, [handle, func, values, timeout]: [Term<'a>; 4]) -> RawResult<'a> {
    let Ok(handle) = handle.decode::<Handle>() else {
        return Ok(handle::bad_instance(env, handle));
    };
    let Ok(deadline) = deadline(timeout) else {
        return Ok(bad_timeout(env, timeout));
    };
    Ok(match target_of(func) {
        Some(target) => call_target(env, &handle, target, values, deadline),
        None => terms::error(env, (atoms::bad_func(), func).encode(env)),
    })
}
raw_nif!("call", 4, call);

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
) -> Term<'a> {
    call_target_fuel(env, handle, target, args, deadline, None)
}

pub(crate) fn call_target_fuel<'a>(
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
                return terms::core_error(env, &e);
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

/// `resume(Instance, Results) -> Step | {bad_import_result, Why} | busy`: answers the
/// pending import. Results that do not fit its type leave it pending.
fn resume<'a>(env: Env<'a>, [handle, results]: [Term<'a>; 2]) -> RawResult<'a> {
    let Ok(handle) = handle.decode::<Handle>() else {
        return Ok(handle::bad_instance(env, handle));
    };
    Ok(resume_step(env, &handle, results, false))
}
raw_nif!("resume", 2, resume);

/// `resume_again(Instance, Results)`: [`resume`], except that a step parking the call
/// in the very import just answered is `{again, Args}`: the caller already holds the
/// import's module, name and signature, and making three binaries again cost a tenth
/// of a round trip.
fn resume_again<'a>(env: Env<'a>, [handle, results]: [Term<'a>; 2]) -> RawResult<'a> {
    let Ok(handle) = handle.decode::<Handle>() else {
        return Ok(handle::bad_instance(env, handle));
    };
    Ok(resume_step(env, &handle, results, true))
}
raw_nif!("resume_again", 2, resume_again);

fn resume_step<'a>(env: Env<'a>, handle: &Handle, results: Term<'a>, again: bool) -> Term<'a> {
    with_instance(env, handle, Access::Drive, |core| {
        let Some(answered) = core.pending_import_index() else {
            let s = core.resume(Vec::new(), Slice::Normal);
            return step(env, core, s);
        };
        let types = core.import_desc(answered).result_types();
        let mut values = core.spare_vals();
        match terms::to_vals_in(results, types, &mut values) {
            Ok(()) => match core.resume(values, Slice::Normal) {
                Step::Import { index, args } if again && index == answered => {
                    let term = (atoms::again(), terms::vals(env, &args)).encode(env);
                    core.recycle_vals(args);
                    term
                }
                s => step(env, core, s),
            },
            Err(m) => (atoms::bad_import_result(), terms::mismatch(env, m)).encode(env),
        }
    })
}

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

fn offset(t: Term) -> Option<u64> {
    t.decode::<u64>().ok()
}

/// `size(Instance) -> {ok, Bytes} | {error, _} | busy`.
#[rustler::nif]
fn size<'a>(env: Env<'a>, handle: Handle) -> Term<'a> {
    with_store(env, &handle, |core| {
        core.memory_size().map(|n| (atoms::ok(), n).encode(env))
    })
}

fn read_impl<'a>(env: Env<'a>, handle: Handle, off: Term<'a>, len: Term<'a>) -> Term<'a> {
    let Some(o) = offset(off) else {
        return terms::error(env, (atoms::bad_offset(), off).encode(env));
    };
    let Some(l) = offset(len) else {
        return terms::error(env, (atoms::bad_length(), len).encode(env));
    };
    with_store(env, &handle, |core| {
        core.read(o, l, |b| terms::bytes(env, b))
            .map(|bin| (atoms::ok(), bin).encode(env))
    })
}

fn write_impl<'a>(env: Env<'a>, handle: Handle, off: Term<'a>, data: Binary<'a>) -> Term<'a> {
    let Some(o) = offset(off) else {
        return terms::error(env, (atoms::bad_offset(), off).encode(env));
    };
    with_store(env, &handle, |core| {
        core.write(o, data.as_slice())
            .map(|()| atoms::ok().encode(env))
    })
}

/// `read(Instance, Offset, Length) -> {ok, Binary} | {error, _} | busy`.
#[rustler::nif]
fn read<'a>(env: Env<'a>, handle: Handle, off: Term<'a>, len: Term<'a>) -> Term<'a> {
    read_impl(env, handle, off, len)
}

/// [`read`] for large ranges, on a dirty scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn read_dirty<'a>(env: Env<'a>, handle: Handle, off: Term<'a>, len: Term<'a>) -> Term<'a> {
    read_impl(env, handle, off, len)
}

fn read_string_impl<'a>(env: Env<'a>, handle: Handle, off: Term<'a>, max: Term<'a>) -> Term<'a> {
    let Some(o) = offset(off) else {
        return terms::error(env, (atoms::bad_offset(), off).encode(env));
    };
    let Some(m) = offset(max) else {
        return terms::error(env, (atoms::bad_length(), max).encode(env));
    };
    with_store(env, &handle, |core| {
        core.read_cstring(o, m, |b| terms::bytes(env, b))
            .map(|bin| (atoms::ok(), bin).encode(env))
    })
}

/// `read_string(Instance, Offset, MaxLength) -> {ok, Binary} | {error, _} | busy`: the
/// NUL-terminated string at `Offset`, if it is at most `MaxLength` bytes long.
#[rustler::nif]
fn read_string<'a>(env: Env<'a>, handle: Handle, off: Term<'a>, max: Term<'a>) -> Term<'a> {
    read_string_impl(env, handle, off, max)
}

/// [`read_string`] for long scans, on a dirty scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn read_string_dirty<'a>(env: Env<'a>, handle: Handle, off: Term<'a>, max: Term<'a>) -> Term<'a> {
    read_string_impl(env, handle, off, max)
}

/// `write(Instance, Offset, Binary) -> ok | {error, _} | busy`.
#[rustler::nif]
fn write<'a>(env: Env<'a>, handle: Handle, off: Term<'a>, data: Binary<'a>) -> Term<'a> {
    write_impl(env, handle, off, data)
}

/// [`write`] for large binaries, on a dirty scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn write_dirty<'a>(env: Env<'a>, handle: Handle, off: Term<'a>, data: Binary<'a>) -> Term<'a> {
    write_impl(env, handle, off, data)
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
    let Ok(deadline) = deadline(timeout) else {
        return bad_timeout(env, timeout);
    };
    match target_of(func) {
        Some(target) => call_target_fuel(env, &handle, target, values, deadline, Some(fuel)),
        None => terms::error(env, (atoms::bad_func(), func).encode(env)),
    }
}

/// `wat_to_wasm(Text) -> {ok, Wasm} | {error, {invalid_module, Why}}`.
#[rustler::nif(schedule = "DirtyCpu")]
fn wat_to_wasm<'a>(env: Env<'a>, text: Binary<'a>) -> Term<'a> {
    match beamr_core::module::wat_to_wasm(text.as_slice()) {
        Ok(wasm) => {
            let mut out = rustler::NewBinary::new(env, wasm.len());
            out.as_mut_slice().copy_from_slice(&wasm);
            (atoms::ok(), Binary::from(out)).encode(env)
        }
        Err(e) => terms::core_error(env, &e),
    }
}

/// `set_max_nesting(Levels) -> ok`: the node's limit on calls nested inside imports.
#[rustler::nif]
fn set_max_nesting(levels: u32) -> rustler::Atom {
    beamr_core::limits::set_max_nesting(levels);
    atoms::ok()
}

/// `set_spectre_guard(On) -> ok`: the Spectre guard on heap accesses of modules
/// compiled from now on (see `beamr_core::engine::set_spectre_guard`).
#[rustler::nif]
fn set_spectre_guard(on: bool) -> rustler::Atom {
    beamr_core::engine::set_spectre_guard(on);
    atoms::ok()
}

/// `spectre_guard() -> boolean()`: the node's Spectre guard setting.
#[rustler::nif]
fn spectre_guard() -> bool {
    beamr_core::engine::spectre_guard()
}

/// `compilations() -> non_neg_integer()`: modules compiled so far (cache misses).
#[rustler::nif]
fn compilations() -> u64 {
    beamr_core::module::compilations()
}

/// Opens the instance handle's resource type (rustler opens the others).
fn load(env: Env, _info: Term) -> bool {
    handle::register(env)
}

rustler::init!("beamr_nif", load = load);
