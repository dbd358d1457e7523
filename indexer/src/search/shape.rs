//! The shape of a signature: parameter names and types, and the result type, compared
//! structurally.
//!
//! Agents write the signature they need in their own language's notation:
//! `fn(year: u32) -> bool`, `(before: string, after: string) => string`,
//! `def crc(data: bytes) -> int`, `func(n int64) string`, `takes a year and returns bool`.
//! As a bag of words such a query says little: `string` is in most signatures, and the
//! arrow's direction, the number of parameters and their order are lost. Here the query is
//! parsed into parameters and a result, each function's WIT signature likewise, and the two
//! are compared type by type, so "s64 -> string" prefers `func(n: s64) -> string` to
//! `func(min: s64, max: s64) -> s64`.
//!
//! Recognition is conservative: a query has a shape only when it has a signature's structure
//! (an arrow, `fn(`/`func(`/`def`, `name: type` pairs, or takes/returns wording) and names at
//! least one type. Everything else ranks as before.

/// A type as the comparison sees it: binding-language spellings are mapped onto WIT's.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ty {
    Str,
    Char,
    Bool,
    /// An integer; `None` where the query does not say (`int`, `integer`).
    Int { signed: Option<bool>, bits: Option<u8> },
    /// A float; `None` bits where the query does not say (`float`).
    Float { bits: Option<u8> },
    /// JavaScript's `number` (any integer or float).
    Number,
    /// `list<u8>` and every language's byte buffer.
    Bytes,
    List(Box<Ty>),
    Option(Box<Ty>),
    Tuple(Vec<Ty>),
    /// No value: `()`, `None`, `void`, WIT's `result<_, E>`.
    Unit,
    /// A record, enum, variant or resource, by its normalized name.
    Named(String),
}

/// One parameter: its name, its type, or both.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Param {
    pub name: Option<String>,
    pub ty: Option<Ty>,
}

/// What a signature (or a query) says about parameters and result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shape {
    /// `None` where the query says nothing about the parameters.
    pub params: Option<Vec<Param>>,
    /// `None` where the query says nothing about the result.
    pub result: Option<Ty>,
}

/// The shape of a WIT signature as [`super::SearchDoc::signature`] writes it,
/// `name: func(a: t, b: t) -> r`. `None` if it is not one.
pub(crate) fn of_signature(signature: &str) -> Option<Shape> {
    let start = signature.find("func(")? + "func".len();
    let (inside, rest) = parenthesized(&signature[start..])?;
    let mut params = Vec::new();
    for item in split_top(inside, ',') {
        let (name, ty) = item.split_once(':')?;
        params.push(Param { name: Some(normalize_name(name)), ty: Some(parse_type(ty)?) });
    }
    let result = match rest.trim().strip_prefix("->") {
        Some(r) => parse_type(r)?,
        None => Ty::Unit,
    };
    Some(Shape { params: Some(params), result: Some(result) })
}

/// Words that introduce a result in prose or notation.
const RESULT_MARKERS: [&str; 8] = ["->", "=>", "→", " returns ", " returning ", " return ", " gives ", " outputs "];

