//! Text analysis shared by indexing and querying: identifiers split into words, lowercased,
//! stop words dropped, English stems.
//!
//! Tool names are identifiers (`convert-time`, `to_snake_case`, `parseUrl`) while agents write
//! prose ("convert this time"), so both sides go through the same analyzer and meet at the
//! word stem.

use tantivy::tokenizer::{Language, Stemmer, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer};

/// Name under which the analyzer is registered with the index.
pub(crate) const ANALYZER: &str = "forage";

/// Words that carry no meaning for finding a tool, on either side: English function words and
/// the filler agents put around a request ("please give me a function that …").
const STOP_WORDS: &[&str] = &[
    "a", "about", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can",
    "could", "did", "do", "does", "for", "from", "func", "function", "had", "has", "have", "he", "her", "here", "him",
    "his", "how", "i", "if", "in", "into", "is", "it", "its", "just", "me", "might", "my", "need", "now", "of", "on",
    "or", "our", "please", "she", "should", "so", "some", "than", "that", "the", "their", "them", "then", "there",
    "these", "they", "this", "those", "to", "too", "tool", "us", "want", "was", "we", "were", "what", "whats", "when",
    "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your",
];

/// Words after which an agent names what a conversion should produce ("turn this export into
/// JSON", "got html, need markdown", "this csv should become json", "5 miles in km").
const TARGET_MARKERS: &[&str] = &["to", "into", "as", "in", "need", "needs", "want", "wants", "become", "becomes"];
/// Words after which an agent names what it starts from ("from markdown", "I have some YAML",
/// "got html", "JSON out of this YAML").
const SOURCE_MARKERS: &[&str] = &["from", "have", "has", "got", "of"];

/// The words an agent names as the result of a conversion: the first non-stop word after a
/// target marker ([`TARGET_MARKERS`]), as written.
pub(crate) fn conversion_targets(text: &str) -> Vec<&str> {
    marked(text, TARGET_MARKERS)
}

/// The words an agent names as the input of a conversion: the first non-stop word after a
/// source marker ([`SOURCE_MARKERS`]), as written.
pub(crate) fn conversion_sources(text: &str) -> Vec<&str> {
    marked(text, SOURCE_MARKERS)
}

fn marked<'a>(text: &'a str, markers: &[&str]) -> Vec<&'a str> {
    let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if markers.contains(&w.to_lowercase().as_str())
            && let Some(t) = words[i + 1..].iter().find(|n| !is_stop_word(&n.to_lowercase()))
        {
            out.push(*t);
        }
    }
    out
}

/// The target part of a converter's name: what follows `-to-` (`csv-to-json` → `json`) or a
/// leading `to-` (`to-snake-case` → `snake-case`); `None` for other names.
pub(crate) fn name_target(function: &str) -> Option<&str> {
    if let Some(rest) = function.strip_prefix("to-") {
        return Some(rest);
    }
    function.rfind("-to-").map(|i| &function[i + 4..])
}

/// The source part of a converter's name: what precedes `-to-` (`csv-to-json` → `csv`).
pub(crate) fn name_source(function: &str) -> Option<&str> {
    function.find("-to-").map(|i| &function[..i])
}

/// Is `word` (lowercase) a stop word?
pub(crate) fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// The analyzer: [`IdentTokenizer`], the English (Porter 2) stemmer, then [`Derivations`].
pub(crate) fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(IdentTokenizer).filter(Stemmer::new(Language::English)).filter(Derivations).build()
}

/// Porter stems that the stemmer leaves apart although one word derives from the other,
/// mostly Latin `-sion`/`-tion` nouns of verbs (`conversion` → `convers`, `convert` →
/// `convert`). Tool docs use the verb ("Convert …") and agents the noun ("unit conversion").
/// Stem → stem of the verb. General English morphology, not a list of query words.
const DERIVATIONS: &[(&str, &str)] = &[
    ("admiss", "admit"),
    ("comparison", "compar"),
    ("convers", "convert"),
    ("decis", "decid"),
    ("descript", "describ"),
    ("divis", "divid"),
    ("expans", "expand"),
    ("extens", "extend"),
    ("inclus", "includ"),
    ("permiss", "permit"),
    ("resolut", "resolv"),
    ("solut", "solv"),
    ("submiss", "submit"),
    ("subscript", "subscrib"),
    ("transmiss", "transmit"),
];

/// Token filter applying [`DERIVATIONS`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Derivations;

impl TokenFilter for Derivations {
    type Tokenizer<T: Tokenizer> = DerivationsFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> DerivationsFilter<T> {
        DerivationsFilter(tokenizer)
    }
}

/// [`Derivations`] wrapped around a tokenizer.
#[derive(Clone)]
pub(crate) struct DerivationsFilter<T>(T);

impl<T: Tokenizer> Tokenizer for DerivationsFilter<T> {
    type TokenStream<'a> = DerivationsStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        DerivationsStream(self.0.token_stream(text))
    }
}

/// Token stream of [`DerivationsFilter`].
pub(crate) struct DerivationsStream<S>(S);

impl<S: TokenStream> TokenStream for DerivationsStream<S> {
    fn advance(&mut self) -> bool {
        if !self.0.advance() {
            return false;
        }
        let token = self.0.token_mut();
        if let Ok(i) = DERIVATIONS.binary_search_by(|(from, _)| from.cmp(&token.text.as_str())) {
            token.text.clear();
            token.text.push_str(DERIVATIONS[i].1);
        }
        true
    }

