//! The dense (semantic) leg of search: a static embedding table distilled from
//! all-MiniLM-L6-v2 (`static-minilm.bin`, written by `cargo xtask distill`), so that "how lit up
//! is the moon tonight" lands near "Phase of the moon on a date" without sharing a stem.
//!
//! A text's embedding is the mean of its WordPiece tokens' rows (SIF-weighted at distillation,
//! so frequent words count little), normalized: a table lookup, microseconds per query, no
//! model, no Python, no network at run time. Functions are embedded once, when they are indexed,
//! and their int8 vectors stored in the index as a fast field (so merges carry them and opening
//! an index only reads them back: at 100k functions that is milliseconds, where re-embedding the
//! stored documents took seconds). When a segment becomes visible its vectors are copied into
//! memory, kept per immutable tantivy segment, so a search scores the same snapshot its lexical
//! leg reads. Provenance, licence and measurements: docs/decisions/0007-dense-leg.md.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tantivy::index::SegmentId;
use tantivy::{Searcher, SegmentReader};

use super::{SearchDoc, SearchError};

/// The distilled table (see `xtask/distill.py` for the format).
const TABLE: &[u8] = include_bytes!("static-minilm.bin");
const MAGIC: &[u8] = b"FORAGE-STATIC-1\n";
/// Longest word WordPiece splits; longer ones are unknown (as in BERT).
const MAX_WORD_CHARS: usize = 100;

/// Why the embedded table could not be read (a build defect: the table is in the binary).
#[derive(Debug, thiserror::Error)]
pub(crate) enum TableError {
    /// It does not start with the format's magic bytes.
    #[error("static embedding table: bad magic (not written by `cargo xtask distill`)")]
    Magic,
    /// It ends before the sizes in its header say it should.
    #[error("static embedding table: {0} truncated")]
    Truncated(&'static str),
    /// Its vocabulary is not UTF-8.
    #[error("static embedding table: vocabulary is not UTF-8")]
    Vocab,
    /// Header and vocabulary disagree on the number of rows.
    #[error("static embedding table: header says {header} rows, vocabulary has {vocab}")]
    Rows {
        /// Rows announced.
        header: usize,
        /// Tokens listed.
        vocab: usize,
    },
}

/// The static model: vocabulary → row, and the int8 rows with one scale each.
pub(crate) struct StaticModel {
    dims: usize,
    vocab: HashMap<&'static str, usize>,
    scales: Vec<f32>,
    rows: &'static [u8],
}

/// The model embedded in the binary, parsed once.
pub(crate) fn model() -> &'static StaticModel {
    static MODEL: OnceLock<StaticModel> = OnceLock::new();
    MODEL.get_or_init(|| StaticModel::parse(TABLE).expect("the embedded static-minilm.bin is checked by a unit test"))
}

impl StaticModel {
    pub(crate) fn parse(bytes: &'static [u8]) -> Result<StaticModel, TableError> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(TableError::Magic)?;
        let u32_at = |b: &[u8], i: usize| -> Result<usize, TableError> {
            let s = b.get(i * 4..i * 4 + 4).ok_or(TableError::Truncated("header"))?;
            Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
        };
        let (dims, n, vocab_len) = (u32_at(rest, 0)?, u32_at(rest, 1)?, u32_at(rest, 2)?);
        let rest = &rest[12..];
        let vocab_bytes = rest.get(..vocab_len).ok_or(TableError::Truncated("vocabulary"))?;
        let vocab_text = std::str::from_utf8(vocab_bytes).map_err(|_| TableError::Vocab)?;
        let vocab: HashMap<&'static str, usize> = vocab_text.split('\n').enumerate().map(|(i, t)| (t, i)).collect();
        if vocab.len() != n {
            return Err(TableError::Rows { header: n, vocab: vocab.len() });
        }
        let rest = &rest[vocab_len..];
        let scale_bytes = rest.get(..n * 4).ok_or(TableError::Truncated("scales"))?;
        let scales = scale_bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let rows = rest.get(n * 4..n * 4 + n * dims).ok_or(TableError::Truncated("rows"))?;
        Ok(StaticModel { dims, vocab, scales, rows })
    }

    /// Is `word` (lowercase) one whole token of the model's vocabulary?
    pub(crate) fn is_word(&self, word: &str) -> bool {
        self.vocab.contains_key(word)
    }

    /// Dimensions of an embedding.
    pub(crate) fn dims(&self) -> usize {
        self.dims
    }