/// The shape a query asks for, if it is written as a signature.
pub(crate) fn of_query(text: &str) -> Option<Shape> {
    let lower = format!(" {} ", text.to_lowercase());
    // Bracket depth before each byte: a marker inside the parameters (`f: Fn(u8) -> u8`)
    // introduces no result.
    let mut depth_at = vec![0; lower.len()];
    for (i, c, depth, _) in bracket_depths(&lower) {
        depth_at[i..i + c.len_utf8()].fill(depth);
    }
    let top_level = |m: &str| lower.match_indices(m).map(|(i, _)| i).find(|&i| depth_at[i] <= 0);
    let (left, right) = match RESULT_MARKERS.iter().filter_map(|m| top_level(m).map(|i| (i, m.len()))).min() {
        Some((i, len)) => (&lower[..i], Some(&lower[i + len..])),
        // "bytes in, base64 string out".
        None => match (lower.find(" in, ").or_else(|| lower.find(" in; ")), lower.strip_suffix(" out ")) {
            (Some(i), Some(before_out)) if i + 5 <= before_out.len() => (&lower[..i], Some(&before_out[i + 5..])),
            _ => (lower.as_str(), None),
        },
    };
    // A call-like prefix: `fn(`, `func name(`, `def name(`, `function(`, `(`.
    let trimmed = left.trim_start();
    let mut call = None;
    for kw in ["fn", "func", "def", "function", ""] {
        let Some(after) = trimmed.strip_prefix(kw) else { continue };
        if !kw.is_empty() && !after.starts_with([' ', '(']) {
            continue;
        }
        let after = after.trim_start();
        // An optional function name before the parenthesis.
        let name_len = after.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-')).unwrap_or(after.len());
        let after_name = &after[name_len..];
        // `name(` with no space between is a call; "convert (lots of) files" is not.
        if let Some((inside, rest)) = after_name.strip_prefix('(').and_then(|_| parenthesized(after_name)) {
            call = Some((inside, rest));
            break;
        }
    }
    let structured = call.is_some() || right.is_some() || left.contains(':');
    let mut params_text = None;
    let mut result_text = right.map(|r| r.trim());
    if let Some((inside, rest)) = call {
        params_text = Some(inside);
        // Go and TypeScript write the result after the parenthesis, without an arrow:
        // `func(n int64) string`, `(s: string): number`.
        let rest = rest.trim();
        if result_text.is_none() && !rest.is_empty() {
            result_text = Some(rest.strip_prefix(':').unwrap_or(rest).trim());
        }
    } else if let Some(i) = [" takes ", " taking ", " accepts ", " given "].iter().filter_map(|m| left.find(m).map(|i| i + m.len())).min() {
        params_text = Some(&left[i..]);
    } else if right.is_some() || left.contains(':') {
        params_text = Some(left);
    }
    let prose_takes = params_text.is_some() && call.is_none() && !left.contains(':');
    let params = params_text.map(|p| query_params(p, prose_takes)).filter(|p| !p.is_empty() || call.is_some());
    let result = result_text.and_then(query_result);
    let typed = params.iter().flatten().any(|p| p.ty.is_some()) || result.is_some();
    if !(structured || prose_takes) || !typed {
        return None;
    }
    Some(Shape { params, result })
}

/// The parameters of a query's parameter text: `a: t, b: t`, Go's `a, b t`, bare types, or
/// prose such as "a list of f64 and a percentile".
fn query_params(text: &str, prose: bool) -> Vec<Param> {
    let mut items: Vec<String> = split_top(text, ',').into_iter().map(str::to_string).collect();
    if prose {
        items = items
            .iter()
            .flat_map(|i| {
                let words: Vec<&str> = i.split_whitespace().collect();
                words.split(|w| *w == "and").map(|part| part.join(" ")).collect::<Vec<_>>()
            })
            .collect();
    }
    let mut out: Vec<Param> = Vec::new();
    // Which parameters were written Go's way, `name type`.
    let mut go_style: Vec<bool> = Vec::new();
    for item in &items {
        let item = item.trim().trim_matches(['.', ';']);
        if item.is_empty() {
            continue;
        }
        let mut go = false;
        let param = if let Some((name, ty)) = item.split_once(':') {
            Param { name: Some(normalize_name(name)).filter(|n| !n.is_empty()), ty: parse_query_type(ty) }
        } else {
            // In prose, "a", "an" and "the" are articles; in notation, `a` is a name.
            let words: Vec<&str> =
                item.split_whitespace().filter(|w| !prose || !matches!(*w, "a" | "an" | "the" | "some" | "two" | "one")).collect();
            match words.as_slice() {
                [] => continue,
                // Go: `name type`; also prose "f64 numbers", "u64 value".
                [first, second] if parse_query_type(second).is_some() && parse_query_type(first).is_none() => {
                    go = !prose;
                    Param { name: Some(normalize_name(first)), ty: parse_query_type(second) }
                }
                _ => match parse_query_type(&words.join(" ")) {
                    Some(ty) => Param { name: None, ty: Some(ty) },
                    None if words.len() == 1 => Param { name: Some(normalize_name(words[0])), ty: None },
                    None => Param { name: None, ty: prose_type(&words) },
                },
            }
        };
        if param.name.is_none() && param.ty.is_none() {
            continue;
        }
        out.push(param);
        go_style.push(go);
    }
    // Go's `a, b int`: a bare name before a parameter written `name type` shares its type.
    // (`(name, count: u32)` gives `name` no type.)
    for i in (0..out.len().saturating_sub(1)).rev() {
        if out[i].ty.is_none() && out[i].name.is_some() && go_style[i + 1] {
            out[i].ty = out[i + 1].ty.clone();
            go_style[i] = true;
        }
    }
    out
}

