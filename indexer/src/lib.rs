//! forage-indexer: finds and describes WebAssembly components.
//!
//! It parses what a user types into a [`reference::ComponentRef`], fetches and verifies
//! component bytes from OCI registries, image-layout directories and `.wasm` files
//! ([`fetch`]), and describes what it finds. It never runs component code: that is
//! `forage-runtime`'s job, and wiring to MCP is `forage`'s (the daemon).
#![deny(missing_docs)]

pub mod crawl;
pub mod describe;
pub mod fetch;
pub mod published;
pub mod reference;
pub mod search;
pub mod signatures;
pub mod snapshot;
