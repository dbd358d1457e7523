//! forage-runtime: runs WebAssembly components in wasmtime, one deny-by-default sandbox per
//! call.
//!
//! What it owns: the wasmtime [`Engine`](wasmtime::Engine) and its configuration (pooling
//! allocator, epoch interruption), the on-disk compiled-artifact cache, the WASI sandbox built
//! from the grants in force at call time, per-call limits (deadline, memory, output size), and
//! the WIT ↔ JSON mapping that turns component functions into MCP tool schemas.
//!
//! What it is not for: finding, verifying or describing components (that is `indexer` and
//! `policy`), nor speaking MCP (`daemon`). It takes bytes whose digest the caller already
//! verified, and a [`SandboxGrants`] the caller already decided.
#![deny(missing_docs)]

mod cache;
pub mod client;
mod clock;
mod engine;
mod output;
mod sandbox;
pub mod wit_names;
pub mod wit_json;

pub use engine::{
    CallError, CallOutcome, ExportedFunction, HttpTimeouts, LoadError, LoadStats, LoadedComponent,
    Runtime, RuntimeConfig, RuntimeError,
};
pub use client::{ClientLink, ContentBlock, ContentResult, InputError, InputKind, LogLevel, ResourceContents};
pub use sandbox::{HttpRule, Preopen, SandboxGrants};
pub use wit_names::wit_type_name;
