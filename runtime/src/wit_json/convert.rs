//! JSON ↔ [`Val`] conversion, in the encoding described in the module docs.
//!
//! Every check here has its counterpart in `schema.rs`; a rule added on one side must be added
//! on the other (the tests compare them value by value).

use serde_json::{Map, Number, Value};
use wasmtime::component::{Type, Val, types::ComponentFunc};

use super::schema::{F32_LIMIT, INFINITY, NAN, NEG_INFINITY};
use super::{ConvertError, Path, Unsupported};

/// Converts the `arguments` object of a tool call into the parameters of `func`, in order.
///
/// A missing `option` parameter is `none`; a missing other parameter, or a key that names no
/// parameter, is an error at `$`.
pub fn args_to_vals(
    args: &Map<String, Value>,
    func: &ComponentFunc,
) -> Result<Vec<Val>, ConvertError> {
    let root = Path::Root;
    if let Some(unknown) = args
        .keys()
        .find(|key| !func.params().any(|(name, _)| name == key.as_str()))
    {
        return Err(root.error(format!("unknown parameter `{unknown}`")));
    }
    func.params()
        .map(|(name, ty)| match args.get(name) {
            Some(value) => to_val(value, &ty, &root.key(name)),
            None if matches!(ty, Type::Option(_)) => Ok(Val::Option(None)),
            None => Err(root.error(format!("missing parameter `{name}`"))),
        })
        .collect()
}

/// Converts one JSON value into a [`Val`] of type `ty`; errors carry the JSON path from `$`.
pub fn json_to_val(value: &Value, ty: &Type) -> Result<Val, ConvertError> {
    to_val(value, ty, &Path::Root)
}

/// Converts a [`Val`] into JSON. The inverse of [`json_to_val`]: the encoding never needs the
/// type, since a `Val` says which case it is.
///
/// Fails on resources, futures, streams and error-contexts, which have no JSON form.
pub fn val_to_json(val: &Val) -> Result<Value, ConvertError> {
    to_json(val, &Path::Root)
}

/// Converts the results of a call to `func` into its `structuredContent`:
/// `{"result": …}`, or `{}` when the function returns nothing (it then has no output schema).
/// Paths in errors start at `$.result`.
pub fn results_to_json(vals: &[Val], func: &ComponentFunc) -> Result<Value, ConvertError> {
    let root = Path::Root;
    let expected = func.results().len();
    if vals.len() != expected {
        return Err(root.error(format!("expected {expected} results, got {}", vals.len())));
    }
    let path = root.key("result");
    let mut object = Map::new();
    match vals {
        [] => {}
        [val] => {
            object.insert("result".to_owned(), to_json(val, &path)?);
        }
        many => {
            let items = many
                .iter()
                .enumerate()
                .map(|(i, val)| to_json(val, &path.index(i)))
                .collect::<Result<_, _>>()?;
            object.insert("result".to_owned(), Value::Array(items));
        }
    }
    Ok(Value::Object(object))
}

/// A lower bound on the size of the JSON that [`results_to_json`] would build from `vals`,
/// counted without building it, and abandoned as soon as it passes `limit` (so a list of
/// millions of items is not walked to the end).
///
/// Why: the output cap must hold while a result is converted, not after. A guest returning a
/// 256 MiB string would otherwise be copied into a JSON value and serialised again (three
/// copies) before the cap refused it. Every JSON value is at least this long (escaping only
/// lengthens strings), so a result refused here is one that could never fit; one that passes is
/// converted with at most a small constant factor more than the cap.
pub fn json_size_at_least(vals: &[Val], limit: usize) -> usize {
    let mut size = 0usize;
    for val in vals {
        if !add_size(val, &mut size, limit) {
            break;
        }
    }
    size
}

