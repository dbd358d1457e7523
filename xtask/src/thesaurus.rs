//! `cargo xtask thesaurus`: builds the search thesaurus (`indexer/src/search/wordnet.txt`) from
//! WordNet 3.0 as Debian's `wordnet-base` package ships it (`/usr/share/wordnet`).
//!
//! The thesaurus used to be typed by hand, after the golden queries were written, and many of
//! its words came from those queries. This one is derived by a fixed rule from a general,
//! citable lexicon, so no entry can trace back to a query (docs/decisions/0006-thesaurus-wordnet.md):
//!
//! - Words: lemmas of the noun, verb and adjective indexes that are one word of at least three
//!   ASCII letters.
//! - Senses of a word: those tagged in WordNet's sense-tagged corpus (SemCor counts in
//!   `cntlist.rev`), most frequent first, at most [`SENSES`]; a word with no tagged sense gets
//!   the first (most common) sense of each part of speech it has.
//! - Words added for each sense: the other members of its synset (synonyms) and its
//!   derivationally related forms (`translate` → `translation`); for the first sense only, the
//!   members of its direct hypernyms (`song` → `composition`). Only one-word additions of at
//!   least three ASCII letters, at most [`TERMS`] per word.
//! - Key: the search analyzer's stem of the word, so that the index can look a document's
//!   analyzed words up directly; words that share a stem share one line.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Most senses of a word that contribute words.
const SENSES: usize = 3;
/// Most words added for one WordNet word.
const TERMS: usize = 12;
/// Most words on one line (several words can share a stem).
const LINE_TERMS: usize = 16;

/// Where Debian's `wordnet-base` installs the database.
pub const DEFAULT_WORDNET: &str = "/usr/share/wordnet";

/// The parts of speech whose words become keys, with their file suffix and SemCor `ss_type`.
const POS: [(char, &str, u8); 3] = [('n', "noun", 1), ('v', "verb", 2), ('a', "adj", 3)];

/// The generated file, relative to the workspace root.
pub fn default_out() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../indexer/src/search/wordnet.txt")
}

/// Builds the table from `wordnet` and writes it to `out`, or with `check` compares it with
/// what `out` holds and fails if they differ.
pub fn run(wordnet: &Path, out: &Path, check: bool) -> Result<()> {
    let text = build(wordnet)?;
    if check {
        let committed = std::fs::read_to_string(out).with_context(|| format!("reading {}", out.display()))?;
        if committed != text {
            bail!("{} is stale: run `cargo xtask thesaurus` (WordNet from {})", out.display(), wordnet.display());
        }
        eprintln!("{} is up to date", out.display());
        return Ok(());
    }
    std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
    let lines = text.lines().filter(|l| !l.starts_with('#')).count();
    eprintln!("wrote {} ({lines} stems, {} bytes)", out.display(), text.len());
    Ok(())
}

/// One synset: its member words (lowercase, in WordNet's order) and its pointers.
struct Synset {
    words: Vec<String>,
    pointers: Vec<Pointer>,
}

/// A WordNet pointer: symbol, target synset, and source/target word numbers (0 = whole synset).
struct Pointer {
    symbol: String,
    target: (char, u64),
    source_word: usize,
    target_word: usize,
}

/// A lemma's synset offsets per part of speech, in WordNet's sense order.
type Senses = Vec<(char, Vec<u64>)>;

/// Is `w` a word the table keeps: one word of at least three ASCII letters?
fn keep(w: &str) -> bool {
    w.len() >= 3 && w.bytes().all(|b| b.is_ascii_lowercase())
}

/// The synset file letter for a pointer's part of speech (`s`, adjective satellite, lives in
/// the adjective file).
fn file_pos(p: char) -> char {
    if p == 's' { 'a' } else { p }
}

fn read(path: &Path) -> Result<String> {
    // WordNet's files are Latin-1 in places (a few glosses); the words we keep are ASCII.
    let bytes = std::fs::read(path).with_context(|| {
        format!("reading {} (install Debian's wordnet-base, or pass --wordnet DIR)", path.display())
    })?;
    Ok(bytes.iter().map(|&b| b as char).collect())
}