/// A query's result text: a type, Go's `(T, error)`, or the first type word of prose.
fn query_result(text: &str) -> Option<Ty> {
    let text = text.trim().trim_end_matches(['.', ';']);
    if let Some(ty) = parse_query_type(text) {
        return Some(ty);
    }
    // Prose around the type: "u32 checksum", "a base64 string", "string in plain english",
    // "a list of strings". Only the first few words are read: "whether it is prime" names no
    // type, and a type word far into a sentence is more likely part of its subject.
    let words: Vec<&str> = text.split_whitespace().filter(|w| !matches!(*w, "a" | "an" | "the")).take(3).collect();
    prose_type(&words)
}

/// The first type named in a few words of prose: "f64 numbers", "a list of integers".
fn prose_type(words: &[&str]) -> Option<Ty> {
    for (i, w) in words.iter().enumerate() {
        if matches!(*w, "list" | "array" | "vector" | "sequence") && words.get(i + 1) == Some(&"of") {
            return words.get(i + 2).and_then(|t| parse_query_type(t)).map(list_of);
        }
        if let Some(t) = parse_query_type(w) {
            return Some(t);
        }
    }
    None
}

/// A type written in any of the notations the module doc names; `None` if `text` is not a
/// known type (a bare unknown word is not taken for a record name in a query).
fn parse_query_type(text: &str) -> Option<Ty> {
    let ty = parse_type(text)?;
    fn known(t: &Ty) -> bool {
        match t {
            Ty::Named(_) => false,
            Ty::List(i) | Ty::Option(i) => known(i),
            Ty::Tuple(v) => v.iter().all(known),
            _ => true,
        }
    }
    known(&ty).then_some(ty)
}

/// Parses a type expression; unknown identifiers become [`Ty::Named`].
fn parse_type(text: &str) -> Option<Ty> {
    let tokens = tokenize(text);
    let mut p = Parser { tokens: &tokens, at: 0, depth: 0 };
    let ty = p.ty()?;
    (p.at == tokens.len()).then_some(ty)
}

fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    // `&'a str`, `&mut [u8]`: the borrow and its lifetime say nothing about the type.
    let mut lifetime = false;
    let end_word = |word: &mut String, lifetime: &mut bool, out: &mut Vec<String>| {
        if !word.is_empty() && !std::mem::take(lifetime) {
            out.push(std::mem::take(word));
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() || c == '_' || c == '-' {
            word.push(c.to_ascii_lowercase());
            continue;
        }
        end_word(&mut word, &mut lifetime, &mut out);
        if c == '\'' {
            lifetime = true;
        } else if !c.is_whitespace() && c != '&' {
            out.push(c.to_string());
        }
    }
    end_word(&mut word, &mut lifetime, &mut out);
    out.retain(|t| t != "mut" && t != "dyn" && t != "const" && t != "*");
    out
}

struct Parser<'a> {
    tokens: &'a [String],
    at: usize,
    /// Nesting so far: a hostile signature must not recurse without bound.
    depth: usize,
}

