//! Running one operation of a NIF on an instance: taking it for the caller (see
//! `instance.rs`), running the operation, giving it back, and answering `busy` or an
//! error tuple when the caller may not have it now.

use crate::instance::{Access, Entered, Handle, InstanceResource};
use crate::{atoms, errors, terms};
use beamr_core::{Error, Instance};
use rustler::{Encoder, Env, Term};

/// Runs `op` on the instance with `access`, then settles ownership and wakes waiters.
/// A panic in `op` settles them too, as it unwinds to the NIF's entry, which turns it
/// into an error: `{error, internal_error}` from the hot NIFs (see `raw_nif.rs`), an
/// exception from rustler's. (A `catch_unwind` here as well would cost the hot path.)
pub fn with_instance<'a>(
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

/// Runs a store operation (memory, items, snapshots); when a call is executing rather
/// than parked, the caller is queued and gets `busy`.
pub fn with_store<'a>(
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
                Err(e) => errors::core_error(env, &e),
            }
        }
        Err(reason) => refused(env, reason),
    }
}
