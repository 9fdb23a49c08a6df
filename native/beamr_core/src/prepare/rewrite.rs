//! What the load-time rewrites (`legacy_eh`, `bulk_chunks`) share: they re-encode the
//! function bodies they change, copy every other section byte for byte, and check the
//! module they produce against the engine's features before wasmtime sees it, so a
//! rewrite's bug is reported as such rather than as the user's invalid module.

use std::ops::Range;
use wasmparser::{BinaryReaderError, Payload, Validator};

/// The bytes of `wasm` a parser range covers, if it lies within them.
pub(crate) fn bytes(wasm: &[u8], r: Range<u64>) -> Option<&[u8]> {
    wasm.get(usize::try_from(r.start).ok()?..usize::try_from(r.end).ok()?)
}

/// Copies the section `payload` opens, as it is, into `module`; payloads that open no
/// section (a function body, the end) add nothing. `None` if its range is not in `wasm`.
pub(crate) fn copy_section(
    module: &mut wasm_encoder::Module,
    wasm: &[u8],
    payload: &Payload,
) -> Option<()> {
    if let Some((id, r)) = payload.as_section() {
        let data = bytes(wasm, r)?;
        module.section(&wasm_encoder::RawSection { id, data });
    }
    Some(())
}

/// The finished module, validated against the engine's features.
pub(crate) fn finish_valid(module: wasm_encoder::Module) -> Result<Vec<u8>, BinaryReaderError> {
    let out = module.finish();
    Validator::new_with_features(crate::proposals::widest_features()).validate_all(&out)?;
    Ok(out)
}