/// Deeper types than any real signature has are not parsed.
const MAX_DEPTH: usize = 16;

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn eat(&mut self, t: &str) -> bool {
        let yes = self.peek() == Some(t);
        self.at += yes as usize;
        yes
    }

    /// A type with its postfix forms: `T[]`, `T?`, `T | null`.
    fn ty(&mut self) -> Option<Ty> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let ty = self.postfix();
        self.depth -= 1;
        ty
    }

    fn postfix(&mut self) -> Option<Ty> {
        let mut ty = self.prefix()?;
        loop {
            if self.peek() == Some("[") && self.tokens.get(self.at + 1).map(String::as_str) == Some("]") {
                self.at += 2;
                ty = list_of(ty);
            } else if self.eat("?") {
                ty = Ty::Option(Box::new(ty));
            } else if self.peek() == Some("|") && matches!(self.tokens.get(self.at + 1).map(String::as_str), Some("null" | "undefined" | "none")) {
                self.at += 2;
                ty = Ty::Option(Box::new(ty));
            } else {
                return Some(ty);
            }
        }
    }

    fn args(&mut self, open: &str, close: &str) -> Option<Vec<Ty>> {
        if !self.eat(open) {
            return None;
        }
        let mut out = Vec::new();
        if self.eat(close) {
            return Some(out);
        }
        loop {
            out.push(if self.eat("_") { Ty::Unit } else { self.ty()? });
            if self.eat(close) {
                return Some(out);
            }
            if !self.eat(",") {
                return None;
            }
        }
    }

    fn prefix(&mut self) -> Option<Ty> {
        let t = self.peek()?.to_string();
        match t.as_str() {
            // `[]T` (Go), `[T]` (Rust slice).
            "[" => {
                self.at += 1;
                if self.eat("]") {
                    return Some(list_of(self.ty()?));
                }
                let inner = self.ty()?;
                self.eat(";").then(|| self.at += 1);
                self.eat("]").then(|| list_of(inner))
            }
            // `()`, tuples `(T, U)`, and Go's `(T, error)`.
            "(" => {
                let items = self.args("(", ")")?;
                let mut items: Vec<Ty> = items.into_iter().filter(|t| *t != Ty::Named("error".into())).collect();
                Some(match items.len() {
                    0 => Ty::Unit,
                    1 => items.remove(0),
                    _ => Ty::Tuple(items),
                })
            }
            _ => {
                self.at += 1;
                let generic = |p: &mut Self| -> Option<Vec<Ty>> {
                    match p.peek() {
                        Some("<") => p.args("<", ">"),
                        Some("[") if p.tokens.get(p.at + 1).map(String::as_str) != Some("]") => p.args("[", "]"),
                        _ => None,
                    }
                };
                let word = t.as_str();
                let ty = match word {
                    "list" | "vec" | "array" | "sequence" | "seq" | "iterable" | "slice" | "set" | "tuple" | "option"
                    | "optional" | "result" | "box" | "rc" | "arc" | "cow" | "readonlyarray" | "promise" => {
                        let args = generic(self);
                        match (word, args) {
                            ("tuple", Some(a)) => Ty::Tuple(a),
                            ("option" | "optional", Some(mut a)) if a.len() == 1 => Ty::Option(Box::new(a.remove(0))),
                            // The error type is incidental to what a function does.
                            ("result", Some(mut a)) if !a.is_empty() => a.remove(0),
                            ("result", None) => Ty::Unit,
                            ("box" | "rc" | "arc" | "cow" | "promise", Some(mut a)) if a.len() == 1 => a.remove(0),
                            (_, Some(mut a)) if a.len() == 1 => list_of(a.remove(0)),
                            (_, None) if matches!(word, "list" | "array" | "vec") => Ty::List(Box::new(Ty::Named(String::new()))),
                            _ => return None,
                        }
                    }
                    "string" | "str" | "strs" | "strings" | "utf8" => Ty::Str,
                    "char" | "rune" | "character" => Ty::Char,
                    "bool" | "boolean" | "bools" => Ty::Bool,
                    "int" | "integer" | "integers" | "ints" | "long" | "isize" => Ty::Int { signed: None, bits: None },
                    "uint" | "usize" | "unsigned" => Ty::Int { signed: Some(false), bits: None },
                    "float" | "floats" => Ty::Float { bits: None },
                    "double" | "doubles" => Ty::Float { bits: Some(64) },
                    "number" | "numbers" | "num" | "numeric" => Ty::Number,
                    "bigint" => Ty::Int { signed: None, bits: Some(64) },
                    "bytes" | "bytearray" | "buffer" | "blob" | "uint8array" | "bytestring" => Ty::Bytes,
                    "byte" => Ty::Int { signed: Some(false), bits: Some(8) },
                    "float32array" => list_of(Ty::Float { bits: Some(32) }),
                    "float64array" => list_of(Ty::Float { bits: Some(64) }),
                    "none" | "void" | "unit" | "null" => Ty::Unit,
                    _ => scalar(word).unwrap_or_else(|| Ty::Named(normalize_name(word))),
                };
                Some(ty)
            }
        }
    }
}