/// Adds a lower bound of `val`'s JSON length to `size`; false once `size` passed `limit`.
fn add_size(val: &Val, size: &mut usize, limit: usize) -> bool {
    let items = |vals: &mut dyn Iterator<Item = &Val>, size: &mut usize| -> bool {
        *size += 2; // brackets
        for (i, v) in vals.enumerate() {
            *size += usize::from(i > 0); // comma
            if !add_size(v, size, limit) {
                return false;
            }
        }
        true
    };
    match val {
        Val::Bool(_) => *size += 4,
        Val::U8(_) | Val::U16(_) | Val::U32(_) | Val::U64(_) | Val::S8(_) | Val::S16(_) | Val::S32(_) | Val::S64(_) => *size += 1,
        Val::Float32(_) | Val::Float64(_) => *size += 1,
        Val::Char(_) => *size += 3,
        Val::String(s) => *size += s.len() + 2,
        Val::List(v) | Val::FixedLengthList(v) | Val::Tuple(v) => {
            if !items(&mut v.iter(), size) {
                return false;
            }
        }
        Val::Map(entries) => {
            *size += 2;
            for (i, (k, v)) in entries.iter().enumerate() {
                *size += usize::from(i > 0) + 3;
                if !add_size(k, size, limit) || !add_size(v, size, limit) {
                    return false;
                }
            }
        }
        Val::Record(fields) => {
            *size += 2;
            for (i, (name, v)) in fields.iter().enumerate() {
                *size += usize::from(i > 0) + name.len() + 3;
                if !add_size(v, size, limit) {
                    return false;
                }
            }
        }
        Val::Variant(name, None) | Val::Enum(name) => *size += name.len() + 2,
        Val::Variant(name, Some(payload)) => {
            *size += name.len() + 5;
            if !add_size(payload, size, limit) {
                return false;
            }
        }
        Val::Option(None) => *size += 4,
        Val::Option(Some(inner)) => {
            if !add_size(inner, size, limit) {
                return false;
            }
        }
        Val::Result(r) => {
            *size += 7;
            match r {
                Ok(Some(p)) | Err(Some(p)) => {
                    if !add_size(p, size, limit) {
                        return false;
                    }
                }
                Ok(None) | Err(None) => *size += 4,
            }
        }
        Val::Flags(names) => {
            *size += 2 + names.iter().map(|n| n.len() + 3).sum::<usize>();
        }
        Val::Resource(_) | Val::Future(_) | Val::Stream(_) | Val::ErrorContext(_) => *size += 1,
    }
    *size <= limit
}

