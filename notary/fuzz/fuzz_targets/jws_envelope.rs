//! JWS JSON envelope parser on arbitrary bytes: must return, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = forage_notary::parse_envelope(data, forage_notary::MEDIA_TYPE_JWS);
});
