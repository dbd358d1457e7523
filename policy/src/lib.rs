//! forage-policy: the decisions forage makes about components, and the types those decisions
//! are phrased in.
//!
//! This crate owns the vocabulary shared by every layer (a content [`Digest`], a
//! [`Capability`]) and the rules applied to it: which registries an operator allows, which
//! signatures a trust policy demands, and which capability grants are in force.
//!
//! It is not for I/O against registries, MCP or wasmtime: `indexer` finds and describes
//! components, `runtime` runs them, and `daemon` wires both to MCP. Nothing here knows those
//! exist, so the arrows point one way: `policy` ← `indexer` ← `daemon`.
#![deny(missing_docs)]

pub mod audit;
pub mod capability;
pub mod digest;
pub mod grants;
pub mod snapshot;
pub mod trust;

pub use capability::{Capability, CapabilityError, StorageAccess};
pub use digest::{Digest, DigestError};