fn to_val(value: &Value, ty: &Type, path: &Path<'_>) -> Result<Val, ConvertError> {
    Ok(match ty {
        Type::Bool => match value {
            Value::Bool(b) => Val::Bool(*b),
            other => return Err(mismatch(path, "bool", other)),
        },
        Type::U8 => Val::U8(int(value, path, "u8", u8::MIN, u8::MAX)?),
        Type::U16 => Val::U16(int(value, path, "u16", u16::MIN, u16::MAX)?),
        Type::U32 => Val::U32(int(value, path, "u32", u32::MIN, u32::MAX)?),
        Type::U64 => Val::U64(int(value, path, "u64", u64::MIN, u64::MAX)?),
        Type::S8 => Val::S8(int(value, path, "s8", i8::MIN, i8::MAX)?),
        Type::S16 => Val::S16(int(value, path, "s16", i16::MIN, i16::MAX)?),
        Type::S32 => Val::S32(int(value, path, "s32", i32::MIN, i32::MAX)?),
        Type::S64 => Val::S64(int(value, path, "s64", i64::MIN, i64::MAX)?),
        Type::Float64 => Val::Float64(float(value, path, "f64")?),
        Type::Float32 => {
            let wide = float(value, path, "f32")?;
            let narrow = wide as f32;
            if wide.is_finite() && !narrow.is_finite() {
                return Err(path.error(format!(
                    "expected f32 (magnitude below {}), got {}",
                    Value::from(F32_LIMIT),
                    shown(value)
                )));
            }
            Val::Float32(narrow)
        }
        Type::Char => {
            let s = string(value, path, "char (a string of one character)")?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Val::Char(c),
                _ => {
                    return Err(path.error(format!(
                        "expected char (a string of one character), got {}",
                        shown(value)
                    )));
                }
            }
        }
        Type::String => Val::String(string(value, path, "string")?.to_owned()),
        Type::List(list) => {
            let element = list.ty();
            Val::List(elements(array(value, path, "list")?, &element, path)?)
        }
        Type::FixedLengthList(list) => {
            let len = list.len() as usize;
            let items = array(value, path, "list")?;
            if items.len() != len {
                return Err(path.error(format!(
                    "expected an array of {len} elements, got {} elements",
                    items.len()
                )));
            }
            Val::FixedLengthList(elements(items, &list.ty(), path)?)
        }
        Type::Map(map) => {
            let (key_ty, value_ty) = (map.key(), map.value());
            let pairs = array(value, path, "map (an array of [key, value] pairs)")?;
            let mut entries = Vec::with_capacity(pairs.len());
            for (i, pair) in pairs.iter().enumerate() {
                let at = path.index(i);
                match pair {
                    Value::Array(kv) if kv.len() == 2 => entries.push((
                        to_val(&kv[0], &key_ty, &at.index(0))?,
                        to_val(&kv[1], &value_ty, &at.index(1))?,
                    )),
                    other => return Err(mismatch(&at, "a [key, value] pair", other)),
                }
            }
            Val::Map(entries)
        }
        Type::Option(option) => {
            let inner = option.ty();
            if value.is_null() {
                Val::Option(None)
            } else if matches!(inner, Type::Option(_)) {
                let payload = single_key(value, path, &["some"], "{\"some\": …} or null")?.1;
                Val::Option(Some(Box::new(to_val(payload, &inner, &path.key("some"))?)))
            } else {
                Val::Option(Some(Box::new(to_val(value, &inner, path)?)))
            }
        }
        Type::Result(result) => {
            let (key, payload) =
                single_key(value, path, &["ok", "err"], "{\"ok\": …} or {\"err\": …}")?;
            let ty = if key == "ok" {
                result.ok()
            } else {
                result.err()
            };
            let payload = match ty {
                Some(ty) => Some(Box::new(to_val(payload, &ty, &path.key(key))?)),
                None if payload.is_null() => None,
                None => return Err(mismatch(&path.key(key), "null", payload)),
            };
            Val::Result(if key == "ok" {
                Ok(payload)
            } else {
                Err(payload)
            })
        }
        Type::Tuple(tuple) => {
            let types: Vec<Type> = tuple.types().collect();
            let what = format!("tuple (an array of {} elements)", types.len());
            let items = array(value, path, &what)?;
            if items.len() != types.len() {
                return Err(path.error(format!(
                    "expected an array of {} elements, got {} elements",
                    types.len(),
                    items.len()
                )));
            }
            let vals = items
                .iter()
                .zip(&types)
                .enumerate()
                .map(|(i, (item, ty))| to_val(item, ty, &path.index(i)))
                .collect::<Result<_, _>>()?;
            Val::Tuple(vals)
        }
        Type::Record(record) => {
            let object = match value {
                Value::Object(object) => object,
                other => return Err(mismatch(path, "record (an object)", other)),
            };
            if let Some(unknown) = object
                .keys()
                .find(|key| !record.fields().any(|field| field.name == key.as_str()))
            {
                return Err(path.error(format!("unknown field `{unknown}`")));
            }
            // Wasmtime wants the fields in declaration order, whatever order the JSON had.
            let mut fields = Vec::with_capacity(record.fields().len());
            for field in record.fields() {
                let val = match object.get(field.name) {
                    Some(v) => to_val(v, &field.ty, &path.key(field.name))?,
                    None if matches!(field.ty, Type::Option(_)) => Val::Option(None),
                    None => return Err(path.error(format!("missing field `{}`", field.name))),
                };
                fields.push((field.name.to_owned(), val));
            }
            Val::Record(fields)
        }
        Type::Variant(variant) => {
            let cases: Vec<(String, Option<Type>)> = variant
                .cases()
                .map(|case| (case.name.to_owned(), case.ty))
                .collect();
            let expected = || {
                let shapes: Vec<String> = cases
                    .iter()
                    .map(|(name, ty)| match ty {
                        None => format!("\"{name}\""),
                        Some(_) => format!("{{\"{name}\": …}}"),
                    })
                    .collect();
                format!("one of {}", shapes.join(", "))
            };
            match value {
                Value::String(name) => match cases.iter().find(|(case, _)| case == name) {
                    Some((_, None)) => Val::Variant(name.clone(), None),
                    Some((_, Some(_))) => {
                        return Err(path.error(format!(
                            "case `{name}` has a payload: expected {{\"{name}\": …}}, got \"{name}\""
                        )));
                    }
                    None => {
                        return Err(path.error(format!(
                            "expected {}, got {}",
                            expected(),
                            shown(value)
                        )));
                    }
                },
                Value::Object(object) if object.len() == 1 => {
                    let (name, payload) = object.iter().next().expect("one entry");
                    match cases.iter().find(|(case, _)| case == name) {
                        Some((_, Some(ty))) => {
                            let val = to_val(payload, ty, &path.key(name))?;
                            Val::Variant(name.clone(), Some(Box::new(val)))
                        }
                        Some((_, None)) => {
                            return Err(path.error(format!(
                                "case `{name}` has no payload: expected \"{name}\", got {}",
                                shown(value)
                            )));
                        }
                        None => {
                            return Err(path.error(format!(
                                "expected {}, got {}",
                                expected(),
                                shown(value)
                            )));
                        }
                    }
                }
                other => {
                    return Err(path.error(format!(
                        "expected {}, got {}",
                        expected(),
                        shown(other)
                    )));
                }
            }
        }
        Type::Enum(en) => match value {
            Value::String(name) if en.names().any(|case| case == name) => Val::Enum(name.clone()),
            other => {
                return Err(path.error(format!(
                    "expected {}, got {}",
                    one_of(en.names()),
                    shown(other)
                )));
            }
        },
        Type::Flags(flags) => {
            let items = array(value, path, "flags (an array of flag names)")?;
            let mut set = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let at = path.index(i);
                match item {
                    Value::String(name) if flags.names().any(|flag| flag == name) => {
                        if set.contains(&name.as_str()) {
                            return Err(at.error(format!("duplicate flag \"{name}\"")));
                        }
                        set.push(name.as_str());
                    }
                    other => {
                        return Err(at.error(format!(
                            "expected {}, got {}",
                            one_of(flags.names()),
                            shown(other)
                        )));
                    }
                }
            }
            // Declaration order, so that the same set always reads back the same.
            Val::Flags(
                flags
                    .names()
                    .filter(|flag| set.contains(flag))
                    .map(str::to_owned)
                    .collect(),
            )
        }
        Type::Own(_) | Type::Borrow(_) => return Err(unsupported(path, Unsupported::Resource)),
        Type::Future(_) => return Err(unsupported(path, Unsupported::Future)),
        Type::Stream(_) => return Err(unsupported(path, Unsupported::Stream)),
        Type::ErrorContext => return Err(unsupported(path, Unsupported::ErrorContext)),
    })
}

