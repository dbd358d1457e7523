//! JSON Schemas for WIT types, in the encoding described in the module docs.

use serde_json::{Map, Value, json};
use wasmtime::component::{Type, types::ComponentFunc};

use super::{Path, SchemaError, Unsupported};

/// The smallest magnitude that no longer rounds to a finite `f32`: 2^128 − 2^103, halfway
/// between `f32::MAX` and 2^128 (ties round to even, i.e. to infinity). Exactly an `f64`.
pub(crate) const F32_LIMIT: f64 = 340_282_356_779_733_661_637_539_395_458_142_568_448.0;

/// The strings that stand for the non-finite floats.
pub(crate) const NAN: &str = "NaN";
pub(crate) const INFINITY: &str = "Infinity";
pub(crate) const NEG_INFINITY: &str = "-Infinity";

/// The `inputSchema` of a tool made from `func`: an object with one property per WIT parameter
/// (named as in WIT), every non-`option` parameter required, no other properties.
///
/// Fails when a parameter's type has no JSON form (resources, futures, streams,
/// error-context); the error names the parameter.
pub fn function_input_schema(func: &ComponentFunc) -> Result<Value, SchemaError> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, ty) in func.params() {
        let root = Path::Root;
        let path = root.key(name);
        let schema = schema(&ty, &path).map_err(|(at, kind)| SchemaError {
            context: format!("parameter `{name}`"),
            path: nested(at, &path),
            kind,
        })?;
        if !matches!(ty, Type::Option(_)) {
            required.push(Value::from(name));
        }
        properties.insert(name.to_owned(), schema);
    }
    Ok(object_schema(properties, required))
}

/// The `outputSchema` of a tool made from `func`: `{"result": <schema of the result>}`, since
/// MCP requires an object there. `None` when the function returns nothing.
///
/// (Current component-model functions have at most one result; should there be several,
/// `result` is an array of them, as for a tuple.)
pub fn function_output_schema(func: &ComponentFunc) -> Result<Option<Value>, SchemaError> {
    let results: Vec<Type> = func.results().collect();
    let root = Path::Root;
    let path = root.key("result");
    let error = |(at, kind)| SchemaError {
        context: "result".to_owned(),
        path: nested(at, &path),
        kind,
    };
    let result = match results.as_slice() {
        [] => return Ok(None),
        [ty] => schema(ty, &path).map_err(error)?,
        many => tuple_schema(many, &path).map_err(error)?,
    };
    let mut properties = Map::new();
    properties.insert("result".to_owned(), result);
    Ok(Some(object_schema(properties, vec![Value::from("result")])))
}

/// The JSON Schema of one WIT type.
pub fn type_schema(ty: &Type) -> Result<Value, SchemaError> {
    schema(ty, &Path::Root).map_err(|(at, kind)| SchemaError {
        context: "type".to_owned(),
        path: nested(at, &Path::Root),
        kind,
    })
}

/// `at`, unless it is `whole` itself.
fn nested(at: String, whole: &Path<'_>) -> Option<String> {
    (at != whole.to_string()).then_some(at)
}

type Refusal = (String, Unsupported);

