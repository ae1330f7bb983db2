//! Strict JSON parsing and canonical encoding: never panics, and canonical
//! output parses back to the same value and re-encodes to the same bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_tuf::fuzzing::canonical_round_trip(data);
});
