//! The load-time rewrites a module goes through before compilation, behind the one
//! [`prepare`] step the module loader calls on a cache miss: legacy exception handling
//! to the standard encoding (`legacy_eh`), bulk memory instructions in bounded chunks
//! (`bulk_chunks`), then the reserved exports through which snapshots reach an
//! instance's state (`reserved_exports`). `rewrite.rs` holds what they share.

pub mod bulk_chunks;
pub mod legacy_eh;
pub mod reserved_exports;
mod rewrite;

use crate::error::Error;

/// The load-time rewrites a module goes through before compilation, on the bytes
/// (WAT already parsed into wasm by the first of them): legacy exception handling to
/// the standard encoding, bulk memory instructions in bounded chunks, then the reserved
/// exports snapshots reach state through.
pub(crate) fn prepare(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let standard = legacy_eh::prepare(bytes)?;
    let bounded = bulk_chunks::bound(&standard)?;
    reserved_exports::add_reserved_exports(&bounded)
}