fn to_json(val: &Val, path: &Path<'_>) -> Result<Value, ConvertError> {
    Ok(match val {
        Val::Bool(b) => Value::Bool(*b),
        Val::U8(n) => Value::from(*n),
        Val::U16(n) => Value::from(*n),
        Val::U32(n) => Value::from(*n),
        Val::U64(n) => Value::from(*n),
        Val::S8(n) => Value::from(*n),
        Val::S16(n) => Value::from(*n),
        Val::S32(n) => Value::from(*n),
        Val::S64(n) => Value::from(*n),
        Val::Float32(f) => match Number::from_f64(f32_to_f64(*f)) {
            Some(n) => Value::Number(n),
            None => non_finite(f64::from(*f)),
        },
        Val::Float64(f) => match Number::from_f64(*f) {
            Some(n) => Value::Number(n),
            None => non_finite(*f),
        },
        Val::Char(c) => Value::String(c.to_string()),
        Val::String(s) => Value::String(s.clone()),
        Val::List(items) | Val::FixedLengthList(items) | Val::Tuple(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| to_json(item, &path.index(i)))
                .collect::<Result<_, _>>()?,
        ),
        Val::Map(entries) => Value::Array(
            entries
                .iter()
                .enumerate()
                .map(|(i, (k, v))| {
                    let at = path.index(i);
                    Ok(Value::Array(vec![
                        to_json(k, &at.index(0))?,
                        to_json(v, &at.index(1))?,
                    ]))
                })
                .collect::<Result<_, _>>()?,
        ),
        Val::Record(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, val)| Ok((name.clone(), to_json(val, &path.key(name))?)))
                .collect::<Result<_, _>>()?,
        ),
        Val::Variant(name, None) | Val::Enum(name) => Value::String(name.clone()),
        Val::Variant(name, Some(payload)) => keyed(name, to_json(payload, &path.key(name))?),
        Val::Option(None) => Value::Null,
        Val::Option(Some(inner)) => match **inner {
            Val::Option(_) => keyed("some", to_json(inner, &path.key("some"))?),
            _ => to_json(inner, path)?,
        },
        Val::Result(result) => {
            let (key, payload) = match result {
                Ok(payload) => ("ok", payload),
                Err(payload) => ("err", payload),
            };
            let payload = match payload {
                Some(payload) => to_json(payload, &path.key(key))?,
                None => Value::Null,
            };
            keyed(key, payload)
        }
        Val::Flags(names) => Value::Array(names.iter().cloned().map(Value::String).collect()),
        Val::Resource(_) => return Err(unsupported(path, Unsupported::Resource)),
        Val::Future(_) => return Err(unsupported(path, Unsupported::Future)),
        Val::Stream(_) => return Err(unsupported(path, Unsupported::Stream)),
        Val::ErrorContext(_) => return Err(unsupported(path, Unsupported::ErrorContext)),
    })
}

