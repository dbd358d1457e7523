//! Shared helpers for the single integration-test binary.

pub mod signer;
pub mod tsa;
