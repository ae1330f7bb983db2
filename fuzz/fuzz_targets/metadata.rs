//! Metadata parsing for every role type never panics, and whatever parses
//! re-serialises to a document that parses to the same canonical bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_tuf::fuzzing::parse_metadata(data);
});
