//! The schema and the converter must agree: every JSON value the schema accepts converts, every
//! value it rejects fails to convert, and what converts comes back as the same JSON.
//!
//! Types come from components written inline in WAT (the type of an imported function, so no
//! core code is needed); schemas are checked with the `jsonschema` crate, draft 2020-12.
//! Each family has hand-picked samples (with the exact error text for the invalid ones) and a
//! seeded random walk over values near the type, valid and not, that checks the agreement.

use std::sync::LazyLock;

use serde_json::{Value, json};
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, Type, Val};
use wasmtime::{Config, Engine};

use super::schema::F32_LIMIT;
use super::*;

static ENGINE: LazyLock<Engine> = LazyLock::new(|| {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Gated type constructors, so that their encodings are tested too.
    config.wasm_component_model_map(true);
    config.wasm_component_model_fixed_length_lists(true);
    Engine::new(&config).expect("engine")
});

/// The type of the function `f` with signature `sig` that a component declaring `decls`
/// imports. (Wasmtime refuses a component that re-exports an imported function, and lifting a
/// real export needs core code whose signature follows the canonical ABI; an import has the
/// same `ComponentFunc` type as an export.)
fn func(decls: &str, sig: &str) -> ComponentFunc {
    let wat = format!(
        r#"(component
             {decls}
             (import "f" (func $f {sig})))"#
    );
    let component = Component::new(&ENGINE, &wat).unwrap_or_else(|e| panic!("{wat}\n{e:?}"));
    let component_type = component.component_type();
    let export = component_type.get_import(&ENGINE, "f").expect("import f");
    match export.ty {
        ComponentItem::ComponentFunc(f) => f,
        other => panic!("f is not a function: {other:?}"),
    }
}

