//! Trust policy parser (JSON with comments) on arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(doc) = forage_notary::TrustPolicyDocument::from_json(text) {
            let _ = doc.statement_for("registry.example/repo");
        }
    }
});
