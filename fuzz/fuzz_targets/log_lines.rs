#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| qfix::fuzz::run("log_lines", data));
