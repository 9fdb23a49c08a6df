//! Snapshots of an instance's whole state (`beamr_core::snapshot`): taking one into a
//! new binary and restoring one. Both run on dirty schedulers: their cost grows with
//! the instance's memory.

use crate::access::with_store;
use crate::atoms;
use crate::instance::Handle;
use rustler::{Binary, Encoder, Env, NewBinary, Term};

/// A NIF binary as the snapshot writer's output buffer, so the snapshot is written
/// once, straight into the term returned.
struct Out<'a>(NewBinary<'a>);

impl AsMut<[u8]> for Out<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        self.0.as_mut_slice()
    }
}

/// `serialize(Instance) -> {ok, Snapshot} | {error, _} | busy`.
#[rustler::nif(schedule = "DirtyCpu")]
fn serialize<'a>(env: Env<'a>, handle: Handle) -> Term<'a> {
    with_store(env, &handle, |core| {
        let out = core.serialize_into(|n| Out(NewBinary::new(env, n)))?;
        let bin: Binary = out.0.into();
        Ok((atoms::ok(), bin).encode(env))
    })
}

/// `deserialize(Instance, Snapshot) -> ok | {error, _} | busy`.
#[rustler::nif(schedule = "DirtyCpu")]
fn deserialize<'a>(env: Env<'a>, handle: Handle, bytes: Binary<'a>) -> Term<'a> {
    with_store(env, &handle, |core| {
        core.deserialize(bytes.as_slice())
            .map(|()| atoms::ok().encode(env))
    })
}