    fn token(&self) -> &Token {
        self.0.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.0.token_mut()
    }
}

/// Analyzed terms of `text`, in order.
pub(crate) fn analyze(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// Splits on anything that is not a letter or digit, and inside words on camelCase humps
/// (`parseURLPath` → `parse`, `url`, `path`); lowercases; drops stop words, single letters and
/// words longer than 40 bytes (base64 blobs, hashes pasted into a query).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct IdentTokenizer;

/// Token stream of [`IdentTokenizer`]; tokens are computed up front (texts are short).
pub(crate) struct IdentTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl Tokenizer for IdentTokenizer {
    type TokenStream<'a> = IdentTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> IdentTokenStream {
        let mut tokens = Vec::new();
        for (start, end) in split_words(text) {
            let word = text[start..end].to_lowercase();
            if word.chars().count() < 2 && !word.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            if word.len() > 40 || is_stop_word(&word) {
                continue;
            }
            tokens.push(Token {
                offset_from: start,
                offset_to: end,
                position: tokens.len(),
                text: word,
                position_length: 1,
            });
        }
        IdentTokenStream { tokens, next: 0 }
    }
}

impl TokenStream for IdentTokenStream {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

/// Byte ranges of the words of `text`: maximal runs of alphanumerics, further split where a
/// lowercase letter or digit is followed by an uppercase one (`camelCase`), and before the last
/// capital of an acronym that starts a new word (`URLPath` → `URL`, `Path`). Apostrophes inside
/// words are dropped with what follows (`it's` → `it`).
fn split_words(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].1.is_alphanumeric() {
            i += 1;
            continue;
        }
        let mut start = chars[i].0;
        let mut j = i + 1;
        while j < chars.len() && chars[j].1.is_alphanumeric() {
            let (prev, cur) = (chars[j - 1].1, chars[j].1);
            let next = chars.get(j + 1).map(|c| c.1);
            let hump = (prev.is_lowercase() || prev.is_ascii_digit()) && cur.is_uppercase();
            let acronym_end = prev.is_uppercase() && cur.is_uppercase() && next.is_some_and(char::is_lowercase);
            if hump || acronym_end {
                out.push((start, chars[j].0));
                start = chars[j].0;
            }
            j += 1;
        }
        let end = chars.get(j).map_or(text.len(), |c| c.0);
        out.push((start, end));
        // `it's`, `don't`: the part after the apostrophe is not a word of its own.
        if j + 1 < chars.len() && matches!(chars[j].1, '\'' | '’') && chars[j + 1].1.is_alphabetic() {
            j += 1;
            while j < chars.len() && chars[j].1.is_alphanumeric() {
                j += 1;
            }
        }
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        analyze(&mut analyzer(), s)
    }

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        let mut sorted = STOP_WORDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, STOP_WORDS);
    }

    #[test]
    fn derivations_are_sorted_and_join_noun_and_verb() {
        assert!(DERIVATIONS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(words("unit conversion"), words("unit converts"));
        assert_eq!(words("comparison"), words("compare"));
        assert_eq!(words("description"), words("describe"));
    }

    #[test]
    fn splits_kebab_snake_and_camel() {
        assert_eq!(words("convert-time"), ["convert", "time"]);
        assert_eq!(words("to_snake_case"), ["snake", "case"]);
        assert_eq!(words("parseURLPath"), ["pars", "url", "path"]);
        assert_eq!(words("HTTPServer"), ["http", "server"]);
        assert_eq!(words("sha256 uuid-v4"), ["sha256", "uuid", "v4"]);
    }

    #[test]
    fn lowercases_stems_and_drops_stop_words() {
        assert_eq!(words("Translating the Languages"), ["translat", "languag"]);
        assert_eq!(words("what's the time in Tokyo?"), ["time", "tokyo"]);
        assert_eq!(words("a b 7"), ["7"]);
    }

    #[test]
    fn conversion_targets_and_name_targets() {
        assert_eq!(conversion_targets("turn this export into JSON"), ["JSON"]);
        assert_eq!(conversion_targets("convert 3 lb to kg, then to the grams"), ["kg", "grams"]);
        assert!(conversion_targets("nothing here to").is_empty());
        assert_eq!(conversion_targets("got html, need markdown"), ["markdown"]);
        assert_eq!(conversion_targets("this csv should become json"), ["json"]);
        assert_eq!(conversion_targets("5 miles in km"), ["km"]);
        assert_eq!(conversion_sources("I have some YAML and want JSON"), ["YAML"]);
        assert_eq!(conversion_sources("json out of this csv export"), ["csv"]);
        assert_eq!(conversion_sources("from markdown to html"), ["markdown"]);
        assert_eq!(name_source("csv-to-json"), Some("csv"));
        assert_eq!(name_source("to-snake-case"), None);
        assert_eq!(name_target("csv-to-json"), Some("json"));
        assert_eq!(name_target("to-snake-case"), Some("snake-case"));
        assert_eq!(name_target("convert-time"), None);
    }

    #[test]
    fn survives_odd_input() {
        assert!(words("").is_empty());
        assert!(words("   \t\n").is_empty());
        assert!(words(&"x".repeat(500)).is_empty());
        assert_eq!(words("Grüße aus Köln"), ["grüße", "aus", "köln"]);
        assert_eq!(words("東京 time"), ["東京", "time"]);
        let _ = words("\u{0}\u{1}\u{fffd}zz");
    }
}
