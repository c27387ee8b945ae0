//! The downloader's HTTP response handling, fed arbitrary bytes as what the server sent.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::check_http_response(data));