    /// The normalized embedding of `text`, or `None` when no token of it is in the vocabulary.
    pub(crate) fn embed(&self, text: &str) -> Option<Vec<f32>> {
        let mut sum = vec![0f32; self.dims];
        let mut any = false;
        for word in basic_tokens(text) {
            for row in self.wordpiece(&word) {
                let scale = self.scales[row];
                let r = &self.rows[row * self.dims..(row + 1) * self.dims];
                for (s, &q) in sum.iter_mut().zip(r) {
                    *s += f32::from(q as i8) * scale;
                }
                any = true;
            }
        }
        let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt();
        if !any || norm == 0.0 {
            return None;
        }
        sum.iter_mut().for_each(|x| *x /= norm);
        Some(sum)
    }

    /// WordPiece: greedy longest match from the left, continuations prefixed `##`; a word
    /// that cannot be covered contributes nothing (BERT would give it `[UNK]`).
    fn wordpiece(&self, word: &str) -> Vec<usize> {
        let chars: Vec<(usize, char)> = word.char_indices().collect();
        if chars.len() > MAX_WORD_CHARS {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut start = 0;
        let mut piece = String::new();
        while start < chars.len() {
            let mut end = chars.len();
            let mut found = None;
            while end > start {
                let a = chars[start].0;
                let b = chars.get(end).map_or(word.len(), |c| c.0);
                piece.clear();
                if start > 0 {
                    piece.push_str("##");
                }
                piece.push_str(&word[a..b]);
                if let Some(&row) = self.vocab.get(piece.as_str()) {
                    found = Some(row);
                    break;
                }
                end -= 1;
            }
            match found {
                Some(row) => out.push(row),
                None => return Vec::new(),
            }
            start = end;
        }
        out
    }
}

/// BERT's basic tokenization (uncased): lowercase, split on whitespace, punctuation and CJK
/// ideographs as tokens of their own, control characters dropped.
fn basic_tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else if c.is_ascii_punctuation() || is_cjk(c) || (!c.is_alphanumeric() && !c.is_ascii()) {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            out.push(c.to_lowercase().collect());
        } else {
            cur.extend(c.to_lowercase());
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

/// The text of a function that is embedded: its name as words, then its docs.
pub(crate) fn doc_text(d: &SearchDoc) -> String {
    format!("{}: {}", d.function.replace(['-', '_'], " "), d.description.as_deref().unwrap_or(""))
}

/// A function's stored vector: its scale (f32, little-endian) then its `dims` int8 components;
/// `None` when there is nothing to embed.
pub(crate) fn encode(d: &SearchDoc) -> Option<Vec<u8>> {
    let e = model().embed(&doc_text(d))?;
    let scale = e.iter().fold(0f32, |a, x| a.max(x.abs())) / 127.0;
    if scale <= 0.0 {
        return None;
    }
    let mut out = Vec::with_capacity(4 + e.len());
    out.extend_from_slice(&scale.to_le_bytes());
    out.extend(e.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8 as u8));
    Some(out)
}

/// Embeddings of one segment's documents, int8 with one scale per document (NaN for a
/// document with nothing to embed, so that no similarity computed with it passes a floor).
struct SegmentVectors {
    rows: Vec<i8>,
    scales: Vec<f32>,
}

impl SegmentVectors {
    /// The vectors of `reader`'s documents, from the fast field `field`.
    fn read(reader: &SegmentReader, field: &str, dims: usize) -> Result<SegmentVectors, SearchError> {
        let n = reader.max_doc() as usize;
        let mut v = SegmentVectors { rows: vec![0; n * dims], scales: vec![f32::NAN; n] };
        let corrupt = |reason: String| SearchError::CorruptVectors { segment: reader.segment_id().short_uuid_string(), reason };
        let Some(column) = reader.fast_fields().bytes(field)? else { return Ok(v) };
        // The column is dictionary-encoded: each distinct vector once, in byte order, and a
        // term ordinal per document. Read the dictionary in one pass, then place each
        // document's vector.
        let width = 4 + dims;
        let mut terms = vec![0u8; column.num_terms() * width];
        let mut stream = column.dictionary().stream().map_err(|e| corrupt(e.to_string()))?;
        while stream.advance() {
            let (ord, key) = (stream.term_ord() as usize, stream.key());
            if key.len() != width || ord >= column.num_terms() {
                return Err(corrupt(format!("vector {ord} has {} bytes, expected {width}", key.len())));
            }
            terms[ord * width..(ord + 1) * width].copy_from_slice(key);
        }
        for doc in 0..reader.max_doc() {
            let Some(ord) = column.ords().first(doc) else { continue };
            let t = terms.get(ord as usize * width..(ord as usize + 1) * width).ok_or_else(|| corrupt(format!("ordinal {ord} out of range")))?;
            let scale = f32::from_le_bytes([t[0], t[1], t[2], t[3]]);
            let at = doc as usize * dims;
            for (slot, &b) in v.rows[at..at + dims].iter_mut().zip(&t[4..]) {
                *slot = b as i8;
            }
            v.scales[doc as usize] = scale;
        }
        Ok(v)
    }
}

/// Per-segment embeddings of the indexed functions. Segments are immutable, so a segment's
/// vectors are computed once, when it first becomes visible, and dropped when merged away.
#[derive(Default)]
pub(crate) struct DenseCache {
    segments: Mutex<HashMap<SegmentId, Arc<SegmentVectors>>>,
}

impl DenseCache {
    /// Reads the vectors of every segment of `searcher` not seen before and forgets segments
    /// it no longer has.
    pub(crate) fn refresh(&self, searcher: &Searcher, field: &str) -> Result<(), SearchError> {
        let dims = model().dims();
        let live: Vec<SegmentId> = searcher.segment_readers().iter().map(|s| s.segment_id()).collect();
        let missing: Vec<usize> = {
            let segs = self.segments.lock().unwrap_or_else(|p| p.into_inner());
            (0..live.len()).filter(|&i| !segs.contains_key(&live[i])).collect()
        };
        let mut computed = Vec::new();
        for i in missing {
            let v = SegmentVectors::read(&searcher.segment_readers()[i], field, dims)?;
            computed.push((live[i], Arc::new(v)));
        }
        let mut segs = self.segments.lock().unwrap_or_else(|p| p.into_inner());
        segs.extend(computed);
        segs.retain(|id, _| live.contains(id));
        Ok(())
    }

