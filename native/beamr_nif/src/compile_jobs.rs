//! Compilations too large for a scheduler, handed to a compile worker.
//!
//! A module past `compile_pool::INLINE_BYTES` that is not cached is compiled on a
//! compile worker, never on a scheduler: the NIF returns `{compiling, Ref, Job}` and
//! the worker sends `{beamr_compiled, Ref, {ok, Module} | {error, Reason}}` to the
//! caller, who waits in `receive` with its timeout and calls [`cancel_compile`] when it
//! stops waiting. A job cancelled (or whose caller dropped it) before it begins is
//! skipped, and its answer is never sent after a cancel returns.

use crate::module_resource::ModuleResource;
use crate::{atoms, errors, terms};
use beamr_core::compile_pool::{self, Refused};
use beamr_core::module::{compile_missed, lookup_hashed};
use beamr_core::{CompiledModule, Error, Variant};
use parking_lot::Mutex;
use rustler::{Binary, Encoder, Env, LocalPid, OwnedEnv, Resource, ResourceArc, Term};
use std::sync::Arc;

/// A compilation handed to a worker; the caller's side of it.
pub struct CompileJob {
    /// Set when the caller stops waiting; checked and answered under the same lock.
    cancelled: Arc<Mutex<bool>>,
}

#[rustler::resource_impl]
impl Resource for CompileJob {}

impl Drop for CompileJob {
    fn drop(&mut self) {
        *self.cancelled.lock() = true;
    }
}

/// The compiled module for `bytes`: from the cache, compiled here when small, or
/// `Err(term)` with `{compiling, Ref, Job}` (or an error) when a worker must compile it.
pub fn module_or_job<'a>(
    env: Env<'a>,
    bytes: Binary<'a>,
    variant: Variant,
) -> Result<Arc<CompiledModule>, Term<'a>> {
    let hash = crate::image_hash::hash_of(&bytes);
    let variant = beamr_core::engine::choose(bytes.as_slice(), variant);
    if let Some(found) = lookup_hashed(&(variant, hash)) {
        return Ok(found);
    }
    if bytes.len() <= compile_pool::INLINE_BYTES {
        return compile_missed(bytes.as_slice(), hash, variant)
            .map_err(|e| errors::core_error(env, &e));
    }
    Err(submit(env, bytes, hash, variant))
}

fn submit<'a>(env: Env<'a>, bytes: Binary<'a>, hash: [u8; 32], variant: Variant) -> Term<'a> {
    let cancelled = Arc::new(Mutex::new(false));
    let job = ResourceArc::new(CompileJob {
        cancelled: cancelled.clone(),
    });
    let pid: LocalPid = env.pid();
    let tag = env.make_ref();
    // The binary is kept alive, not copied, by an environment of the job's own, which
    // also carries the answer.
    let mut owned = OwnedEnv::new();
    let saved = owned.save(bytes);
    let saved_tag = owned.save(tag);
    let submitted = compile_pool::submit(move || {
        if *cancelled.lock() {
            return;
        }
        let compiled = owned.run(|env| {
            let bytes: Binary = (saved.load(env).decode())
                .map_err(|_| Error::InvalidState("compile job without its bytes"))?;
            compile_missed(bytes.as_slice(), hash, variant)
        });
        let done = cancelled.lock();
        if !*done {
            let _ = owned.send_and_clear(&pid, |env| {
                let result = match compiled {
                    Ok(module) => {
                        (atoms::ok(), ResourceArc::new(ModuleResource::new(module))).encode(env)
                    }
                    Err(e) => errors::core_error(env, &e),
                };
                (atoms::beamr_compiled(), saved_tag.load(env), result).encode(env)
            });
        }
    });
    match submitted {
        Ok(()) => (atoms::compiling(), tag, job).encode(env),
        Err(Refused::Full) => terms::error(env, atoms::compile_queue_full().encode(env)),
        Err(Refused::NoWorkers) => terms::error(env, atoms::internal_error().encode(env)),
    }
}

/// `cancel_compile(Job) -> ok`: the caller stops waiting; no answer is sent after this.
#[rustler::nif]
fn cancel_compile(job: ResourceArc<CompileJob>) -> rustler::Atom {
    *job.cancelled.lock() = true;
    atoms::ok()
}
