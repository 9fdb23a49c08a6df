//! libFuzzer entry of the `snapshots` target: hands each input to `beamr_fuzz::snapshots::check`,
//! where the input's meaning and the invariant checked are documented.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    beamr_fuzz::snapshots::check(data);
});