/// `u8`…`u64`, `s8`/`i8`…`s64`/`i64`, `int32`, `uint64`, `f32`, `float64`.
fn scalar(word: &str) -> Option<Ty> {
    let int = |signed: bool, bits: &str| bits.parse::<u8>().ok().filter(|b| matches!(b, 8 | 16 | 32 | 64)).map(|b| Ty::Int { signed: Some(signed), bits: Some(b) });
    let float = |bits: &str| bits.parse::<u8>().ok().filter(|b| matches!(b, 32 | 64)).map(|b| Ty::Float { bits: Some(b) });
    if let Some(b) = word.strip_prefix("uint") {
        return int(false, b);
    }
    if let Some(b) = word.strip_prefix("int") {
        return int(true, b);
    }
    if let Some(b) = word.strip_prefix("float") {
        return float(b);
    }
    match word.split_at_checked(1)? {
        ("u", b) => int(false, b),
        ("s" | "i", b) => int(true, b),
        ("f", b) => float(b),
        _ => None,
    }
}

fn list_of(t: Ty) -> Ty {
    match t {
        Ty::Int { signed: Some(false), bits: Some(8) } => Ty::Bytes,
        t => Ty::List(Box::new(t)),
    }
}

/// Lowercase, without separators: `repo_path`, `repo-path` and `repoPath` are one name.
fn normalize_name(name: &str) -> String {
    name.trim().chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Each character of `text` with its byte offset and the bracket depth before and after it.
/// `(`, `<` and `[` open, `)`, `>` and `]` close; the `>` of an arrow (`->`, `=>`) does neither.
fn bracket_depths(text: &str) -> impl Iterator<Item = (usize, char, i32, i32)> + '_ {
    let (mut depth, mut prev) = (0i32, ' ');
    text.char_indices().map(move |(i, c)| {
        let before = depth;
        let after = std::mem::replace(&mut prev, c);
        match c {
            '>' if matches!(after, '-' | '=') => {}
            '(' | '<' | '[' => depth += 1,
            ')' | '>' | ']' => depth -= 1,
            _ => {}
        }
        (i, c, before, depth)
    })
}

/// The text inside the parenthesis `text` starts with (after leading space), and what follows it.
fn parenthesized(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start();
    if !text.starts_with('(') {
        return None;
    }
    // The bracket that brings the depth back to zero closes the first one.
    bracket_depths(text).find(|&(_, _, before, after)| before == 1 && after == 0).map(|(i, _, _, _)| (&text[1..i], &text[i + 1..]))
}

/// `text` split at `sep` outside brackets.
fn split_top(text: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c, depth, _) in bracket_depths(text) {
        if c == sep && depth <= 0 {
            out.push(&text[start..i]);
            start = i + c.len_utf8();
        }
    }
    out.push(&text[start..]);
    out.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

