//! Never built: see this crate's Cargo.toml. Enabling wasmtime's component model would
//! reach it, and beamr does not enable the component model.
compile_error!(
    "wasmtime-internal-wit-bindgen 48.0.11 is not on crates.io; this placeholder only lets \
     Cargo lock wasmtime 48.0.11 without the component model"
);