/// Parses `data.<pos>` into synsets by (pos, offset).
fn parse_data(dir: &Path, pos: char, file: &str, out: &mut HashMap<(char, u64), Synset>) -> Result<()> {
    let path = dir.join(format!("data.{file}"));
    for (n, line) in read(&path)?.lines().enumerate() {
        // The licence header: lines that start with two spaces.
        if line.starts_with("  ") || line.is_empty() {
            continue;
        }
        let ctx = || format!("{}:{}", path.display(), n + 1);
        let head = line.split(" | ").next().unwrap_or(line);
        let f: Vec<&str> = head.split_ascii_whitespace().collect();
        let field = |i: usize| f.get(i).copied().with_context(ctx);
        let offset: u64 = field(0)?.parse().with_context(ctx)?;
        let w_cnt = usize::from_str_radix(field(3)?, 16).with_context(ctx)?;
        let mut words = Vec::with_capacity(w_cnt);
        for i in 0..w_cnt {
            let w = field(4 + 2 * i)?.to_ascii_lowercase();
            // Adjective syntactic markers: `galore(ip)`.
            words.push(w.split('(').next().unwrap_or(&w).to_string());
        }
        let mut i = 4 + 2 * w_cnt;
        let p_cnt: usize = field(i)?.parse().with_context(ctx)?;
        i += 1;
        let mut pointers = Vec::with_capacity(p_cnt);
        for _ in 0..p_cnt {
            let st = field(i + 3)?;
            if st.len() != 4 {
                bail!("{}: bad source/target field {st:?}", ctx());
            }
            pointers.push(Pointer {
                symbol: field(i)?.to_string(),
                target: (
                    file_pos(field(i + 2)?.chars().next().with_context(ctx)?),
                    field(i + 1)?.parse().with_context(ctx)?,
                ),
                source_word: usize::from_str_radix(&st[..2], 16).with_context(ctx)?,
                target_word: usize::from_str_radix(&st[2..], 16).with_context(ctx)?,
            });
            i += 4;
        }
        out.insert((pos, offset), Synset { words, pointers });
    }
    Ok(())
}

/// Parses `index.<pos>`: each lemma's synset offsets in WordNet's sense order.
fn parse_index(dir: &Path, file: &str) -> Result<BTreeMap<String, Vec<u64>>> {
    let path = dir.join(format!("index.{file}"));
    let mut out = BTreeMap::new();
    for (n, line) in read(&path)?.lines().enumerate() {
        if line.starts_with("  ") || line.is_empty() {
            continue;
        }
        let ctx = || format!("{}:{}", path.display(), n + 1);
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        let synset_cnt: usize = f.get(2).with_context(ctx)?.parse().with_context(ctx)?;
        let p_cnt: usize = f.get(3).with_context(ctx)?.parse().with_context(ctx)?;
        let offsets: Vec<u64> = f
            .get(6 + p_cnt..)
            .with_context(ctx)?
            .iter()
            .map(|o| o.parse::<u64>())
            .collect::<Result<_, _>>()
            .with_context(ctx)?;
        if offsets.len() != synset_cnt {
            bail!("{}: {synset_cnt} senses announced, {} listed", ctx(), offsets.len());
        }
        out.insert(f[0].to_ascii_lowercase(), offsets);
    }
    Ok(out)
}

/// Parses `cntlist.rev`: SemCor tag count per (lemma, part of speech, sense number).
fn parse_counts(dir: &Path) -> Result<HashMap<(String, char, usize), u32>> {
    let path = dir.join("cntlist.rev");
    let mut out = HashMap::new();
    for (n, line) in read(&path)?.lines().enumerate() {
        let ctx = || format!("{}:{}", path.display(), n + 1);
        let mut f = line.split_ascii_whitespace();
        let (Some(key), Some(sense), Some(count)) = (f.next(), f.next(), f.next()) else { continue };
        let (lemma, rest) = key.split_once('%').with_context(ctx)?;
        let pos = match rest.as_bytes().first() {
            Some(b'1') => 'n',
            Some(b'2') => 'v',
            Some(b'3' | b'5') => 'a',
            _ => continue,
        };
        let sense: usize = sense.parse().with_context(ctx)?;
        let count: u32 = count.parse().with_context(ctx)?;
        *out.entry((lemma.to_ascii_lowercase(), pos, sense)).or_default() += count;
    }
    Ok(out)
}

