//! The embedded starter catalog: example components compiled into the binary, so
//! `forage serve` with no configuration already has something to search, load and call.
//!
//! They are the committed fixture builds (`fixtures/built/`), each with its binary-encoded
//! WIT package so their doc comments reach the tool descriptions. They are referenced as
//! `builtin:NAME`, and pinned by the digest of the embedded bytes.

/// One embedded component.
pub struct Entry {
    /// Short name (`clock`).
    pub name: &'static str,
    /// The component binary.
    pub component: &'static [u8],
    /// Its binary-encoded WIT package.
    pub wit: &'static [u8],
}

macro_rules! entry {
    ($name:literal) => {
        Entry {
            name: $name,
            component: include_bytes!(concat!("../../fixtures/built/", $name, ".wasm")),
            wit: include_bytes!(concat!("../../fixtures/built/", $name, ".wit.wasm")),
        }
    };
}

/// The catalog, in a stable order.
pub static ENTRIES: &[Entry] = &[
    entry!("clock"),
    entry!("json"),
    entry!("hash"),
    entry!("text"),
    entry!("http-fetch"),
    entry!("file-reader"),
];

/// The entry called `name`.
pub fn get(name: &str) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.name == name)
}

/// Every entry's name.
pub fn names() -> impl Iterator<Item = &'static str> {
    ENTRIES.iter().map(|e| e.name)
}
