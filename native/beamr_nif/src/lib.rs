//! beamr's NIF: thin functions over `beamr_core`, a file per resource or concern.
//!
//! Each NIF decodes its terms, takes the instance through `instance.rs` (which
//! serializes callers without blocking), runs one step of the core, and encodes the
//! outcome. Short steps run on normal schedulers; compilation and calls that outlived
//! their time slice continue on dirty CPU schedulers. The Erlang module `beamr` drives
//! the protocol: see its documentation for the shapes.

mod access;
mod atoms;
mod caches;
mod calls;
mod compile_jobs;
mod errors;
mod handle;
mod image_hash;
mod instance;
mod items;
mod memory;
mod module_resource;
mod modules;
mod node_limits;
mod options;
mod raw_nif;
mod snapshots;
mod starts;
mod terms;

/// Opens the instance handle's resource type (rustler opens the others).
fn load(env: rustler::Env, _info: rustler::Term) -> bool {
    handle::register(env)
}

rustler::init!("beamr_nif", load = load);
