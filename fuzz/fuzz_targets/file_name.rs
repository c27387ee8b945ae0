//! URL → file name: whatever the URL holds, the file lands directly inside the output
//! directory under a plain, non-empty name.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::check_file_name(data));
