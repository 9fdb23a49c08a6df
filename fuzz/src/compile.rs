//! Untrusted bytes given to `compile`: whatever they are (wasm, WAT, neither, a module
//! with a byte changed), compiling answers with a module or a compile error, never a
//! panic; and it never accepts wasm that does not validate with beamr's features
//! (legacy exceptions included), so no rewrite turns an invalid module into one
//! wasmtime runs.

use beamr_core::proposals::base_features as engine_features;
use beamr_core::{compile, Error};
use wasmparser::{Validator, WasmFeatures};

pub fn check(data: &[u8]) {
    match compile(data) {
        Ok(_) if data.starts_with(b"\0asm") => {
            Validator::new_with_features(engine_features() | WasmFeatures::LEGACY_EXCEPTIONS)
                .validate_all(data)
                .unwrap_or_else(|e| panic!("compiled a module that does not validate: {e}"));
        }
        Ok(_) | Err(Error::Compile(_)) | Err(Error::Instantiate(_)) => {}
        Err(e) => panic!("compile failed with {e:?}"),
    }
}

/// Modules to start from: generated ones, WAT text and the snapshot target's modules.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = super::snapshots::MODULES
        .iter()
        .map(|m| m.as_bytes().to_vec())
        .collect();
    out.extend(
        out.clone()
            .iter()
            .map(|m| wat::parse_bytes(m).unwrap().into_owned()),
    );
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..24 {
        let data: Vec<u8> = (0..2048)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let mut u = arbitrary::Unstructured::new(&data);
        if let Ok(wasm) = super::smith::module(&mut u, 4) {
            out.push(wasm);
        }
    }
    out
}
