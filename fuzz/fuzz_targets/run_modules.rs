//! libFuzzer entry of the `run_modules` target: hands each input to `beamr_fuzz::run_modules::check`,
//! where the input's meaning and the invariant checked are documented.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    beamr_fuzz::run_modules::check(data);
});
