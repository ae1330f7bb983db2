//! Untrusted bytes offered at every step of the client workflow never panic
//! and never change the trusted set when refused.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_tuf::fuzzing::offer_to_trusted_set(data);
});
