//! NIF entry points without rustler's per-call wrapper, for the calls on every hot path
//! (`beamr:call` and the import round trip).
//!
//! `#[rustler::nif]` collects each call's arguments into a heap vector and routes its
//! result through rustler's generic return machinery, on NIFs whose own work is
//! small and which run on every call and every import answer. [`raw_nif!`]
//! registers a function with the same `rustler::init!` table, takes the arguments as an
//! array on the stack, and keeps the guarantees that matter: a body answers an argument
//! that does not decode (with an error tuple, or `badarg` if it returns `Err(())`), and
//! a panic never crosses into the VM: it comes back as `{error, internal_error}`, the
//! answer these NIFs' callers already handle (the instance was settled as the panic
//! unwound).
//!
//! Registering goes through rustler's `#[doc(hidden)]` `codegen_runtime` (the
//! `inventory` collection `rustler::init!` reads) and its hidden `Nif` type: rustler
//! offers no public way to register a hand-written entry. That API may change in any
//! release, so the workspace pins rustler to one exact version (Cargo.toml); moving to
//! another means checking this file against its `codegen_runtime` and `nif.rs`.

use rustler::{Env, Term};

/// What a raw NIF body returns: a term, or `Err(())` for `badarg`.
pub type RawResult<'a> = Result<Term<'a>, ()>;

/// Registers `$body: fn(Env<'a>, [Term<'a>; $arity]) -> RawResult<'a>` as the NIF
/// `$name/$arity` on a normal scheduler.
macro_rules! raw_nif {
    ($name:literal, $arity:literal, $body:path) => {
        rustler::codegen_runtime::inventory::submit!(rustler::Nif {
            name: concat!($name, "\0").as_ptr() as *const rustler::codegen_runtime::c_char,
            arity: $arity,
            flags: rustler::SchedulerFlags::Normal as rustler::codegen_runtime::c_uint,
            raw_func: {
                unsafe extern "C" fn entry(
                    env: *mut rustler::sys::ErlNifEnv,
                    argc: rustler::codegen_runtime::c_int,
                    argv: *const rustler::sys::ErlNifTerm,
                ) -> rustler::sys::ErlNifTerm {
                    // SAFETY: the VM calls a NIF with its own live environment and
                    // `argc` (== $arity, checked by the VM's dispatch) terms at `argv`.
                    unsafe { $crate::raw_nif::run::<$arity>(env, argc, argv, $body) }
                }
                entry
            }
        });
    };
}
pub(crate) use raw_nif;

/// Runs a raw NIF body over the VM's arguments.
///
/// # Safety
/// `env` must be the environment of the running NIF call and `argv` must point at
/// `argc` terms of it.
#[inline(always)]
pub unsafe fn run<const N: usize>(
    env: *mut rustler::sys::ErlNifEnv,
    argc: rustler::codegen_runtime::c_int,
    argv: *const rustler::sys::ErlNifTerm,
    body: for<'a> fn(Env<'a>, [Term<'a>; N]) -> RawResult<'a>,
) -> rustler::sys::ErlNifTerm {
    let lifetime = ();
    // SAFETY: per this function's contract, `env` is live for the whole call.
    let env = unsafe { Env::new(&lifetime, env) };
    if usize::try_from(argc) != Ok(N) {
        // SAFETY: `env` is the live NIF environment.
        return unsafe { rustler::sys::enif_make_badarg(env.as_c_arg()) };
    }
    // SAFETY: `argv` holds `N` terms of `env` (checked just above).
    let args: [Term; N] = std::array::from_fn(|i| unsafe { Term::new(env, *argv.add(i)) });
    match std::panic::catch_unwind(|| body(env, args)) {
        Ok(Ok(term)) => term.as_c_arg(),
        // SAFETY: `env` is the live NIF environment.
        Ok(Err(())) => unsafe { rustler::sys::enif_make_badarg(env.as_c_arg()) },
        Err(_) => crate::terms::error(env, crate::atoms::internal_error().to_term(env)).as_c_arg(),
    }
}