/// The WIT type `ty` (in WAT syntax, after `decls`), as seen through a parameter and a result.
fn ty(decls: &str, ty: &str) -> Type {
    let f = func(decls, &format!(r#"(param "v" {ty}) (result {ty})"#));
    let param = f.params().next().expect("one param").1;
    let result = f.results().next().expect("one result");
    assert_eq!(param, result);
    param
}

/// A nominal type (record, variant, enum, flags) must be named by an import to appear in a
/// function's signature; this declares `def` under the name `$t`.
fn named(def: &str) -> Type {
    ty(
        &format!(r#"(type $t' {def}) (import "t" (type $t (eq $t')))"#),
        "$t",
    )
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::draft202012::meta::validate(schema)
        .unwrap_or_else(|e| panic!("not a draft 2020-12 schema: {e}\n{schema:#}"));
    jsonschema::draft202012::new(schema).unwrap_or_else(|e| panic!("{e}\n{schema:#}"))
}

/// Valid samples (as JSON text) round-trip to themselves; invalid ones (JSON text, exact error
/// text) are refused by both the schema and the converter.
fn check(ty: &Type, valid: &[&str], invalid: &[(&str, &str)]) {
    let schema = type_schema(ty).expect("schema");
    let validator = validator(&schema);
    for text in valid {
        let json: Value = serde_json::from_str(text).expect(text);
        assert!(
            validator.is_valid(&json),
            "schema refused {text}\n{schema:#}"
        );
        let val = json_to_val(&json, ty).unwrap_or_else(|e| panic!("{text}: {e}"));
        let back = val_to_json(&val).expect("to json");
        assert_eq!(back, json, "round trip of {text} via {val:?}");
    }
    for (text, message) in invalid {
        let json: Value = serde_json::from_str(text).expect(text);
        assert!(
            !validator.is_valid(&json),
            "schema accepted {text}\n{schema:#}"
        );
        let err = json_to_val(&json, ty).expect_err(text);
        assert_eq!(err.to_string(), *message, "converting {text}");
    }
    agree(ty, &validator, 500, 15);
}

/// Non-canonical input: accepted by both, and read back in canonical form.
fn canonical(ty: &Type, input: &str, output: &str) {
    let validator = validator(&type_schema(ty).expect("schema"));
    let json: Value = serde_json::from_str(input).unwrap();
    assert!(validator.is_valid(&json), "schema refused {input}");
    let back = val_to_json(&json_to_val(&json, ty).expect(input)).unwrap();
    assert_eq!(
        back,
        serde_json::from_str::<Value>(output).unwrap(),
        "{input}"
    );
}

// ---------------------------------------------------------------------------------------------
// The random walk.

struct Rng {
    state: u64,
    /// How often, in percent, a choice is made to break the encoding.
    off: u64,
}

impl Rng {
    fn new(seed: u64, off: u64) -> Rng {
        Rng { state: seed, off }
    }

    fn next(&mut self) -> u64 {
        // xorshift64*
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// Whether to break the encoding at this choice.
    fn off(&mut self) -> bool {
        let off = self.off;
        self.chance(off)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// A JSON value of a random shape, mostly unrelated to any type.
fn noise(rng: &mut Rng) -> Value {
    parse(rng.pick::<&str>(&[
        "null",
        "true",
        "false",
        "0",
        "-1",
        "1",
        "2.5",
        "-0.0",
        "3.0",
        "256",
        "1e300",
        "\"\"",
        "\"a\"",
        "\"ok\"",
        "\"NaN\"",
        "[]",
        "[1]",
        "[\"a\", \"a\"]",
        "{}",
        "{\"ok\": null}",
        "{\"some\": 1}",
        "{\"a\": 1, \"b\": 2}",
    ]))
}

fn int_sample(rng: &mut Rng, min: i128, max: i128) -> Value {
    let span = (max - min) as u128;
    let inside = min + (u128::from(rng.next()) % (span + 1)) as i128;
    if rng.off() {
        return match rng.below(3) {
            0 => parse(&(min - 1).to_string()),
            1 => parse(&(max + 1).to_string()),
            _ => json!(inside as f64 + 0.5),
        };
    }
    let n = *rng.pick(&[min, max, 0, inside, inside]);
    if rng.chance(20) {
        // A number with a zero fraction is an integer to JSON Schema too.
        json!(n as f64)
    } else {
        parse(&n.to_string())
    }
}

fn float_sample(rng: &mut Rng) -> Value {
    if rng.off() {
        // A NaN or infinite f64 becomes null.
        return json!(*rng.pick(&["nan", "inf", "", "1.5"]));
    }
    match rng.below(4) {
        0 => json!(f64::from_bits(rng.next())),
        1 => json!(f64::from(f32::from_bits(rng.next() as u32))),
        2 => json!(rng.pick(&["NaN", "Infinity", "-Infinity"])),
        _ => json!(*rng.pick(&[
            0.0,
            -0.0,
            1.5,
            -2.25,
            f64::from(f32::MAX),
            f64::from(f32::MIN),
            F32_LIMIT,
            -F32_LIMIT,
            F32_LIMIT * (1.0 - f64::EPSILON),
            1e39,
            f64::MAX,
            f64::MIN_POSITIVE,
            1e-46,
        ])),
    }
}

fn string_sample(rng: &mut Rng) -> String {
    let len = rng.below(4);
    (0..len)
        .map(|_| *rng.pick(&['a', 'Z', ' ', 'é', '😀', '\0', '"', '\u{10FFFF}']))
        .collect()
}

/// A JSON value near the encoding of `ty`: usually well formed, sometimes slightly off.
fn near(ty: &Type, rng: &mut Rng) -> Value {
    if rng.off() && rng.chance(30) {
        return noise(rng);
    }
    match ty {
        Type::Bool | Type::String if rng.off() => noise(rng),
        Type::Bool => json!(rng.chance(50)),
        Type::U8 => int_sample(rng, 0, u8::MAX.into()),
        Type::U16 => int_sample(rng, 0, u16::MAX.into()),
        Type::U32 => int_sample(rng, 0, u32::MAX.into()),
        Type::U64 => int_sample(rng, 0, u64::MAX.into()),
        Type::S8 => int_sample(rng, i8::MIN.into(), i8::MAX.into()),
        Type::S16 => int_sample(rng, i16::MIN.into(), i16::MAX.into()),
        Type::S32 => int_sample(rng, i32::MIN.into(), i32::MAX.into()),
        Type::S64 => int_sample(rng, i64::MIN.into(), i64::MAX.into()),
        Type::Float32 | Type::Float64 => float_sample(rng),
        Type::Char => {
            let s = string_sample(rng);
            json!(if rng.off() {
                s
            } else {
                s.chars().take(1).chain(['x']).take(1).collect()
            })
        }
        Type::String => json!(string_sample(rng)),
        Type::List(list) => {
            let element = list.ty();
            (0..rng.below(4)).map(|_| near(&element, rng)).collect()
        }
        Type::FixedLengthList(list) => {
            let element = list.ty();
            let len = list.len() as usize;
            let len = if rng.off() { len + 1 } else { len };
            (0..len).map(|_| near(&element, rng)).collect()
        }
        Type::Map(map) => {
            let (k, v) = (map.key(), map.value());
            (0..rng.below(3))
                .map(|_| {
                    if rng.off() {
                        json!([near(&k, rng)])
                    } else {
                        json!([near(&k, rng), near(&v, rng)])
                    }
                })
                .collect()
        }
        Type::Option(option) => {
            let inner = option.ty();
            if rng.chance(30) {
                Value::Null
            } else if matches!(inner, Type::Option(_)) && !rng.off() {
                json!({"some": near(&inner, rng)})
            } else {
                near(&inner, rng)
            }
        }
        Type::Result(result) => {
            let (key, payload) = if rng.chance(50) {
                ("ok", result.ok())
            } else {
                ("err", result.err())
            };
            let payload = match payload {
                Some(ty) => near(&ty, rng),
                None if rng.off() => noise(rng),
                None => Value::Null,
            };
            match (rng.off(), rng.below(2)) {
                (true, 0) => json!({"ok": payload.clone(), "err": payload}),
                (true, _) => json!({"value": payload}),
                (false, _) => json!({key: payload}),
            }
        }
        Type::Tuple(tuple) => {
            let mut items: Vec<Value> = tuple.types().map(|t| near(&t, rng)).collect();
            match (rng.off(), rng.below(2)) {
                (true, 0) => drop(items.pop()),
                (true, _) => items.push(json!(1)),
                (false, _) => {}
            }
            Value::Array(items)
        }
        Type::Record(record) => {
            let mut object = serde_json::Map::new();
            for field in record.fields() {
                let optional = matches!(field.ty, Type::Option(_));
                let omit = if optional {
                    rng.chance(40)
                } else {
                    rng.off() && rng.chance(30)
                };
                if !omit {
                    object.insert(field.name.to_owned(), near(&field.ty, rng));
                }
            }
            if rng.off() && rng.chance(30) {
                object.insert("extra".to_owned(), json!(1));
            }
            Value::Object(object)
        }
        Type::Variant(variant) => {
            let cases: Vec<_> = variant.cases().map(|c| (c.name.to_owned(), c.ty)).collect();
            let (name, payload) = rng.pick(&cases);
            match (payload, rng.off(), rng.below(3)) {
                (_, true, 0) => json!("no-such-case"),
                (None, true, _) => json!({name.as_str(): null}),
                (None, false, _) => json!(name),
                (Some(_), true, _) => json!(name),
                (Some(ty), false, _) => json!({name.as_str(): near(ty, rng)}),
            }
        }
        Type::Enum(en) => {
            let names: Vec<&str> = en.names().collect();
            if rng.off() {
                json!("purple")
            } else {
                json!(rng.pick(&names))
            }
        }
        Type::Flags(flags) => {
            let names: Vec<&str> = flags.names().collect();
            let mut set: Vec<Value> = names
                .iter()
                .filter(|_| rng.chance(50))
                .map(|n| json!(n))
                .collect();
            set.reverse();
            match (rng.off(), rng.below(2)) {
                (true, 0) => set.push(json!(rng.pick(&names))),
                (true, _) => set.push(json!("purple")),
                (false, _) => {}
            }
            Value::Array(set)
        }
        Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
            json!(0)
        }
    }
}

/// For `rounds` values near `ty`: the schema accepts exactly what the converter accepts, and
/// what converts comes back as JSON that converts to the same value and is canonical (a second
/// round trip changes nothing).
/// `off` is how often (in percent) each choice breaks the encoding.
fn agree(ty: &Type, validator: &jsonschema::Validator, rounds: usize, off: u64) {
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15, off);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..rounds {
        let json = near(ty, &mut rng);
        let schema_ok = validator.is_valid(&json);
        let converted = json_to_val(&json, ty);
        assert_eq!(
            schema_ok,
            converted.is_ok(),
            "schema and converter disagree on {json} (converter: {converted:?})"
        );
        let Ok(val) = converted else {
            refused += 1;
            continue;
        };
        accepted += 1;
        let back = val_to_json(&val).expect("to json");
        assert!(
            validator.is_valid(&back),
            "schema refused converter output {back}"
        );
        let again = json_to_val(&back, ty).expect("output converts");
        assert_eq!(again, val, "{json} -> {back}");
        assert_eq!(
            val_to_json(&again).unwrap(),
            back,
            "{back} is not canonical"
        );
    }
    // Both sides of the agreement must be exercised.
    assert!(
        accepted * 5 >= rounds,
        "only {accepted} of {rounds} samples were valid"
    );
    assert!(
        refused * 20 >= rounds,
        "only {refused} of {rounds} samples were invalid"
    );
}

// ---------------------------------------------------------------------------------------------
// One test per family.

#[test]
fn bool_values() {
    check(
        &ty("", "bool"),
        &["true", "false"],
        &[
            ("1", "$: expected bool, got number"),
            ("\"true\"", "$: expected bool, got string"),
        ],
    );
}

#[test]
fn unsigned_integers_at_their_bounds() {
    check(
        &ty("", "u8"),
        &["0", "255", "7"],
        &[
            ("256", "$: expected u8 (0..=255), got 256"),
            ("-1", "$: expected u8 (0..=255), got -1"),
            ("2.5", "$: expected u8 (0..=255), got 2.5"),
            ("\"3\"", "$: expected u8 (0..=255), got string"),
            ("null", "$: expected u8 (0..=255), got null"),
        ],
    );
    check(
        &ty("", "u16"),
        &["0", "65535"],
        &[("65536", "$: expected u16 (0..=65535), got 65536")],
    );
    check(
        &ty("", "u32"),
        &["0", "4294967295"],
        &[(
            "4294967296",
            "$: expected u32 (0..=4294967295), got 4294967296",
        )],
    );
    check(
        &ty("", "u64"),
        &["0", "18446744073709551615", "9007199254740993"],
        &[
            (
                "18446744073709551616",
                "$: expected u64 (0..=18446744073709551615), got 1.8446744073709552e+19",
            ),
            ("-1", "$: expected u64 (0..=18446744073709551615), got -1"),
        ],
    );
}

#[test]
fn signed_integers_at_their_bounds() {
    check(
        &ty("", "s8"),
        &["-128", "127", "0"],
        &[
            ("128", "$: expected s8 (-128..=127), got 128"),
            ("-129", "$: expected s8 (-128..=127), got -129"),
        ],
    );
    check(
        &ty("", "s16"),
        &["-32768", "32767"],
        &[("-32769", "$: expected s16 (-32768..=32767), got -32769")],
    );
    check(
        &ty("", "s32"),
        &["-2147483648", "2147483647"],
        &[(
            "2147483648",
            "$: expected s32 (-2147483648..=2147483647), got 2147483648",
        )],
    );
    check(
        &ty("", "s64"),
        &["-9223372036854775808", "9223372036854775807"],
        &[(
            "9223372036854775808",
            "$: expected s64 (-9223372036854775808..=9223372036854775807), got 9223372036854775808",
        )],
    );
}

#[test]
fn integral_floats_are_integers() {
    let u8_ty = ty("", "u8");
    canonical(&u8_ty, "3.0", "3");
    canonical(&u8_ty, "2.55e2", "255");
    canonical(&u8_ty, "-0.0", "0");
    let schema = validator(&type_schema(&u8_ty).unwrap());
    assert!(!schema.is_valid(&json!(255.5)));
    assert!(json_to_val(&json!(255.5), &u8_ty).is_err());
}

#[test]
fn floats_with_nan_and_infinities() {
    let f64_ty = ty("", "f64");
    check(
        &f64_ty,
        &[
            "0.0",
            "-0.0",
            "1.5",
            "1e300",
            "-2.5e-300",
            "\"NaN\"",
            "\"Infinity\"",
            "\"-Infinity\"",
        ],
        &[
            (
                "\"nan\"",
                r#"$: expected f64 (a number, "NaN", "Infinity" or "-Infinity"), got "nan""#,
            ),
            (
                "true",
                r#"$: expected f64 (a number, "NaN", "Infinity" or "-Infinity"), got boolean"#,
            ),
            (
                "null",
                r#"$: expected f64 (a number, "NaN", "Infinity" or "-Infinity"), got null"#,
            ),
        ],
    );
    assert!(matches!(json_to_val(&json!("NaN"), &f64_ty), Ok(Val::Float64(f)) if f.is_nan()));
    canonical(&f64_ty, "3", "3.0");

    let f32_ty = ty("", "f32");
    check(
        &f32_ty,
        &[
            "0.1",
            "-0.0",
            "3.4028235e38",
            "-3.4028235e38",
            "1e-45",
            "\"NaN\"",
            "\"-Infinity\"",
        ],
        &[
            (
                "1e39",
                "$: expected f32 (magnitude below 3.4028235677973366e+38), got 1e+39",
            ),
            (
                "3.4028235677973366e38",
                "$: expected f32 (magnitude below 3.4028235677973366e+38), got 3.4028235677973366e+38",
            ),
        ],
    );
    // The largest value below the limit still rounds to f32::MAX, and is read back as such.
    canonical(&f32_ty, "3.4028235677973362e38", "3.4028235e38");
    canonical(&f32_ty, "16777217", "16777216.0");
    // Every f32 bit pattern survives the trip.
    let mut rng = Rng::new(7, 0);
    for _ in 0..20_000 {
        let f = f32::from_bits(rng.next() as u32);
        let json = val_to_json(&Val::Float32(f)).unwrap();
        let Val::Float32(back) = json_to_val(&json, &f32_ty).unwrap() else {
            panic!()
        };
        assert!(
            back.to_bits() == f.to_bits() || (f.is_nan() && back.is_nan()),
            "{f:e} -> {json} -> {back:e}"
        );
    }
}

#[test]
fn char_is_one_scalar_value() {
    check(
        &ty("", "char"),
        &["\"a\"", "\"é\"", "\"😀\"", "\"\\u0000\""],
        &[
            (
                "\"\"",
                r#"$: expected char (a string of one character), got """#,
            ),
            (
                "\"ab\"",
                r#"$: expected char (a string of one character), got "ab""#,
            ),
            (
                "97",
                "$: expected char (a string of one character), got number",
            ),
        ],
    );
}

#[test]
fn strings() {
    check(
        &ty("", "string"),
        &["\"\"", "\"hello\"", "\"😀 \\\" \\n\""],
        &[
            ("null", "$: expected string, got null"),
            ("[\"a\"]", "$: expected string, got array"),
        ],
    );
}

#[test]
fn lists() {
    let strings = ty("", "(list string)");
    check(
        &strings,
        &["[]", "[\"a\", \"b\", \"a\"]"],
        &[
            ("[\"a\", \"b\", 3]", "$[2]: expected string, got number"),
            ("\"a\"", "$: expected list, got string"),
        ],
    );
    check(
        &ty("", "(list (list u8))"),
        &["[[], [1, 2]]"],
        &[("[[1], [2, 300]]", "$[1][1]: expected u8 (0..=255), got 300")],
    );
}

#[test]
fn list_of_u8_is_an_array_of_integers() {
    let bytes = ty("", "(list u8)");
    check(
        &bytes,
        &["[]", "[0, 1, 255]"],
        &[
            ("\"AAEC\"", "$: expected list, got string"),
            ("[0, 256]", "$[1]: expected u8 (0..=255), got 256"),
        ],
    );
    let all: Vec<u8> = (0..=255).collect();
    let val = json_to_val(&json!(all), &bytes).unwrap();
    assert_eq!(val_to_json(&val).unwrap(), json!(all));
}

#[test]
fn fixed_length_lists() {
    check(
        &ty("", "(list u8 3)"),
        &["[1, 2, 3]"],
        &[
            (
                "[1, 2]",
                "$: expected an array of 3 elements, got 2 elements",
            ),
            (
                "[1, 2, 3, 4]",
                "$: expected an array of 3 elements, got 4 elements",
            ),
            ("[1, 2, -3]", "$[2]: expected u8 (0..=255), got -3"),
        ],
    );
}

#[test]
fn maps_are_arrays_of_pairs() {
    check(
        &ty("", "(map string u32)"),
        &["[]", r#"[["a", 1], ["b", 2]]"#],
        &[
            (
                r#"{"a": 1}"#,
                "$: expected map (an array of [key, value] pairs), got object",
            ),
            (
                r#"[["a"]]"#,
                "$[0]: expected a [key, value] pair, got array",
            ),
            (
                r#"[["a", 1, 2]]"#,
                "$[0]: expected a [key, value] pair, got array",
            ),
            (
                r#"[["a", -1]]"#,
                "$[0][1]: expected u32 (0..=4294967295), got -1",
            ),
        ],
    );
    check(
        &ty("", "(map u8 (option string))"),
        &[r#"[[1, null], [2, "x"]]"#],
        &[],
    );
}

#[test]
fn options() {
    let opt = ty("", "(option u32)");
    check(
        &opt,
        &["null", "0", "7"],
        &[
            ("\"7\"", "$: expected u32 (0..=4294967295), got string"),
            (
                "{\"some\": 7}",
                "$: expected u32 (0..=4294967295), got object",
            ),
        ],
    );
    assert_eq!(json_to_val(&json!(null), &opt).unwrap(), Val::Option(None));
    assert_eq!(
        json_to_val(&json!(7), &opt).unwrap(),
        Val::Option(Some(Box::new(Val::U32(7))))
    );
}

#[test]
fn nested_options_wrap_the_inner_some() {
    let opt = ty("", "(option (option u8))");
    check(
        &opt,
        &["null", "{\"some\": null}", "{\"some\": 5}"],
        &[
            ("5", r#"$: expected {"some": …} or null, got 5"#),
            ("{\"some\": 256}", "$.some: expected u8 (0..=255), got 256"),
            (
                "{\"some\": 1, \"x\": 2}",
                r#"$: expected {"some": …} or null, got object"#,
            ),
        ],
    );
    let some_none = Val::Option(Some(Box::new(Val::Option(None))));
    assert_eq!(
        json_to_val(&json!({"some": null}), &opt).unwrap(),
        some_none
    );
    assert_eq!(json_to_val(&json!(null), &opt).unwrap(), Val::Option(None));

    let triple = ty("", "(option (option (option bool)))");
    check(
        &triple,
        &[
            "null",
            "{\"some\": null}",
            "{\"some\": {\"some\": null}}",
            "{\"some\": {\"some\": true}}",
        ],
        &[(
            "{\"some\": true}",
            r#"$.some: expected {"some": …} or null, got true"#,
        )],
    );
}

#[test]
fn results_in_all_four_shapes() {
    check(
        &ty("", "(result u32 (error string))"),
        &["{\"ok\": 3}", "{\"err\": \"bad\"}"],
        &[
            (
                "{\"ok\": \"3\"}",
                "$.ok: expected u32 (0..=4294967295), got string",
            ),
            (
                "{\"ok\": 1, \"err\": \"x\"}",
                r#"$: expected {"ok": …} or {"err": …}, got object"#,
            ),
            ("{}", r#"$: expected {"ok": …} or {"err": …}, got object"#),
            ("3", r#"$: expected {"ok": …} or {"err": …}, got 3"#),
        ],
    );
    check(
        &ty("", "(result u32)"),
        &["{\"ok\": 3}", "{\"err\": null}"],
        &[("{\"err\": 1}", "$.err: expected null, got number")],
    );
    check(
        &ty("", "(result (error string))"),
        &["{\"ok\": null}", "{\"err\": \"bad\"}"],
        &[("{\"ok\": \"\"}", "$.ok: expected null, got string")],
    );
    check(
        &ty("", "(result)"),
        &["{\"ok\": null}", "{\"err\": null}"],
        &[("\"ok\"", r#"$: expected {"ok": …} or {"err": …}, got "ok""#)],
    );
    let val = json_to_val(&json!({"err": null}), &ty("", "(result)")).unwrap();
    assert_eq!(val, Val::Result(Err(None)));
}

#[test]
fn tuples() {
    check(
        &ty("", "(tuple u8 string (option bool))"),
        &["[1, \"a\", null]", "[255, \"\", true]"],
        &[
            (
                "[1, \"a\"]",
                "$: expected an array of 3 elements, got 2 elements",
            ),
            (
                "[1, \"a\", true, 4]",
                "$: expected an array of 3 elements, got 4 elements",
            ),
            ("[1, 2, true]", "$[1]: expected string, got number"),
            (
                "{\"0\": 1}",
                "$: expected tuple (an array of 3 elements), got object",
            ),
        ],
    );
}

const RECORDS: &str = r#"
    (type $item' (record (field "count" u8) (field "label" string)))
    (import "item" (type $item (eq $item')))
    (type $order' (record
        (field "item" $item)
        (field "tags" (list string))
        (field "max-count" (option u32))))
    (import "order" (type $order (eq $order')))
"#;

#[test]
fn records_nested_with_an_optional_field() {
    let order = ty(RECORDS, "$order");
    check(
        &order,
        &[
            r#"{"item": {"count": 1, "label": "x"}, "tags": [], "max-count": null}"#,
            r#"{"item": {"count": 255, "label": ""}, "tags": ["a"], "max-count": 9}"#,
        ],
        &[
            (
                r#"{"item": {"count": 300, "label": "x"}, "tags": []}"#,
                "$.item.count: expected u8 (0..=255), got 300",
            ),
            (
                r#"{"item": {"count": 1, "label": "x"}, "tags": ["a", "b", 3]}"#,
                "$.tags[2]: expected string, got number",
            ),
            (
                r#"{"item": {"count": 1}, "tags": []}"#,
                "$.item: missing field `label`",
            ),
            (r#"{"tags": []}"#, "$: missing field `item`"),
            (
                r#"{"item": {"count": 1, "label": "x"}, "tags": [], "colour": "red"}"#,
                "$: unknown field `colour`",
            ),
            ("[]", "$: expected record (an object), got array"),
        ],
    );
    // An optional field may be left out; it reads back as null.
    canonical(
        &order,
        r#"{"tags": [], "item": {"label": "x", "count": 1}}"#,
        r#"{"item": {"count": 1, "label": "x"}, "tags": [], "max-count": null}"#,
    );
    // Fields reach wasmtime in declaration order whatever the JSON order.
    let val = json_to_val(
        &json!({"tags": [], "max-count": 2, "item": {"label": "x", "count": 1}}),
        &order,
    )
    .unwrap();
    let Val::Record(fields) = val else { panic!() };
    let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["item", "tags", "max-count"]);

    let schema = type_schema(&order).unwrap();
    assert_eq!(schema["required"], json!(["item", "tags"]));
    assert_eq!(schema["additionalProperties"], json!(false));
    assert_eq!(
        schema["properties"]["item"]["required"],
        json!(["count", "label"])
    );
}

#[test]
fn variants() {
    let shape =
        named(r#"(variant (case "none") (case "circle" f64) (case "rect" (tuple u32 u32)))"#);
    check(
        &shape,
        &["\"none\"", r#"{"circle": 1.5}"#, r#"{"rect": [2, 3]}"#],
        &[
            (
                "\"square\"",
                r#"$: expected one of "none", {"circle": …}, {"rect": …}, got "square""#,
            ),
            (
                "\"circle\"",
                r#"$: case `circle` has a payload: expected {"circle": …}, got "circle""#,
            ),
            (
                r#"{"none": null}"#,
                r#"$: case `none` has no payload: expected "none", got object"#,
            ),
            (
                r#"{"rect": [2]}"#,
                "$.rect: expected an array of 2 elements, got 1 elements",
            ),
            (
                r#"{"circle": 1, "rect": [1, 2]}"#,
                r#"$: expected one of "none", {"circle": …}, {"rect": …}, got object"#,
            ),
            (
                "3",
                r#"$: expected one of "none", {"circle": …}, {"rect": …}, got 3"#,
            ),
        ],
    );
    // Only payload cases, and only bare ones.
    check(
        &named(r#"(variant (case "a" u8) (case "b" string))"#),
        &[r#"{"a": 1}"#, r#"{"b": "x"}"#],
        &[],
    );
    check(
        &named(r#"(variant (case "a") (case "b"))"#),
        &["\"a\"", "\"b\""],
        &[],
    );
    // A payload that is itself an option.
    check(
        &named(r#"(variant (case "maybe" (option u8)) (case "never"))"#),
        &[r#"{"maybe": null}"#, r#"{"maybe": 3}"#, "\"never\""],
        &[],
    );
}

#[test]
fn enums() {
    let color = named(r#"(enum "red" "green")"#);
    check(
        &color,
        &["\"red\"", "\"green\""],
        &[
            (
                "\"purple\"",
                r#"$: expected one of "red", "green", got "purple""#,
            ),
            ("0", r#"$: expected one of "red", "green", got 0"#),
        ],
    );
    assert_eq!(
        type_schema(&color).unwrap(),
        json!({"type": "string", "enum": ["red", "green"]})
    );
}

#[test]
fn flags() {
    let perms = named(r#"(flags "read" "write" "exec")"#);
    check(
        &perms,
        &[
            "[]",
            "[\"read\"]",
            "[\"read\", \"exec\"]",
            "[\"read\", \"write\", \"exec\"]",
        ],
        &[
            ("[\"read\", \"read\"]", r#"$[1]: duplicate flag "read""#),
            (
                "[\"delete\"]",
                r#"$[0]: expected one of "read", "write", "exec", got "delete""#,
            ),
            (
                "\"read\"",
                "$: expected flags (an array of flag names), got string",
            ),
        ],
    );
    canonical(&perms, "[\"exec\", \"read\"]", "[\"read\", \"exec\"]");
    // The most flags a type may have (32).
    let names: Vec<String> = (0..32).map(|i| format!("\"f{i}\"")).collect();
    check(
        &named(&format!("(flags {})", names.join(" "))),
        &["[\"f0\", \"f30\", \"f31\"]"],
        &[],
    );
}

#[test]
fn resources_are_refused() {
    let f = func(
        r#"(import "r" (type $r (sub resource)))"#,
        r#"(param "count" u32) (param "handle" (borrow $r)) (result (own $r))"#,
    );
    let err = function_input_schema(&f).unwrap_err();
    assert_eq!(
        err.to_string(),
        "parameter `handle`: resource types cannot be passed through JSON"
    );
    let err = function_output_schema(&f).unwrap_err();
    assert_eq!(
        err.to_string(),
        "result: resource types cannot be passed through JSON"
    );

    let nested = func(
        r#"(import "r" (type $r (sub resource)))"#,
        r#"(param "items" (list (option (own $r))))"#,
    );
    let err = function_input_schema(&nested).unwrap_err();
    assert_eq!(
        err.to_string(),
        "parameter `items` at $.items[]: resource types cannot be passed through JSON"
    );
    let (_, items) = nested.params().next().unwrap();
    let err = json_to_val(&json!([null, 3]), &items).unwrap_err();
    assert_eq!(
        err.to_string(),
        "$[1]: resource types cannot be passed through JSON"
    );
}

// ---------------------------------------------------------------------------------------------
// Functions as tools.

const POINT: &str = r#"
    (type $point' (record (field "x" s32) (field "y" s32)))
    (import "point" (type $point (eq $point')))
"#;

#[test]
fn input_schema_of_a_function() {
    let f = func(
        POINT,
        r#"(param "from" $point) (param "steps" u8) (param "label" (option string)) (result $point)"#,
    );
    let schema = function_input_schema(&f).unwrap();
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["required"], json!(["from", "steps"]));
    assert_eq!(
        schema["properties"]["steps"],
        json!({"type": "integer", "minimum": 0, "maximum": 255})
    );
    let validator = validator(&schema);

    let args = json!({"from": {"x": -1, "y": 2}, "steps": 3});
    assert!(validator.is_valid(&args));
    let vals = args_to_vals(args.as_object().unwrap(), &f).unwrap();
    assert_eq!(vals.len(), 3);
    assert_eq!(vals[1], Val::U8(3));
    assert_eq!(vals[2], Val::Option(None));

    for (args, message) in [
        (
            json!({"from": {"x": 0, "y": 0}}),
            "$: missing parameter `steps`",
        ),
        (
            json!({"from": {"x": 0, "y": 0}, "steps": 1, "foo": 1}),
            "$: unknown parameter `foo`",
        ),
        (
            json!({"from": {"x": 0}, "steps": 1}),
            "$.from: missing field `y`",
        ),
        (
            json!({"from": {"x": 0, "y": 0}, "steps": 1, "label": 3}),
            "$.label: expected string, got number",
        ),
    ] {
        assert!(!validator.is_valid(&args), "{args}");
        let err = args_to_vals(args.as_object().unwrap(), &f).unwrap_err();
        assert_eq!(err.to_string(), message);
    }

    let empty = func("", "");
    assert_eq!(
        function_input_schema(&empty).unwrap(),
        json!({"type": "object", "properties": {}, "additionalProperties": false})
    );
    assert_eq!(
        args_to_vals(&serde_json::Map::new(), &empty).unwrap(),
        vec![]
    );
}

#[test]
fn output_schema_wraps_the_result() {
    let f = func(POINT, r#"(param "p" $point) (result $point)"#);
    let schema = function_output_schema(&f).unwrap().expect("has a result");
    assert_eq!(schema["required"], json!(["result"]));
    let validator = validator(&schema);
    let out = results_to_json(
        &[Val::Record(vec![
            ("x".into(), Val::S32(1)),
            ("y".into(), Val::S32(-2)),
        ])],
        &f,
    )
    .unwrap();
    assert_eq!(out, json!({"result": {"x": 1, "y": -2}}));
    assert!(validator.is_valid(&out));
    let err = results_to_json(&[], &f).unwrap_err();
    assert_eq!(err.to_string(), "$: expected 1 results, got 0");

    let nothing = func("", r#"(param "p" u8)"#);
    assert_eq!(function_output_schema(&nothing).unwrap(), None);
    assert_eq!(results_to_json(&[], &nothing).unwrap(), json!({}));
}

#[test]
fn a_kitchen_sink_record_agrees_under_random_values() {
    let decls = format!(
        r#"{RECORDS}
        (type $shape' (variant (case "none") (case "circle" f32) (case "poly" (list (tuple s16 s16)))))
        (import "shape" (type $shape (eq $shape')))
        (type $perm' (flags "read" "write"))
        (import "perm" (type $perm (eq $perm')))
        (type $color' (enum "red" "green" "blue"))
        (import "color" (type $color (eq $color')))
        (type $all' (record
            (field "order" $order)
            (field "shapes" (list $shape))
            (field "perm" $perm)
            (field "color" (option $color))
            (field "status" (result (option (option char)) (error $color)))
            (field "big" (tuple u64 s64 f64))))
        (import "all" (type $all (eq $all')))"#
    );
    let all = ty(&decls, "$all");
    let validator = validator(&type_schema(&all).unwrap());
    agree(&all, &validator, 3000, 2);
}
