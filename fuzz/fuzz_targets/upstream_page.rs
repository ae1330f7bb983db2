//! Reading another index's project page (HTML and JSON) never panics, and
//! every file kept has a valid hash, an http(s) URL and a filename of the
//! page's project, once.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    bulwark_pypi::fuzzing::upstream_page(data);
});