/// An `f32` as the `f64` of its shortest decimal form (`0.1`, not `0.10000000149011612`), so
/// a value that came in as `0.1` goes out as `0.1`.
fn f32_to_f64(f: f32) -> f64 {
    if !f.is_finite() {
        return f64::from(f);
    }
    f.to_string()
        .parse()
        .expect("Display of a finite f32 is a valid f64")
}

fn non_finite(f: f64) -> Value {
    Value::from(if f.is_nan() {
        NAN
    } else if f > 0.0 {
        INFINITY
    } else {
        NEG_INFINITY
    })
}

fn keyed(key: &str, value: Value) -> Value {
    let mut object = Map::new();
    object.insert(key.to_owned(), value);
    Value::Object(object)
}

/// An integer within `min..=max`. A number with a zero fraction counts, as in JSON Schema.
fn int<T>(value: &Value, path: &Path<'_>, name: &str, min: T, max: T) -> Result<T, ConvertError>
where
    T: Copy + Into<i128> + TryFrom<i128> + std::fmt::Display,
{
    let expected = || format!("expected {name} ({min}..={max})");
    let Value::Number(n) = value else {
        return Err(path.error(format!("{}, got {}", expected(), type_name(value))));
    };
    let wide: Option<i128> = if let Some(u) = n.as_u64() {
        Some(u.into())
    } else if let Some(i) = n.as_i64() {
        Some(i.into())
    } else {
        // Saturating cast: anything beyond i128 is out of range for every WIT integer anyway.
        n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i128)
    };
    wide.filter(|w| (min.into()..=max.into()).contains(w))
        .and_then(|w| T::try_from(w).ok())
        .ok_or_else(|| path.error(format!("{}, got {n}", expected())))
}

fn float(value: &Value, path: &Path<'_>, name: &str) -> Result<f64, ConvertError> {
    match value {
        Value::Number(n) => Ok(n
            .as_f64()
            .expect("serde_json numbers are f64-representable")),
        Value::String(s) if s == NAN => Ok(f64::NAN),
        Value::String(s) if s == INFINITY => Ok(f64::INFINITY),
        Value::String(s) if s == NEG_INFINITY => Ok(f64::NEG_INFINITY),
        other => Err(path.error(format!(
            "expected {name} (a number, \"{NAN}\", \"{INFINITY}\" or \"{NEG_INFINITY}\"), got {}",
            match other {
                Value::String(_) => shown(other),
                _ => type_name(other).to_owned(),
            }
        ))),
    }
}

fn string<'v>(value: &'v Value, path: &Path<'_>, what: &str) -> Result<&'v str, ConvertError> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(mismatch(path, what, other)),
    }
}

fn array<'v>(value: &'v Value, path: &Path<'_>, what: &str) -> Result<&'v [Value], ConvertError> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(mismatch(path, what, other)),
    }
}

fn elements(items: &[Value], ty: &Type, path: &Path<'_>) -> Result<Vec<Val>, ConvertError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| to_val(item, ty, &path.index(i)))
        .collect()
}

/// An object with exactly one key, which must be one of `keys`.
fn single_key<'v>(
    value: &'v Value,
    path: &Path<'_>,
    keys: &[&'static str],
    what: &str,
) -> Result<(&'static str, &'v Value), ConvertError> {
    if let Value::Object(object) = value
        && let Some((key, payload)) = object.iter().next()
        && object.len() == 1
        && let Some(key) = keys.iter().copied().find(|k| *k == key.as_str())
    {
        return Ok((key, payload));
    }
    Err(path.error(format!("expected {what}, got {}", shown(value))))
}

fn one_of<'n>(names: impl Iterator<Item = &'n str>) -> String {
    let names: Vec<String> = names.map(|n| format!("\"{n}\"")).collect();
    format!("one of {}", names.join(", "))
}

fn mismatch(path: &Path<'_>, expected: &str, got: &Value) -> ConvertError {
    path.error(format!("expected {expected}, got {}", type_name(got)))
}

fn unsupported(path: &Path<'_>, kind: Unsupported) -> ConvertError {
    path.error(format!("{kind} cannot be passed through JSON"))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A scalar as written; an array or object by its kind, since it may be long. Long strings
/// are cut, so that an error stays one readable line.
fn shown(value: &Value) -> String {
    const MAX: usize = 40;
    match value {
        Value::String(s) if s.chars().count() > MAX => {
            let cut: String = s.chars().take(MAX).collect();
            format!("{}…", Value::String(cut))
        }
        Value::Array(_) | Value::Object(_) => type_name(value).to_owned(),
        scalar => scalar.to_string(),
    }
}
