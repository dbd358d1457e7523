//! No-panic property tests.
