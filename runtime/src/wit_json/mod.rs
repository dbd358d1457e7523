//! WIT values ↔ JSON, and the JSON Schemas that describe them.
//!
//! A component's exported function becomes an MCP tool: its parameters become the tool's
//! `inputSchema`, its result the `outputSchema`, and at call time the JSON `arguments` become
//! [`Val`]s and the returned [`Val`]s become `structuredContent`. This module owns that mapping
//! and nothing else: it never instantiates or calls a component.
//!
//! [`Val`]: wasmtime::component::Val
//!
//! The schema generator ([`type_schema`]) and the converters ([`json_to_val`], [`val_to_json`])
//! implement one encoding, and the tests prove that a JSON value is accepted by the schema
//! exactly when the converter accepts it. Schemas use JSON Schema draft 2020-12 (the MCP
//! default dialect) and carry no `$schema` keyword, to keep tool definitions short.
//!
//! # The encoding
//!
//! | WIT type | JSON | notes |
//! | --- | --- | --- |
//! | `bool` | `true` / `false` | |
//! | `u8`…`u64`, `s8`…`s64` | integer | schema carries the exact `minimum`/`maximum`; a number with a zero fraction (`3.0`) is an integer, as in JSON Schema; 64-bit values are exact here but lose precision above 2^53 in JavaScript clients |
//! | `f32`, `f64` | number, or `"NaN"`, `"Infinity"`, `"-Infinity"` | JSON has no non-finite numbers, so those three strings stand for them (NaN payloads are not kept); an `f32` accepts any number that rounds to a finite `f32` and is emitted in its shortest decimal form |
//! | `char` | string of exactly one Unicode scalar value | |
//! | `string` | string | |
//! | `list<T>` | array of `T` | `list<u8>` too: an array of integers 0..=255, no base64 |
//! | `list<T, N>` | array of exactly `N` `T`s | |
//! | `option<T>` | `null` for `none`, `T` for `some` | in a record field or as a parameter, `none` may also be omitted |
//! | `option<option<T>>` | `null` for `none`, `{"some": x}` for `some(x)` | used whenever `T` can itself be `null`, so `{"some": null}` is `some(none)` |
//! | `result<T, E>` | `{"ok": T}` or `{"err": E}` | a missing payload is `null`: `result` is `{"ok": null}` / `{"err": null}` |
//! | `tuple<A, B>` | array `[a, b]` of exactly that length | |
//! | `record` | object keyed by the kebab-case field names | non-`option` fields required, no other keys; `option` fields emitted as `null` when `none` |
//! | `variant` | `"case"` for a case without payload, `{"case": payload}` for one with | |
//! | `enum` | the case name as a string | |
//! | `flags` | array of distinct flag names | emitted in declaration order; any order accepted |
//! | `map<K, V>` | array of `[key, value]` pairs | keys of any type, so one shape for every map |
//! | `own<R>`, `borrow<R>`, `future`, `stream`, `error-context` | — | refused with [`SchemaError`] / [`ConvertError`]: a handle means nothing outside the store |
//!
//! A function's parameters form one object (`additionalProperties: false`, every non-`option`
//! parameter required). Its result is wrapped as `{"result": …}`, because MCP's
//! `outputSchema` must describe an object; a function without a result has no output schema.
//!
//! WIT type names (`record point`) do not survive into wasmtime's type information, so the
//! schemas carry structure only; descriptions come from the WIT docs, elsewhere.

mod convert;
mod schema;
#[cfg(test)]
mod tests;

use std::fmt;

pub use convert::{args_to_vals, json_size_at_least, json_to_val, results_to_json, val_to_json};
pub use schema::{function_input_schema, function_output_schema, type_schema};

/// A WIT type that has no JSON form, found while building a schema.
///
/// Displays as ``parameter `x`: resource types cannot be passed through JSON``, with the
/// position of the refused type added when it is nested inside the parameter
/// (``parameter `x` at $.x.items[]: …``).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{context}{}: {kind} cannot be passed through JSON", at(.path))]
pub struct SchemaError {
    /// What was being described: ``parameter `x` ``, `result`, or `type`.
    pub context: String,
    /// Where the refused type sits, as a JSON path into the arguments object (`$.x.items[]`),
    /// the output object (`$.result[0]`) or the type (`$[0]`); `None` when it is the whole
    /// parameter, result or type.
    pub path: Option<String>,
    /// The kind of type refused.
    pub kind: Unsupported,
}

fn at(path: &Option<String>) -> String {
    path.as_ref()
        .map(|path| format!(" at {path}"))
        .unwrap_or_default()
}

/// The WIT types that cannot cross the JSON boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsupported {
    /// `own<R>` / `borrow<R>`.
    Resource,
    /// `future<T>`.
    Future,
    /// `stream<T>`.
    Stream,
    /// `error-context`.
    ErrorContext,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unsupported::Resource => "resource types",
            Unsupported::Future => "future types",
            Unsupported::Stream => "stream types",
            Unsupported::ErrorContext => "error-context values",
        })
    }
}

/// A JSON value that does not fit its WIT type, or a WIT value with no JSON form.
///
/// Displays as `$.item.count: expected u8 (0..=255), got 300`: the JSON path of the offending
/// value, then what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConvertError {
    /// JSON path of the offending value, rooted at `$` (the arguments object or the result).
    pub path: String,
    /// What was expected and what was found.
    pub message: String,
}

/// A JSON path under construction, kept as a stack-allocated chain so that building it costs
/// nothing until an error needs it rendered.
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
    /// Every element of an array, as in a schema (`[]`).
    Items(&'a Path<'a>),
}

impl<'a> Path<'a> {
    pub(crate) fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }

    pub(crate) fn index(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }

    pub(crate) fn items(&'a self) -> Path<'a> {
        Path::Items(self)
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> ConvertError {
        ConvertError {
            path: self.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => f.write_str("$"),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
            Path::Items(parent) => write!(f, "{parent}[]"),
        }
    }
}
