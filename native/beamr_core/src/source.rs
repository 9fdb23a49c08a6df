//! A module's source as given: WAT text or wasm bytes ([`wat_to_wasm`]), and its
//! content hash ([`content_hash`]), which names the module in caches and snapshots.
//! Below everything that reads sources, so that `proposals.rs` can parse one too.

use crate::error::Error;
use sha2::{Digest, Sha256};

/// The binary encoding of a module given as WAT text; wasm bytes come back unchanged.
pub fn wat_to_wasm(text: &[u8]) -> Result<Vec<u8>, Error> {
    wat::parse_bytes(text)
        .map(|wasm| wasm.into_owned())
        .map_err(|e| Error::Compile(format!("{e}")))
}

/// The SHA-256 of a module's bytes as given: its cache key and its name in snapshots.
pub fn content_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}
