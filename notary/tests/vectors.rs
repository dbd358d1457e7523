//! The one integration-test binary of forage-notary:
//!
//! * `notary_vectors`: the Notary Project reference vectors copied into `tests/data/notary`
//!   (real notation signatures). Every positive vector must verify, every negative must
//!   fail for the stated reason; vectors needing features not built (RFC 3161, plugins)
//!   are skipped by name with the reason, and counted as skipped.
//! * `signer_cases`: envelopes made at test time by `support::signer` covering bad inputs.
//! * `no_panic`: random, truncated and bit-flipped inputs through both parsers and the
//!   whole verifier.

mod cases;
mod support;
