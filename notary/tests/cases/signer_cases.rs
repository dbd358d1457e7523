//! Bad-input cases signed at test time.
