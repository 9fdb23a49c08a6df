#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    beamr_fuzz::snapshots::check(data);
});
