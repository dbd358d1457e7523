//! The words other languages use for WIT's built-in types, indexed in a field of
//! their own beside a function's signature.
//!
//! An agent describes a signature in the language it works in: "takes bytes, returns an int",
//! "Vec<u8> -> String", "(Float64Array) => number". WIT says `list<u8>`, `s32` and
//! `list<f64>`. The table maps each built-in type to the type the official binding
//! generators give it, and to the generic word for its kind:
//!
//! - Rust, `wit-bindgen`: `s32` → `i32`, `string` → `String`, `list<T>` → `Vec<T>`,
//!   `option<T>` → `Option<T>`;
//! - JavaScript and TypeScript, `jco`: numbers up to 32 bits → `number`, 64-bit integers →
//!   `bigint`, `bool` → `boolean`, `list<T>` → `Array`, and numeric lists → typed arrays
//!   (`list<u8>` → `Uint8Array`, `list<f64>` → `Float64Array`);
//! - Python, `componentize-py`: integers → `int`, floats → `float`, `string` and `char` →
//!   `str`, `list<u8>` → `bytes`, `option<T>` → `Optional`;
//! - Go, `wit-bindgen-go`: `s32` → `int32`, `u8` → `uint8`, `f64` → `float64`, `char` → `rune`,
//!   `list<u8>` → `[]byte`;
//! - the kind: `integer`, `float`, `character`, `boolean`.
//!
//! Words that mean something else in a request were left out: "signed" (an integer's sign, or
//! a signed token), "point" (of "floating point", or a place), "error" (of `result`), "text"
//! (of `string`). Rationale and measurements: docs/decisions/0010-binding-type-words.md.
//! Nothing here comes from a query.

/// Words for a built-in scalar type.
fn scalar(ty: &str) -> &'static [&'static str] {
    match ty {
        "bool" => &["boolean"],
        "s8" => &["i8", "int8", "int", "integer", "number"],
        "s16" => &["i16", "int16", "int", "integer", "number"],
        "s32" => &["i32", "int32", "int", "integer", "number"],
        "s64" => &["i64", "int64", "int", "integer", "bigint"],
        "u8" => &["uint8", "byte", "int", "integer", "number"],
        "u16" => &["uint16", "int", "integer", "number"],
        "u32" => &["uint32", "int", "integer", "number"],
        "u64" => &["uint64", "int", "integer", "bigint"],
        "f32" => &["float32", "float", "number"],
        "f64" => &["float64", "float", "double", "number"],
        "char" => &["rune", "character", "str"],
        "string" => &["str"],
        _ => &[],
    }
}

/// Words for `list<elem>`: a typed array where `jco` makes one, else a generic list.
fn list(elem: &str) -> &'static [&'static str] {
    match elem {
        "u8" => &["Uint8Array", "bytes", "byte", "Vec"],
        "s8" => &["Int8Array", "Vec", "array"],
        "u16" => &["Uint16Array", "Vec", "array"],
        "s16" => &["Int16Array", "Vec", "array"],
        "u32" => &["Uint32Array", "Vec", "array"],
        "s32" => &["Int32Array", "Vec", "array"],
        "u64" => &["BigUint64Array", "Vec", "array"],
        "s64" => &["BigInt64Array", "Vec", "array"],
        "f32" => &["Float32Array", "Vec", "array"],
        "f64" => &["Float64Array", "Vec", "array"],
        _ => &["Vec", "array"],
    }
}

/// The binding words for every built-in type named in `types` (WIT type expressions such as
/// `list<option<u8>>` or `result<string, my-error>`), each word once, space-separated.
pub(crate) fn words<'a>(types: impl IntoIterator<Item = &'a str>) -> String {
    let mut out: Vec<&'static str> = Vec::new();
    let mut add = |ws: &'static [&'static str]| {
        for w in ws {
            if !out.contains(w) {
                out.push(w);
            }
        }
    };
    for ty in types {
        // Identifiers of the expression, in order; `list` applies to the one that follows.
        let idents: Vec<&str> =
            ty.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).filter(|s| !s.is_empty()).collect();
        let mut i = 0;
        while i < idents.len() {
            match idents[i] {
                "list" => {
                    let elem = idents.get(i + 1).copied().unwrap_or("");
                    add(list(elem));
                    // Bytes are data, not numbers: `list<u8>` is not an "integer" parameter.
                    if elem == "u8" {
                        i += 1;
                    }
                }
                "option" => add(&["Option", "Optional"]),
                other => add(scalar(other)),
            }
            i += 1;
        }
    }
    out.join(" ")
}

/// The result type of a signature text `name: func(a: t, b: u) -> r`, if it has one. (The
/// parameters' types are in [`SearchDoc::params`](super::SearchDoc::params); no WIT type
/// contains a parenthesis, so the first `) -> ` closes the parameter list.)
pub(crate) fn result_type(signature: &str) -> Option<&str> {
    signature.split_once(") -> ").map(|(_, r)| r.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_type_is_what_follows_the_parameters() {
        assert_eq!(
            result_type("f: func(data: list<u8>, list: string, m: tuple<string, u32>) -> result<u32, string>"),
            Some("result<u32, string>")
        );
        assert_eq!(result_type("now: func() -> u64"), Some("u64"));
        assert_eq!(result_type("log: func(line: string)"), None);
        assert_eq!(result_type("no signature"), None);
    }

    #[test]
    fn words_follow_the_bindings() {
        assert_eq!(words(["list<u8>"]), "Uint8Array bytes byte Vec");
        assert_eq!(words(["list<u8>", "u8"]), "Uint8Array bytes byte Vec uint8 int integer number");
        assert_eq!(words(["string", "string"]), "str");
        assert_eq!(words(["option<list<f64>>"]), "Option Optional Float64Array Vec array float64 float double number");
        assert_eq!(words(["my-record", "result<_, my-error>"]), "");
    }
}
