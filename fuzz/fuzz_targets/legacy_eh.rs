//! libFuzzer entry of the `legacy_eh` target: hands each input to `beamr_fuzz::legacy_eh::check`,
//! where the input's meaning and the invariant checked are documented.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    beamr_fuzz::legacy_eh::check(data);
});