    /// The vector held for `addr`, encoded as [`encode`] writes it (for tests).
    #[cfg(test)]
    pub(crate) fn stored_vector(&self, searcher: &Searcher, addr: tantivy::DocAddress) -> Option<Vec<u8>> {
        let reader = &searcher.segment_readers()[addr.segment_ord as usize];
        let segs = self.segments.lock().unwrap();
        let v = segs.get(&reader.segment_id())?;
        let dims = model().dims();
        let scale = Some(v.scales[addr.doc_id as usize]).filter(|s| !s.is_nan())?;
        let mut out = scale.to_le_bytes().to_vec();
        out.extend(v.rows[addr.doc_id as usize * dims..(addr.doc_id as usize + 1) * dims].iter().map(|&b| b as u8));
        Some(out)
    }

    /// The `k` documents of `searcher`'s snapshot most similar to the normalized `query`, with
    /// their cosine similarity, best first; only those at least `min_similarity`.
    pub(crate) fn nearest(
        &self,
        searcher: &Searcher,
        field: &str,
        query: &[f32],
        k: usize,
        min_similarity: f32,
    ) -> Result<Vec<(tantivy::DocAddress, f32)>, SearchError> {
        self.refresh(searcher, field)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let segs = self.segments.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let dims = query.len();
        // The query in int8 too, so the scan is an integer dot product; cosine = dot × query
        // scale × document scale.
        let q_scale = query.iter().fold(0f32, |a, x| a.max(x.abs())) / 127.0;
        if q_scale == 0.0 {
            return Ok(Vec::new());
        }
        let q: Vec<i8> = query.iter().map(|x| (x / q_scale).round().clamp(-127.0, 127.0) as i8).collect();
        let by_score = |a: &(tantivy::DocAddress, f32), b: &(tantivy::DocAddress, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        // Top k without sorting everything: candidates at or above a floor are kept; when 2k
        // have gathered, the best k are selected and the k-th score becomes the floor. Exact:
        // only what is strictly worse than k others is ever dropped.
        let mut best: Vec<(tantivy::DocAddress, f32)> = Vec::with_capacity(2 * k);
        let mut floor = min_similarity;
        let mut dots = [0i32; SCAN_CHUNK];
        for (ord, reader) in searcher.segment_readers().iter().enumerate() {
            let Some(v) = segs.get(&reader.segment_id()) else { continue };
            let n = v.scales.len();
            let mut start = 0;
            while start < n {
                let end = (start + SCAN_CHUNK).min(n);
                let out = &mut dots[..end - start];
                dot_rows(&v.rows[start * dims..end * dims], &q, out);
                for (i, &dot) in out.iter().enumerate() {
                    let doc = start + i;
                    // A document with nothing embedded has a NaN scale: never at or above.
                    let cos = dot as f32 * q_scale * v.scales[doc];
                    if cos >= floor && !reader.is_deleted(doc as u32) {
                        best.push((tantivy::DocAddress::new(ord as u32, doc as u32), cos));
                        if best.len() >= 2 * k {
                            best.select_nth_unstable_by(k - 1, by_score);
                            best.truncate(k);
                            floor = floor.max(best[k - 1].1);
                        }
                    }
                }
                start = end;
            }
        }
        best.sort_by(by_score);
        best.truncate(k);
        Ok(best)
    }
}

/// Rows scored per pass of the scan (their dot products fit on the stack).
const SCAN_CHUNK: usize = 512;

/// `out[i]` = the dot product of `q` with row `i` of `rows` (rows of `q.len()` int8 values).
///
/// The scan over every function is most of a search at 100k functions, so it uses AVX2 where
/// the CPU has it (the release build targets baseline x86-64, SSE2 only): about 3× faster
/// there, measured in docs/BENCHMARKS.md.
fn dot_rows(rows: &[i8], q: &[i8], out: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { dot_rows_avx2(rows, q, out) };
        return;
    }
    dot_rows_portable(rows, q, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_rows_avx2(rows: &[i8], q: &[i8], out: &mut [i32]) {
    // The same code, compiled for AVX2 (sign-extend to i16, multiply-add pairs to i32).
    dot_rows_portable(rows, q, out);
}

#[inline(always)]
fn dot_rows_portable(rows: &[i8], q: &[i8], out: &mut [i32]) {
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(q.len())) {
        *o = row.iter().zip(q).map(|(&a, &b)| i32::from(a) * i32::from(b)).sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_parses_and_embeds() {
        let m = StaticModel::parse(TABLE).unwrap();
        assert!(m.dims() > 0 && m.dims() <= 256, "PCA to at most 256 dims");
        assert!(m.vocab.len() > 25_000);
        let e = m.embed("Phase of the moon on a date").unwrap();
        assert!((e.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4, "normalized");
        assert!(m.embed("").is_none() && m.embed("   ").is_none());
    }

    #[test]
    fn similar_meanings_are_closer_than_unrelated_ones() {
        let m = model();
        let cos = |a: &str, b: &str| {
            let (x, y) = (m.embed(a).unwrap(), m.embed(b).unwrap());
            x.iter().zip(&y).map(|(p, q)| p * q).sum::<f32>()
        };
        let moon = "moon phase: Phase of the moon on a date";
        assert!(cos("how lit up is the moon tonight", moon) > cos("how lit up is the moon tonight", "gcd: Greatest common divisor of two integers"));
        let translate = "translate: Translate text into a target language";
        assert!(cos("put this reply into spanish", translate) > cos("put this reply into spanish", "sha256: SHA-256 digest of the input bytes"));
    }

    #[test]
    fn wordpiece_and_basic_tokens_follow_bert() {
        assert_eq!(basic_tokens("Hello, World!  it's"), ["hello", ",", "world", "!", "it", "'", "s"]);
        assert_eq!(basic_tokens("東京time"), ["東", "京", "time"]);
        let m = model();
        assert_eq!(m.wordpiece("moon").len(), 1);
        assert!(m.wordpiece("unbelievably").len() >= 2, "split into word pieces");
        assert!(m.wordpiece(&"a".repeat(MAX_WORD_CHARS + 1)).is_empty());
    }

    #[test]
    fn malformed_tables_are_named_errors() {
        assert!(matches!(StaticModel::parse(b"nope"), Err(TableError::Magic)));
        assert!(matches!(StaticModel::parse(b"FORAGE-STATIC-1\n\x01\x00"), Err(TableError::Truncated("header"))));
        let short: &'static [u8] = b"FORAGE-STATIC-1\n\x02\x00\x00\x00\x01\x00\x00\x00\x03\x00\x00\x00ab";
        assert!(matches!(StaticModel::parse(short), Err(TableError::Truncated("vocabulary"))));
        let rows: &'static [u8] = b"FORAGE-STATIC-1\n\x02\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00abc";
        assert!(matches!(StaticModel::parse(rows), Err(TableError::Rows { header: 2, vocab: 1 })));
    }
}
