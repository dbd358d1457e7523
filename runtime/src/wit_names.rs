//! WIT-syntax renderings of wasmtime component types, for signatures shown to people and
//! models. wasmtime's types are structural (a record has fields, not a name), so named types
//! print as their structure, abbreviated below a nesting depth to stay short.

use wasmtime::component::types::Type;

/// `list<option<u8>>`, `record { x: s32, y: s32 }`, … in WIT syntax.
pub fn wit_type_name(t: &Type) -> String {
    render(t, 0)
}

fn render(t: &Type, depth: usize) -> String {
    let r = |t: &Type| render(t, depth + 1);
    let deep = depth >= 2;
    match t {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(l) => format!("list<{}>", r(&l.ty())),
        Type::FixedLengthList(_) => "list<_, N>".into(),
        Type::Map(_) => "map".into(),
        Type::Option(o) => format!("option<{}>", r(&o.ty())),
        Type::Result(res) => match (res.ok(), res.err()) {
            (None, None) => "result".into(),
            (Some(o), None) => format!("result<{}>", r(&o)),
            (None, Some(e)) => format!("result<_, {}>", r(&e)),
            (Some(o), Some(e)) => format!("result<{}, {}>", r(&o), r(&e)),
        },
        Type::Tuple(tu) => format!("tuple<{}>", tu.types().map(|t| r(&t)).collect::<Vec<_>>().join(", ")),
        Type::Record(rec) if deep => format!("record {{ {} fields }}", rec.fields().len()),
        Type::Record(rec) => format!(
            "record {{ {} }}",
            rec.fields().map(|f| format!("{}: {}", f.name, r(&f.ty))).collect::<Vec<_>>().join(", ")
        ),
        Type::Variant(v) if deep => format!("variant {{ {} cases }}", v.cases().len()),
        Type::Variant(v) => format!(
            "variant {{ {} }}",
            v.cases()
                .map(|c| match &c.ty {
                    Some(t) => format!("{}({})", c.name, r(t)),
                    None => c.name.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Type::Enum(e) => format!("enum {{ {} }}", e.names().collect::<Vec<_>>().join(", ")),
        Type::Flags(f) => format!("flags {{ {} }}", f.names().collect::<Vec<_>>().join(", ")),
        Type::Own(_) => "own<resource>".into(),
        Type::Borrow(_) => "borrow<resource>".into(),
        Type::Future(_) => "future".into(),
        Type::Stream(_) => "stream".into(),
        Type::ErrorContext => "error-context".into(),
    }
}