/// The table, as the text of `wordnet.txt`.
pub fn build(dir: &Path) -> Result<String> {
    let mut synsets = HashMap::new();
    for (pos, file) in [('n', "noun"), ('v', "verb"), ('a', "adj"), ('r', "adv")] {
        parse_data(dir, pos, file, &mut synsets)?;
    }
    let counts = parse_counts(dir)?;
    let mut index: BTreeMap<String, Senses> = BTreeMap::new();
    for (pos, file, _) in POS {
        for (lemma, offsets) in parse_index(dir, file)? {
            index.entry(lemma).or_default().push((pos, offsets));
        }
    }
    // Words that share a stem share a line; the shortest word (usually the base form:
    // `convert` before `conversation`) contributes first, so the cap cuts the derived ones.
    let mut lemmas: Vec<(&String, &Senses)> = index.iter().filter(|(l, _)| keep(l)).collect();
    lemmas.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.0.cmp(b.0)));
    let mut by_stem: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (lemma, per_pos) in lemmas {
        let terms = expand(lemma, per_pos, &synsets, &counts)?;
        if terms.is_empty() {
            continue;
        }
        let stems = forage_indexer::search::analyze_terms(lemma);
        // A stop word or a word the analyzer splits cannot be looked up as one stem.
        let [stem] = stems.as_slice() else { continue };
        let line = by_stem.entry(stem.clone()).or_default();
        for t in terms {
            // A word with the key's own stem adds nothing the document does not already say.
            if line.len() < LINE_TERMS && !line.contains(&t) && forage_indexer::search::analyze_terms(&t) != [stem.as_str()] {
                line.push(t);
            }
        }
    }
    by_stem.retain(|_, terms| !terms.is_empty());
    let mut out = String::new();
    out.push_str(HEADER);
    for (stem, terms) in &by_stem {
        let _ = writeln!(out, "{stem}\t{}", terms.join(" "));
    }
    Ok(out)
}

/// The words WordNet adds for `lemma` under the rule in the module docs.
fn expand(
    lemma: &str,
    per_pos: &[(char, Vec<u64>)],
    synsets: &HashMap<(char, u64), Synset>,
    counts: &HashMap<(String, char, usize), u32>,
) -> Result<Vec<String>> {
    // (count, pos order, sense number, pos, offset)
    let mut senses: Vec<(u32, usize, usize, char, u64)> = Vec::new();
    for (pos_order, (pos, offsets)) in per_pos.iter().enumerate() {
        for (i, &off) in offsets.iter().enumerate() {
            let c = counts.get(&(lemma.to_string(), *pos, i + 1)).copied().unwrap_or(0);
            if c > 0 {
                senses.push((c, pos_order, i + 1, *pos, off));
            }
        }
    }
    if senses.is_empty() {
        senses = per_pos.iter().enumerate().map(|(o, (pos, offs))| (0, o, 1, *pos, offs[0])).collect();
    } else {
        senses.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        senses.truncate(SENSES);
    }
    let mut out: Vec<String> = Vec::new();
    let mut add = |w: &str| {
        if out.len() < TERMS && keep(w) && w != lemma && !out.iter().any(|o| o == w) {
            out.push(w.to_string());
        }
    };
    for (n, &(_, _, _, pos, off)) in senses.iter().enumerate() {
        let s = synsets.get(&(pos, off)).with_context(|| format!("{lemma}: synset {pos} {off} is missing"))?;
        for w in &s.words {
            add(w);
        }
        let me = s.words.iter().position(|w| w == lemma).map(|i| i + 1);
        for p in &s.pointers {
            let target = || synsets.get(&p.target);
            if p.symbol == "+" && (p.source_word == 0 || Some(p.source_word) == me) {
                if let Some(t) = target() {
                    let w = if p.target_word == 0 { t.words.first() } else { t.words.get(p.target_word - 1) };
                    if let Some(w) = w {
                        add(w);
                    }
                }
            } else if n == 0
                && (p.symbol == "@" || p.symbol == "@i")
                && let Some(t) = target()
            {
                for w in &t.words {
                    add(w);
                }
            }
        }
    }
    Ok(out)
}

