//! Test modules (kept out of `tests/` top level so they link into one binary).

mod no_panic;
mod notary_vectors;
mod path_validation;
mod signer_cases;