fn schema(ty: &Type, path: &Path<'_>) -> Result<Value, Refusal> {
    Ok(match ty {
        Type::Bool => json!({"type": "boolean"}),
        Type::U8 => int(u8::MIN, u8::MAX),
        Type::U16 => int(u16::MIN, u16::MAX),
        Type::U32 => int(u32::MIN, u32::MAX),
        Type::U64 => int(u64::MIN, u64::MAX),
        Type::S8 => int(i8::MIN, i8::MAX),
        Type::S16 => int(i16::MIN, i16::MAX),
        Type::S32 => int(i32::MIN, i32::MAX),
        Type::S64 => int(i64::MIN, i64::MAX),
        Type::Float32 => float(json!({
            "type": "number",
            "exclusiveMinimum": -F32_LIMIT,
            "exclusiveMaximum": F32_LIMIT,
        })),
        Type::Float64 => float(json!({"type": "number"})),
        Type::Char => json!({"type": "string", "minLength": 1, "maxLength": 1}),
        Type::String => json!({"type": "string"}),
        Type::List(list) => {
            json!({"type": "array", "items": schema(&list.ty(), &path.items())?})
        }
        Type::FixedLengthList(list) => json!({
            "type": "array",
            "items": schema(&list.ty(), &path.items())?,
            "minItems": list.len(),
            "maxItems": list.len(),
        }),
        Type::Map(map) => {
            let items = path.items();
            let pair = json!({
                "type": "array",
                "prefixItems": [
                    schema(&map.key(), &items.index(0))?,
                    schema(&map.value(), &items.index(1))?,
                ],
                "minItems": 2,
                "maxItems": 2,
            });
            json!({"type": "array", "items": pair})
        }
        Type::Option(option) => {
            let inner = option.ty();
            let some = if matches!(inner, Type::Option(_)) {
                // `T` can itself be null, so `some` gets a wrapper to stay distinguishable.
                single_key("some", schema(&inner, &path.key("some"))?)
            } else {
                schema(&inner, path)?
            };
            json!({"anyOf": [some, {"type": "null"}]})
        }
        Type::Result(result) => {
            let payload = |ty: Option<Type>, key| match ty {
                Some(ty) => schema(&ty, &path.key(key)),
                None => Ok(json!({"type": "null"})),
            };
            json!({"oneOf": [
                single_key("ok", payload(result.ok(), "ok")?),
                single_key("err", payload(result.err(), "err")?),
            ]})
        }
        Type::Tuple(tuple) => tuple_schema(&tuple.types().collect::<Vec<_>>(), path)?,
        Type::Record(record) => {
            let mut properties = Map::new();
            let mut required = Vec::new();
            for field in record.fields() {
                properties.insert(
                    field.name.to_owned(),
                    schema(&field.ty, &path.key(field.name))?,
                );
                if !matches!(field.ty, Type::Option(_)) {
                    required.push(Value::from(field.name));
                }
            }
            object_schema(properties, required)
        }
        Type::Variant(variant) => {
            let mut bare = Vec::new();
            let mut alternatives = Vec::new();
            for case in variant.cases() {
                match case.ty {
                    None => bare.push(Value::from(case.name)),
                    Some(ty) => {
                        alternatives.push(single_key(case.name, schema(&ty, &path.key(case.name))?))
                    }
                }
            }
            if !bare.is_empty() {
                alternatives.insert(0, json!({"type": "string", "enum": bare}));
            }
            match alternatives.len() {
                1 => alternatives.pop().expect("one alternative"),
                _ => json!({"oneOf": alternatives}),
            }
        }
        Type::Enum(en) => json!({"type": "string", "enum": en.names().collect::<Vec<_>>()}),
        Type::Flags(flags) => json!({
            "type": "array",
            "items": {"type": "string", "enum": flags.names().collect::<Vec<_>>()},
            "uniqueItems": true,
        }),
        Type::Own(_) | Type::Borrow(_) => return Err((path.to_string(), Unsupported::Resource)),
        Type::Future(_) => return Err((path.to_string(), Unsupported::Future)),
        Type::Stream(_) => return Err((path.to_string(), Unsupported::Stream)),
        Type::ErrorContext => return Err((path.to_string(), Unsupported::ErrorContext)),
    })
}

fn int<T: Into<Value>>(min: T, max: T) -> Value {
    json!({"type": "integer", "minimum": min.into(), "maximum": max.into()})
}

fn float(number: Value) -> Value {
    json!({"anyOf": [number, {"enum": [NAN, INFINITY, NEG_INFINITY]}]})
}

fn tuple_schema(types: &[Type], path: &Path<'_>) -> Result<Value, Refusal> {
    let len = types.len();
    let items = types
        .iter()
        .enumerate()
        .map(|(i, ty)| schema(ty, &path.index(i)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({"type": "array", "prefixItems": items, "minItems": len, "maxItems": len}))
}

/// `{key: value}` and nothing else.
fn single_key(key: &str, value: Value) -> Value {
    json!({
        "type": "object",
        "properties": {key: value},
        "required": [key],
        "additionalProperties": false,
    })
}

fn object_schema(properties: Map<String, Value>, required: Vec<Value>) -> Value {
    let mut schema = Map::new();
    schema.insert("type".to_owned(), json!("object"));
    schema.insert("properties".to_owned(), Value::Object(properties));
    if !required.is_empty() {
        schema.insert("required".to_owned(), Value::Array(required));
    }
    schema.insert("additionalProperties".to_owned(), json!(false));
    Value::Object(schema)
}
