#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| forage_fuzz::search_queries(data));