/// How alike two types are, from 0 to 1.
fn type_similarity(q: &Ty, f: &Ty) -> f32 {
    use Ty::*;
    match (q, f) {
        (Int { signed: qs, bits: qb }, Int { signed: fs, bits: fb }) => {
            let mut s = 1.0;
            if qs.is_some_and(|q| Some(q) != *fs) {
                s -= 0.15;
            }
            if qb.is_some_and(|q| Some(q) != *fb) {
                s -= 0.15;
            }
            s
        }
        (Float { bits: qb }, Float { bits: fb }) => if qb.is_some_and(|q| Some(q) != *fb) { 0.85 } else { 1.0 },
        (Number, Int { .. } | Float { .. }) => 1.0,
        (Int { .. }, Float { .. }) | (Float { .. }, Int { .. }) => 0.4,
        (Str, Char) | (Char, Str) => 0.4,
        (List(a), List(b)) => 0.5 + 0.5 * type_similarity(a, b),
        (Bytes, List(b)) | (List(b), Bytes) => 0.5 + 0.5 * type_similarity(b, &Int { signed: Some(false), bits: Some(8) }),
        (Option(a), Option(b)) => type_similarity(a, b),
        (Option(a), b) | (b, Option(a)) => 0.7 * type_similarity(a, b),
        (Tuple(a), Tuple(b)) if a.len() == b.len() => a.iter().zip(b).map(|(x, y)| type_similarity(x, y)).sum::<f32>() / a.len() as f32,
        (Named(a), Named(b)) if a.is_empty() || b.is_empty() => 0.0,
        (a, b) => if a == b { 1.0 } else { 0.0 },
    }
}

/// How well parameter `q` of a query matches parameter `f` of a function.
fn param_similarity(q: &Param, f: &Param) -> f32 {
    let ty = match (&q.ty, &f.ty) {
        (Some(a), Some(b)) => Some(type_similarity(a, b)),
        _ => None,
    };
    let name = match (&q.name, &f.name) {
        (Some(a), Some(b)) => Some(if a == b { 1.0 } else { 0.0 }),
        _ => None,
    };
    match (ty, name) {
        // A name the function does not use costs less than a wrong type: names are chosen
        // freely ("s", "text", "input"), types are not.
        (Some(t), Some(n)) => t * (0.75 + 0.25 * n),
        (Some(t), None) => t,
        (None, Some(n)) => n,
        (None, None) => 0.0,
    }
}

/// Parameters compared per side; real signatures have far fewer.
const MAX_ALIGNED: usize = 32;

