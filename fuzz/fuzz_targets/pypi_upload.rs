//! Every parser of untrusted upload bytes in bulwark-pypi (filenames, core
//! metadata, wheel and sdist archives, JSON project pages) never panics,
//! and pages that parse render back to bytes that parse to the same page.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_pypi::fuzzing::pypi_upload(data);
});
