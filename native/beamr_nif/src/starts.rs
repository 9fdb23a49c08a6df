//! Starting instances: from bytes (found in the cache on a normal scheduler when that
//! is quick), from a module handle with links and options, or from a precompiled
//! artifact; and starts that take longer than a slice.
//!
//! A start function runs a dirty slice at a time (see `beamr_core::Starting`): when a
//! slice ends first, the NIF returns `{starting, S}` and the caller continues with
//! [`start_continue`], queueing again for a dirty scheduler. A compilation too large
//! for a scheduler goes to a worker instead (`compile_jobs.rs`).

use crate::compile_jobs::module_or_job;
use crate::handle;
use crate::instance::InstanceResource;
use crate::module_resource::{module_of, module_of_handle, module_of_on, NoModule};
use crate::options::{engine_choice, start_options, variant_for, EngineChoice, Limit, Setting};
use crate::{atoms, errors, image_hash, terms};
use beamr_core::{disk_cache, Error, Instance, Link, Started, Starting};
use parking_lot::Mutex;
use rustler::{Binary, Encoder, Env, Resource, ResourceArc, Term};

/// `start(Bytes, Timeout) -> {ok, Instance} | {error, Reason} | {starting, S} |
/// {compiling, Ref, Job}`: compile (or reuse a compilation of the same bytes) and
/// instantiate with the default options.
#[rustler::nif(schedule = "DirtyCpu")]
fn start<'a>(env: Env<'a>, bytes: Binary<'a>, timeout: Term<'a>) -> Term<'a> {
    let Ok(deadline) = terms::deadline(timeout) else {
        return errors::bad_timeout(env, timeout);
    };
    match module_or_job(env, bytes, variant_for(EngineChoice::DEFAULT, None)) {
        Ok(module) => poll_start(
            env,
            Starting::new(module, Vec::new(), deadline, &Default::default()),
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
    let Ok(deadline) = terms::deadline(timeout) else {
        return errors::bad_timeout(env, timeout);
    };
    let variant = variant_for(EngineChoice::DEFAULT, None);
    let quick = image_hash::cheap_hash_of(&bytes)
        .and_then(|hash| beamr_core::module::cached_quick_for(&hash, variant));
    match quick {
        Some(module) => started(env, Instance::new(module, deadline)),
        None => atoms::not_cached().encode(env),
    }
}

/// `instantiate(Source, Timeout, [{Name, Source}], Options) -> {ok, Instance} |
/// {error, Reason} | {starting, S}`: `Source` is a module handle or bytes; the list
/// names the links (see `beamr_core::link`); `Options` is `{MaxMemory,
/// MaxTableElements, Engine}`, each limit an integer or `default` and `Engine` as
/// `options.rs` reads it.
#[rustler::nif(schedule = "DirtyCpu")]
fn instantiate<'a>(
    env: Env<'a>,
    source: Term<'a>,
    timeout: Term<'a>,
    links: Term<'a>,
    (max_memory, max_table_elements, engine): (Limit, Limit, Term<'a>),
) -> Term<'a> {
    let Ok(deadline) = terms::deadline(timeout) else {
        return errors::bad_timeout(env, timeout);
    };
    let Ok(pairs) = links.decode::<Vec<(Binary, Term)>>() else {
        return errors::bad_links(env, links);
    };
    let Some(choice) = engine_choice(engine) else {
        return errors::bad_engine(env, engine);
    };
    // A handle is compiled already; bytes are compiled below, for the options' engine.
    let compiled = module_of_handle(source);
    let variant = variant_for(choice, compiled.as_deref());
    let options = start_options(max_memory, max_table_elements, variant);
    let module = match compiled {
        Some(m) => m,
        None => match module_of(source, variant) {
            Ok(m) => m,
            Err(e) => return NoModule::encode(e, env, source),
        },
    };
    // Links share the module's store, so they are compiled for its very engine.
    let mut resolved = Vec::with_capacity(pairs.len());
    for (name, link) in pairs {
        let Ok(name) = std::str::from_utf8(name.as_slice()) else {
            return errors::bad_links(env, links);
        };
        match module_of_on(link, module.variant()) {
            Ok(module) => resolved.push(Link {
                name: name.to_string(),
                module,
            }),
            Err(e) => return e.encode(env, link),
        }
    }
    poll_start(env, Starting::new(module, resolved, deadline, &options))
}

/// `start_aot(Artifact, Timeout, {MaxMemory, MaxTableElements, Deterministic}) ->
/// {ok, Instance} | {error, Reason} | {starting, S}`: starts an instance from an
/// artifact of `precompile`, if every check passes. Limits as for [`instantiate`]; the
/// engine is the artifact's, so `Deterministic` (a boolean or `default`) is not used.
#[rustler::nif(schedule = "DirtyCpu")]
fn start_aot<'a>(
    env: Env<'a>,
    artifact: Binary<'a>,
    timeout: Term<'a>,
    (max_memory, max_table_elements, _deterministic): (Limit, Limit, Setting<bool>),
) -> Term<'a> {
    let Ok(deadline) = terms::deadline(timeout) else {
        return errors::bad_timeout(env, timeout);
    };
    let made = disk_cache::load_artifact(artifact.as_slice()).and_then(|m| {
        let options = start_options(max_memory, max_table_elements, m.variant());
        Starting::new(m, Vec::new(), deadline, &options)
    });
    poll_start(env, made)
}

/// A start between slices.
pub struct StartingResource(Mutex<Option<Starting>>);

#[rustler::resource_impl]
impl Resource for StartingResource {}

impl Drop for StartingResource {
    fn drop(&mut self) {
        if let Some(starting) = self.0.get_mut().take() {
            starting.discard();
        }
    }
}

/// Runs `starting` for a slice: `{ok, Instance}`, an error, or `{starting, S}`.
fn poll_start<'a>(env: Env<'a>, made: Result<Starting, Error>) -> Term<'a> {
    match made.map(Starting::poll) {
        Err(e) => errors::core_error(env, &e),
        Ok(Started::Ready(made)) => started(env, made),
        Ok(Started::Yield(s)) => {
            let resource = ResourceArc::new(StartingResource(Mutex::new(Some(s))));
            (atoms::starting(), resource).encode(env)
        }
    }
}

/// `start_continue(S) -> {ok, Instance} | {error, Reason} | {starting, S}`.
#[rustler::nif(schedule = "DirtyCpu")]
fn start_continue<'a>(env: Env<'a>, s: ResourceArc<StartingResource>) -> Term<'a> {
    let Some(starting) = s.0.lock().take() else {
        return terms::error(env, atoms::not_owner().encode(env));
    };
    match starting.poll() {
        Started::Ready(made) => started(env, made),
        Started::Yield(again) => {
            *s.0.lock() = Some(again);
            (atoms::starting(), s).encode(env)
        }
    }
}

/// `{ok, Instance}` for a new instance, or the error that kept it from starting.
fn started<'a>(env: Env<'a>, made: Result<Instance, Error>) -> Term<'a> {
    match made {
        Ok(i) => (atoms::ok(), handle::new_term(env, InstanceResource::new(i))).encode(env),
        Err(e) => errors::core_error(env, &e),
    }
}
