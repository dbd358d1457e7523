#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| forage_fuzz::json_to_component_values(data));
