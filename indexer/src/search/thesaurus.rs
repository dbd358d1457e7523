//! The thesaurus: words related to a document's words, added to it at index time as a
//! lower-weighted field, so that an agent's word ("photograph") can find a tool that says
//! another ("image").
//!
//! It is WordNet 3.0, reduced by a fixed rule (synonyms and derivationally related forms of a
//! word's most frequent senses, direct hypernyms of its first) to `wordnet.txt`, which
//! `cargo xtask thesaurus` generates; see xtask/src/thesaurus.rs and
//! docs/decisions/0006-thesaurus-wordnet.md. It replaced a hand-written domain list that had
//! been written after the golden queries and borrowed their words: nothing here may be typed
//! to fit a query, so the file is never edited by hand.

use std::sync::OnceLock;

/// The generated table: comment lines (`#`), then `stem<TAB>words`, sorted by stem.
const TABLE: &str = include_str!("wordnet.txt");

/// The table's lines as (stem, words), sorted by stem; parsed once per process.
fn entries() -> &'static [(&'static str, &'static str)] {
    static ENTRIES: OnceLock<Vec<(&'static str, &'static str)>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        TABLE.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split_once('\t')).collect()
    })
}

/// The words related to the analyzed term `stem`, space-separated, if WordNet has any.
pub(crate) fn related(stem: &str) -> Option<&'static str> {
    let e = entries();
    e.binary_search_by(|(k, _)| (*k).cmp(stem)).ok().map(|i| e[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::analyzer::{analyze, analyzer};

    #[test]
    fn table_is_sorted_unique_and_keyed_by_analyzer_stems() {
        let e = entries();
        assert!(e.len() > 10_000, "only {} stems: is wordnet.txt truncated?", e.len());
        assert!(e.windows(2).all(|w| w[0].0 < w[1].0), "stems must be sorted and unique for binary search");
        // Keys are stems of the analyzer the index uses; when the analyzer changes, the table
        // must be regenerated (`cargo xtask thesaurus`) or its lookups silently miss. A stem
        // analyzed again stays one term; most are fixed points.
        let mut a = analyzer();
        let fixed = e.iter().filter(|(k, _)| analyze(&mut a, k) == [*k]).count();
        assert!(fixed * 10 >= e.len() * 9, "{fixed} of {} stems are fixed points of the analyzer", e.len());
        assert!(e.iter().all(|(k, v)| !k.is_empty() && !v.trim().is_empty()));
    }

    #[test]
    fn carries_the_wordnet_licence() {
        assert!(TABLE.contains("WordNet 3.0 Copyright 2006 by Princeton University."));
        assert!(TABLE.contains("THIS SOFTWARE AND DATABASE IS PROVIDED \"AS IS\""));
    }

    #[test]
    fn looks_up_by_stem() {
        let mut a = analyzer();
        let mut stem = |w: &str| analyze(&mut a, w).pop().unwrap();
        let photo = related(&stem("photograph")).expect("photograph is in WordNet");
        assert!(photo.split(' ').any(|w| w == "picture" || w == "photo"), "{photo}");
        assert!(related("zzzzqx").is_none());
    }
}