/// How well a function's shape `f` fits the query's `q`, from 0 to 1: the parameters aligned in
/// order (a missing or extra parameter counts as a mismatch) and the result.
pub(crate) fn similarity(q: &Shape, f: &Shape) -> f32 {
    let mut parts = Vec::with_capacity(2);
    if let (Some(qp), Some(fp)) = (&q.params, &f.params) {
        // Best monotone alignment (the parameters in order), by dynamic programming. Only the
        // first parameters are aligned: a hostile component's function, or a query, may list
        // thousands, and the table grows with the product.
        let (qp, fp) = (&qp[..qp.len().min(MAX_ALIGNED)], &fp[..fp.len().min(MAX_ALIGNED)]);
        let (m, n) = (qp.len(), fp.len());
        let mut best = vec![vec![0.0f32; n + 1]; m + 1];
        for i in 1..=m {
            for j in 1..=n {
                let pair = best[i - 1][j - 1] + param_similarity(&qp[i - 1], &fp[j - 1]);
                best[i][j] = pair.max(best[i - 1][j]).max(best[i][j - 1]);
            }
        }
        parts.push(if m.max(n) == 0 { 1.0 } else { best[m][n] / m.max(n) as f32 });
    }
    if let (Some(qr), Some(fr)) = (&q.result, &f.result) {
        parts.push(type_similarity(qr, fr));
    }
    if parts.is_empty() { 0.0 } else { parts.iter().sum::<f32>() / parts.len() as f32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(signed: bool, bits: u8) -> Ty {
        Ty::Int { signed: Some(signed), bits: Some(bits) }
    }

    #[test]
    fn wit_signatures_parse() {
        let s = of_signature("extract-entry: func(archive: list<u8>, path: string) -> result<list<u8>, string>").unwrap();
        assert_eq!(
            s.params.unwrap(),
            vec![Param { name: Some("archive".into()), ty: Some(Ty::Bytes) }, Param { name: Some("path".into()), ty: Some(Ty::Str) }]
        );
        assert_eq!(s.result, Some(Ty::Bytes));
        let s = of_signature("write-file: func(path: string, contents: string) -> result<_, string>").unwrap();
        assert_eq!(s.result, Some(Ty::Unit));
        let s = of_signature("now: func() -> list<tuple<string, list<u8>>>").unwrap();
        assert_eq!(s.params.unwrap(), vec![]);
        assert_eq!(s.result, Some(Ty::List(Box::new(Ty::Tuple(vec![Ty::Str, Ty::Bytes])))));
        let s = of_signature("send: func(to: string)").unwrap();
        assert_eq!(s.result, Some(Ty::Unit));
        assert_eq!(of_signature("not a signature"), None);
    }

    #[test]
    fn queries_in_each_notation_parse() {
        let p = |name: &str, ty: Ty| Param { name: Some(name.into()), ty: Some(ty) };
        // A query, the parameters it should parse to, and its result.
        type Case = (&'static str, Option<Vec<Param>>, Option<Ty>);
        let cases: Vec<Case> = vec![
            ("fn(year: u32) -> bool", Some(vec![p("year", int(false, 32))]), Some(Ty::Bool)),
            ("def crc(data: bytes) -> int", Some(vec![p("data", Ty::Bytes)]), Some(Ty::Int { signed: None, bits: None })),
            ("func(n int64) string", Some(vec![p("n", int(true, 64))]), Some(Ty::Str)),
            ("func(a, b string) (bool, error)", Some(vec![p("a", Ty::Str), p("b", Ty::Str)]), Some(Ty::Bool)),
            ("func(x, y, z float64) float64", Some(vec![p("x", Ty::Float { bits: Some(64) }), p("y", Ty::Float { bits: Some(64) }), p("z", Ty::Float { bits: Some(64) })]), Some(Ty::Float { bits: Some(64) })),
            ("(name, count: u32) -> bool", Some(vec![Param { name: Some("name".into()), ty: None }, p("count", int(false, 32))]), Some(Ty::Bool)),
            ("(s: string): number", Some(vec![p("s", Ty::Str)]), Some(Ty::Number)),
            ("(xs: Float64Array) => number[]", Some(vec![p("xs", Ty::List(Box::new(Ty::Float { bits: Some(64) })))]), Some(Ty::List(Box::new(Ty::Number)))),
            ("fn(data: &[u8]) -> Vec<String>", Some(vec![p("data", Ty::Bytes)]), Some(Ty::List(Box::new(Ty::Str)))),
            ("fn(xs: Vec<f64>, f: impl Fn(f64) -> f64) -> Vec<f64>", Some(vec![p("xs", Ty::List(Box::new(Ty::Float { bits: Some(64) }))), Param { name: Some("f".into()), ty: None }]), Some(Ty::List(Box::new(Ty::Float { bits: Some(64) })))),
            ("fn(s: &'a str, buf: &mut [u8]) -> usize", Some(vec![p("s", Ty::Str), p("buf", Ty::Bytes)]), Some(Ty::Int { signed: Some(false), bits: None })),
            ("[]byte -> string base64", Some(vec![Param { name: None, ty: Some(Ty::Bytes) }]), Some(Ty::Str)),
            ("s64 -> string", Some(vec![Param { name: None, ty: Some(int(true, 64)) }]), Some(Ty::Str)),
            ("toWords(n: bigint): string", Some(vec![p("n", Ty::Int { signed: None, bits: Some(64) })]), Some(Ty::Str)),
            ("def f(xs: list[str]) -> Optional[int]", Some(vec![p("xs", Ty::List(Box::new(Ty::Str)))]), Some(Ty::Option(Box::new(Ty::Int { signed: None, bits: None })))),
            ("() -> u64 seconds since epoch", Some(vec![]), Some(int(false, 64))),
            ("takes a year and returns bool", Some(vec![Param { name: Some("year".into()), ty: None }]), Some(Ty::Bool)),
            ("bytes in, base64 string out", Some(vec![Param { name: None, ty: Some(Ty::Bytes) }]), Some(Ty::Str)),
            ("taking a list of integers, returning an integer", Some(vec![Param { name: None, ty: Some(Ty::List(Box::new(Ty::Int { signed: None, bits: None }))) }]), Some(Ty::Int { signed: None, bits: None })),
            ("takes pdf bytes, returns a list of strings", Some(vec![Param { name: Some("pdf".into()), ty: Some(Ty::Bytes) }]), Some(Ty::List(Box::new(Ty::Str)))),
        ];
        for (query, params, result) in cases {
            let s = of_query(query).unwrap_or_else(|| panic!("{query:?} has no shape"));
            assert_eq!(s.params, params, "{query:?}");
            assert_eq!(s.result, result, "{query:?}");
        }
    }

    #[test]
    fn ordinary_requests_have_no_shape() {
        for q in [
            "convert this time to Tokyo time",
            "what is the weather in Paris",
            "hash: a password",
            "returns the weather for a city",
            "resize an image to 200 pixels",
            "AND( \" : * ->",
            "->",
            "fn()",
            "log in, then check it out",
        ] {
            assert_eq!(of_query(q), None, "{q:?}");
        }
    }

    #[test]
    fn direction_count_and_names_decide() {
        let sim = |q: &str, f: &str| similarity(&of_query(q).unwrap(), &of_signature(f).unwrap());
        let to_words = "number-to-words: func(n: s64) -> string";
        let random = "random-integer: func(min: s64, max: s64) -> s64";
        assert!(sim("s64 -> string", to_words) > sim("s64 -> string", random));
        let diff = "json-diff: func(before: string, after: string) -> result<string, string>";
        let normalize = "normalize: func(text: string, form: form) -> string";
        let q = "(before: string, after: string) -> string";
        assert!(sim(q, diff) > sim(q, normalize));
        let leap = "is-leap-year: func(year: u32) -> bool";
        let crc = "crc32: func(data: list<u8>) -> u32";
        assert!(sim("fn(year: u32) -> bool", leap) > sim("fn(year: u32) -> bool", crc));
        assert!((sim("fn(year: u32) -> bool", leap) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn huge_parameter_lists_are_compared_in_bounded_time() {
        let many = (0..20_000).map(|i| format!("p{i}: u32")).collect::<Vec<_>>().join(", ");
        let f = of_signature(&format!("f: func({many}) -> u32")).unwrap();
        let q = of_query(&format!("fn({}) -> u32", (0..300).map(|i| format!("p{i}: u32")).collect::<Vec<_>>().join(", "))).unwrap();
        let started = std::time::Instant::now();
        let s = similarity(&q, &f);
        // Unbounded, this took 0.3 s (debug build) and a 24 MB table.
        assert!(started.elapsed() < std::time::Duration::from_millis(50), "{:?}", started.elapsed());
        assert!((0.0..=1.0).contains(&s));
    }

    #[test]
    fn hostile_text_neither_panics_nor_recurses_without_bound() {
        let deep = "list<".repeat(10_000) + "u8" + &">".repeat(10_000);
        let _ = of_query(&format!("fn(x: {deep}) -> bool"));
        let _ = of_signature(&format!("f: func(x: {deep}) -> bool"));
        for q in ["((((", "))))", "fn(:) ->", "fn(a: <>) -> []", "-> -> ->", "def (", "func(,,,) ,", "é: ü -> ß"] {
            let _ = of_query(q);
        }
    }
}