/// The head of the generated file: provenance and the WordNet licence, which asks that its
/// notice appear on all copies.
const HEADER: &str = "\
# forage search thesaurus: analyzer stem <TAB> related words, one line per stem.
# Generated by `cargo xtask thesaurus` from WordNet 3.0 (Debian package wordnet-base 1:3.0-37,
# /usr/share/wordnet); the rule is in xtask/src/thesaurus.rs and
# docs/decisions/0006-thesaurus-wordnet.md. Do not edit by hand.
#
# The WordNet licence (from the package's copyright file), verbatim:
#
# This software and database is being provided to you, the LICENSEE, by
# Princeton University under the following license.  By obtaining, using
# and/or copying this software and database, you agree that you have
# read, understood, and will comply with these terms and conditions.:
#
# Permission to use, copy, modify and distribute this software and
# database and its documentation for any purpose and without fee or
# royalty is hereby granted, provided that you agree to comply with
# the following copyright notice and statements, including the disclaimer,
# and that the same appear on ALL copies of the software, database and
# documentation, including modifications that you make for internal
# use or for distribution.
#
# WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved.
#
# THIS SOFTWARE AND DATABASE IS PROVIDED \"AS IS\" AND PRINCETON
# UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES, EXPRESS OR
# IMPLIED.  BY WAY OF EXAMPLE, BUT NOT LIMITATION, PRINCETON
# UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES OF MERCHANT-
# ABILITY OR FITNESS FOR ANY PARTICULAR PURPOSE OR THAT THE USE
# OF THE LICENSED SOFTWARE, DATABASE OR DOCUMENTATION WILL NOT
# INFRINGE ANY THIRD PARTY PATENTS, COPYRIGHTS, TRADEMARKS OR
# OTHER RIGHTS.
#
# The name of Princeton University or Princeton may not be used in
# advertising or publicity pertaining to distribution of the software
# and/or database.  Title to copyright in this software, database and
# any associated documentation shall at all times remain with
# Princeton University and LICENSEE agrees to preserve same.
";

#[cfg(test)]
mod tests {
    use super::*;

    /// A two-synset WordNet in the real file formats: "photograph" (noun, tagged 5 times in
    /// SemCor; verb, twice) with "photo" as synonym and "representation" as hypernym.
    fn tiny_wordnet() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let header = "  1 This software and database is being provided to you, the LICENSEE\n";
        let files = [
            (
                "data.noun",
                "00000001 06 n 02 photograph 0 photo 0 002 @ 00000002 n 0000 + 00000010 v 0101 | a picture\n\
                 00000002 03 n 01 representation 0 000 | a thing\n",
            ),
            ("data.verb", "00000010 36 v 01 photograph 0 001 + 00000001 n 0101 01 + 02 00 | take a picture\n"),
            ("data.adj", ""),
            ("data.adv", ""),
            (
                "index.noun",
                "photograph n 1 2 @ + 1 1 00000001  \nphoto n 1 1 @ 1 0 00000001  \nrepresentation n 1 0 1 0 00000002  \n",
            ),
            ("index.verb", "photograph v 1 1 + 1 1 00000010  \n"),
            ("index.adj", ""),
        ];
        for (name, body) in files {
            std::fs::write(dir.path().join(name), format!("{header}{body}")).unwrap();
        }
        std::fs::write(dir.path().join("cntlist.rev"), "photograph%1:06:00:: 1 5\nphotograph%2:36:00:: 1 2\n").unwrap();
        dir
    }

    fn body(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn rule_adds_synonyms_derivations_and_first_sense_hypernyms() {
        let dir = tiny_wordnet();
        let text = build(dir.path()).unwrap();
        // photograph: its synonym and its first sense's hypernym; the derivation points back at
        // itself. photo (untagged): first sense's synonyms and hypernym. representation: nothing
        // related, so no line.
        assert_eq!(body(&text), ["photo\tphotograph representation", "photograph\tphoto representation"]);
        assert!(text.starts_with(HEADER), "provenance and licence first");
    }

    #[test]
    fn check_fails_on_a_stale_table_and_passes_on_a_fresh_one() {
        let dir = tiny_wordnet();
        let out = dir.path().join("wordnet.txt");
        run(dir.path(), &out, false).unwrap();
        run(dir.path(), &out, true).unwrap();
        std::fs::write(&out, "stale\n").unwrap();
        assert!(run(dir.path(), &out, true).unwrap_err().to_string().contains("stale"));
    }

    #[test]
    fn missing_or_malformed_wordnet_names_the_file() {
        let err = build(Path::new("/nonexistent/wordnet")).unwrap_err();
        assert!(format!("{err:#}").contains("wordnet-base"), "{err:#}");
        let dir = tiny_wordnet();
        std::fs::write(dir.path().join("index.verb"), "photograph v 3 0 3 3 00000010\n").unwrap();
        let err = build(dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("index.verb:1"), "{err:#}");
    }
}
