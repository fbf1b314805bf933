#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shrike_fuzzing::run(shrike_fuzzing::Target::Zeek, data);
});
