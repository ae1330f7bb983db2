//! The index's parsers and checks of a developer-signed project
//! transaction (the offered delegation, the signed role, the page) never
//! panic on arbitrary bytes, and what they accept is consistent.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_repo::fuzzing::project_transaction(data);
});
