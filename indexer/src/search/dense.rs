//! The dense (semantic) leg of search: a static embedding table distilled from
//! all-MiniLM-L6-v2 and refitted so that the mean of a sentence's rows approaches the model's
//! embedding of the whole sentence (`static-minilm.bin`, written by `cargo xtask distill`), so
//! that "how lit up is the moon tonight" lands near "Phase of the moon on a date" without
//! sharing a stem.
//!
//! A text's embedding is the mean of its WordPiece tokens' rows (SIF-weighted at distillation,
//! so frequent words count little), normalized: a table lookup, microseconds per query, no
//! model, no Python, no network at run time. Functions are embedded once, when they are indexed,
//! and their int8 vectors stored in the index as a fast field (so merges carry them and opening
//! an index only reads them back: at 100k functions that is milliseconds, where re-embedding the
//! stored documents took seconds). When a segment becomes visible its vectors are copied into
//! memory, kept per immutable tantivy segment, so a search scores the same snapshot its lexical
//! leg reads. Provenance, licence and measurements: docs/decisions/0007-dense-leg.md and
//! docs/decisions/0009-learned-table.md.

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
        self.vocab.contains_key(word) || self.vocab.contains_key(fold(word).as_str())
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

/// `text` lowercased and decomposed, accents dropped, as BERT's uncased tokenizer does
/// (`xtask/distill.py` trained the table on that): "Café" must find the rows of "cafe". BERT
/// drops the nonspacing marks (category Mn); a mark that combines (class ≠ 0) is that in
/// practice, and the spacing marks of Indic scripts stay.
fn fold(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    use unicode_normalization::char::{canonical_combining_class, is_combining_mark};
    text.to_lowercase().nfd().filter(|&c| !(is_combining_mark(c) && canonical_combining_class(c) != 0)).collect()
}

/// BERT's basic tokenization (uncased): [`fold`], split on whitespace, punctuation and CJK
/// ideographs as tokens of their own, control characters dropped.
fn basic_tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in fold(text).chars() {
        if c.is_whitespace() || c.is_control() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else if c.is_ascii_punctuation() || is_cjk(c) || (!c.is_alphanumeric() && !c.is_ascii()) {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            out.push(c.to_string());
        } else {
            cur.push(c);
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

/// How many leading dimensions the first pass of [`DenseCache::nearest`] scores. The table's
/// dimensions are principal components in order of variance (`xtask/distill.py`), so the first
/// ones carry most of what tells two texts apart. 32 was not enough: at 100k functions the
/// first pass then dropped 4.5% of the exhaustive top-10 results, 64 drops 0.5%
/// (docs/BENCHMARKS.md).
pub const HEAD_DIMS: usize = 64;
const _: () = assert!(HEAD_DIMS.is_multiple_of(32), "the AVX2 first pass reads rows 32 values at a time");

/// Embeddings of one segment's documents, int8 with one scale per document (NaN for a
/// document with nothing to embed, so that no similarity computed with it passes a floor).
/// Each row is split in two arrays: its first [`HEAD_DIMS`] values, which every search scans,
/// and the rest, read only for the candidates the head proposes.
struct SegmentVectors {
    head: Vec<i8>,
    tail: Vec<i8>,
    scales: Vec<f32>,
}

impl SegmentVectors {
    /// The vectors of `reader`'s documents, from the fast field `field`.
    fn read(reader: &SegmentReader, field: &str, dims: usize) -> Result<SegmentVectors, SearchError> {
        let n = reader.max_doc() as usize;
        let tail_dims = dims - HEAD_DIMS;
        let mut v = SegmentVectors { head: vec![0; n * HEAD_DIMS], tail: vec![0; n * tail_dims], scales: vec![f32::NAN; n] };
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
            let doc = doc as usize;
            v.scales[doc] = f32::from_le_bytes([t[0], t[1], t[2], t[3]]);
            let (head, tail) = t[4..].split_at(HEAD_DIMS);
            let as_i8 = |(slot, &b): (&mut i8, &u8)| *slot = b as i8;
            v.head[doc * HEAD_DIMS..(doc + 1) * HEAD_DIMS].iter_mut().zip(head).for_each(as_i8);
            v.tail[doc * tail_dims..(doc + 1) * tail_dims].iter_mut().zip(tail).for_each(as_i8);
        }
        // The column's bytes are read once, here, into `v`, and never again by a search: hand
        // their pages back rather than keep the vectors resident twice (13 MB at 100k functions).
        // Measured: a 100k-function index's process holds 10 MiB less (RssFile 21.5 → 11.5 MiB).
        if let Ok(bytes) = column.dictionary().sstable_slice.read_bytes() {
            release_pages(bytes.as_slice());
        }
        Ok(v)
    }

    /// The dot product of the dimensions after the head of document `doc` with `q_tail`, the
    /// query's.
    fn tail_dot(&self, doc: usize, q_tail: &[i8]) -> i32 {
        let n = q_tail.len();
        dot_i8(&self.tail[doc * n..(doc + 1) * n], q_tail)
    }
}

/// Asks the kernel to reclaim the whole pages inside `bytes`, keeping their contents: file pages
/// of a memory-mapped segment are dropped (read back from the file if ever touched again), and
/// memory of an in-RAM index is swapped out or left alone, never zeroed (`MADV_PAGEOUT`, unlike
/// `MADV_DONTNEED`, does not discard anonymous memory). Best effort: a kernel without it
/// (before 5.4) refuses, and nothing changes.
fn release_pages(bytes: &[u8]) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(1);
        let (from, to) = (bytes.as_ptr() as usize, bytes.as_ptr() as usize + bytes.len());
        let (start, end) = (from.div_ceil(page) * page, to / page * page);
        if end > start {
            // SAFETY: [start, end) lies inside `bytes`, mapped and alive for this call;
            // MADV_PAGEOUT keeps the contents, so no reader of them sees a change.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = bytes;
}

/// What [`DenseCache::nearest`] is asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Nearest {
    /// How many documents.
    pub k: usize,
    /// The least cosine similarity of a document returned.
    pub min_similarity: f32,
    /// How many first-pass candidates are rescored, at least (it is at least `4k`).
    pub rescore: usize,
    /// Rescore every document (no first pass).
    pub exhaustive: bool,
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
        let (doc, tail_dims) = (addr.doc_id as usize, model().dims() - HEAD_DIMS);
        let scale = Some(v.scales[doc]).filter(|s| !s.is_nan())?;
        let mut out = scale.to_le_bytes().to_vec();
        out.extend(v.head[doc * HEAD_DIMS..(doc + 1) * HEAD_DIMS].iter().map(|&b| b as u8));
        out.extend(v.tail[doc * tail_dims..(doc + 1) * tail_dims].iter().map(|&b| b as u8));
        Some(out)
    }

    /// The `k` documents of `searcher`'s snapshot most similar to the normalized `query`, with
    /// their cosine similarity, best first; only those at least `min_similarity`.
    ///
    /// Two passes: every document is scored on its first [`HEAD_DIMS`] dimensions, and the
    /// best `max(4k, rescore)` of those are rescored exactly on all of them. Scanning every
    /// full row (12.8 MB at 100k functions) was most of a search; the heads are half of that,
    /// read in order. With `exhaustive`, every document is rescored (for tests and for
    /// measuring what the first pass misses).
    pub(crate) fn nearest(
        &self,
        searcher: &Searcher,
        field: &str,
        query: &[f32],
        want: Nearest,
    ) -> Result<Vec<(tantivy::DocAddress, f32)>, SearchError> {
        let Nearest { k, min_similarity, rescore, exhaustive } = want;
        self.refresh(searcher, field)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let segs = self.segments.lock().unwrap_or_else(|p| p.into_inner()).clone();
        // The query in int8 too, so the scan is an integer dot product; cosine = dot × query
        // scale × document scale.
        let q_scale = query.iter().fold(0f32, |a, x| a.max(x.abs())) / 127.0;
        if q_scale == 0.0 || query.len() < HEAD_DIMS {
            return Ok(Vec::new());
        }
        let q: Vec<i8> = query.iter().map(|x| (x / q_scale).round().clamp(-127.0, 127.0) as i8).collect();
        let head_q: &[i8; HEAD_DIMS] = q[..HEAD_DIMS].try_into().expect("HEAD_DIMS values");
        // First pass: the best `keep` by head score (dot × document scale; the query's scale is
        // the same for all). Top `keep` without sorting everything: candidates at or above a
        // floor are kept; when 2·keep have gathered, the best `keep` are selected and the
        // keep-th score becomes the floor. Only what is strictly worse than `keep` others is
        // ever dropped.
        let keep = if exhaustive { usize::MAX } else { (4 * k).max(rescore).max(1) };
        let by_score = |a: &(tantivy::DocAddress, f32), b: &(tantivy::DocAddress, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        let mut cands: Vec<(tantivy::DocAddress, f32)> = Vec::new();
        let mut floor = f32::NEG_INFINITY;
        let (mut passed, mut scores) = ([0u16; SCAN_CHUNK], [0f32; SCAN_CHUNK]);
        for (ord, reader) in searcher.segment_readers().iter().enumerate() {
            let Some(v) = segs.get(&reader.segment_id()) else { continue };
            let n = v.scales.len();
            let mut start = 0;
            while start < n {
                let end = (start + SCAN_CHUNK).min(n);
                // A document with nothing embedded has a NaN scale: never at or above a floor.
                let heads = &v.head[start * HEAD_DIMS..end * HEAD_DIMS];
                let count = head_scan(heads, &v.scales[start..end], head_q, floor, &mut passed, &mut scores);
                for (&i, &score) in passed[..count].iter().zip(&scores[..count]) {
                    let doc = start + i as usize;
                    if reader.is_deleted(doc as u32) {
                        continue;
                    }
                    cands.push((tantivy::DocAddress::new(ord as u32, doc as u32), score));
                    if cands.len() >= keep.saturating_mul(2) {
                        cands.select_nth_unstable_by(keep - 1, by_score);
                        cands.truncate(keep);
                        floor = cands[keep - 1].1;
                    }
                }
                start = end;
            }
        }
        // Second pass: exact cosines of the best `keep`, adding the rest of each row to its head
        // score. Each reads a row of its own, out of cache: only those that can still win.
        if cands.len() > keep {
            cands.select_nth_unstable_by(keep - 1, by_score);
            cands.truncate(keep);
        }
        let by_ord: Vec<Option<&Arc<SegmentVectors>>> = searcher.segment_readers().iter().map(|r| segs.get(&r.segment_id())).collect();
        let q_tail = &q[HEAD_DIMS..];
        let mut best: Vec<(tantivy::DocAddress, f32)> = cands
            .into_iter()
            .filter_map(|(addr, head_score)| {
                let v = by_ord[addr.segment_ord as usize]?;
                let doc = addr.doc_id as usize;
                let cos = (head_score + v.tail_dot(doc, q_tail) as f32 * v.scales[doc]) * q_scale;
                (cos >= min_similarity).then_some((addr, cos))
            })
            .collect();
        best.sort_by(by_score);
        best.truncate(k);
        Ok(best)
    }
}

/// The dot product of two int8 vectors of the same length (AVX2 where the CPU has it: the
/// second pass computes a thousand of them per search).
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { avx2::dot(a, b) };
    }
    dot_portable(a, b)
}

/// [`dot_i8`] one value at a time (also the AVX2 kernels' remainder and fallback).
fn dot_portable(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum()
}

/// Rows scored per call of [`head_scan`] (their indices fit on the stack, in a `u16`).
const SCAN_CHUNK: usize = 512;

/// Writes to `passed` the indices `i` (ascending) of the rows of `heads` ([`HEAD_DIMS`] int8
/// values each) whose score, dot product with `q` times `scales[i]`, is at least `floor`, and
/// their scores to `scores`; returns how many there are.
///
/// This is the loop every search runs over every function, so it has an AVX2 version that
/// sums eight rows at a time and compares their scores in one instruction (the release build
/// targets baseline x86-64, SSE2 only).
fn head_scan(heads: &[i8], scales: &[f32], q: &[i8; HEAD_DIMS], floor: f32, passed: &mut [u16; SCAN_CHUNK], scores: &mut [f32; SCAN_CHUNK]) -> usize {
    assert!(scales.len() <= SCAN_CHUNK && heads.len() == scales.len() * HEAD_DIMS, "whole rows, at most SCAN_CHUNK");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above; the slices' sizes, just before.
        return unsafe { avx2::head_scan(heads, scales, q, floor, passed, scores) };
    }
    head_scan_portable(heads, scales, q, floor, passed, scores, 0, 0)
}

/// [`head_scan`] for the rows from `from` on, one row at a time, writing from `count` on.
#[allow(clippy::too_many_arguments)]
fn head_scan_portable(
    heads: &[i8],
    scales: &[f32],
    q: &[i8; HEAD_DIMS],
    floor: f32,
    passed: &mut [u16; SCAN_CHUNK],
    scores: &mut [f32; SCAN_CHUNK],
    from: usize,
    mut count: usize,
) -> usize {
    for (i, (row, &scale)) in heads.chunks_exact(HEAD_DIMS).zip(scales).enumerate().skip(from) {
        let score = dot_portable(row, q) as f32 * scale;
        if score >= floor {
            (passed[count], scores[count]) = (i as u16, score);
            count += 1;
        }
    }
    count
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{HEAD_DIMS, SCAN_CHUNK, dot_portable, head_scan_portable};

    /// The 32 int8 values of `v` sign-extended to i16: the low 16, the high 16.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn widen(v: __m256i) -> (__m256i, __m256i) {
        (_mm256_cvtepi8_epi16(_mm256_castsi256_si128(v)), _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(v)))
    }

    /// Eight i32 partial sums of the products of the 32 int8 values of `v` with a vector
    /// already [`widen`]ed into `lo` and `hi`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn madd(v: __m256i, (lo, hi): (__m256i, __m256i)) -> __m256i {
        let (v_lo, v_hi) = widen(v);
        _mm256_add_epi32(_mm256_madd_epi16(v_lo, lo), _mm256_madd_epi16(v_hi, hi))
    }

    /// [`super::dot_i8`] with AVX2: 32 values per step, the rest one by one.
    #[target_feature(enable = "avx2")]
    pub(super) fn dot(a: &[i8], b: &[i8]) -> i32 {
        let n = a.len().min(b.len());
        let whole = n / 32 * 32;
        // SAFETY: each load reads a[i..i + 32] and b[i..i + 32] with i + 32 ≤ whole ≤ both lengths.
        let mut total = unsafe {
            let mut acc = _mm256_setzero_si256();
            let mut i = 0;
            while i < whole {
                let x = _mm256_loadu_si256(a.as_ptr().add(i).cast());
                let y = _mm256_loadu_si256(b.as_ptr().add(i).cast());
                acc = _mm256_add_epi32(acc, madd(x, widen(y)));
                i += 32;
            }
            let four = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256::<1>(acc));
            let two = _mm_add_epi32(four, _mm_unpackhi_epi64(four, four));
            _mm_cvtsi128_si32(_mm_add_epi32(two, _mm_shuffle_epi32::<1>(two)))
        };
        total += dot_portable(&a[whole..n], &b[whole..n]);
        total
    }

    /// [`super::head_scan`] with AVX2: a row's head is `HEAD_DIMS / 32` registers; eight rows'
    /// partial sums are reduced together by a tree of horizontal adds, scaled and compared at
    /// once.
    #[target_feature(enable = "avx2")]
    pub(super) fn head_scan(
        heads: &[i8],
        scales: &[f32],
        q: &[i8; HEAD_DIMS],
        floor: f32,
        passed: &mut [u16; SCAN_CHUNK],
        scores: &mut [f32; SCAN_CHUNK],
    ) -> usize {
        let n = scales.len();
        let mut count = 0;
        // SAFETY: every load reads 32 bytes of a row or 8 scales inside the slices (i + 8 ≤ n,
        // row r's bytes are heads[r·HEAD_DIMS..(r + 1)·HEAD_DIMS], and heads.len() = n·HEAD_DIMS,
        // asserted by the caller); `count` stays below n ≤ SCAN_CHUNK.
        unsafe {
            const REGS: usize = HEAD_DIMS / 32;
            let qw: [(__m256i, __m256i); REGS] = std::array::from_fn(|j| widen(_mm256_loadu_si256(q.as_ptr().add(32 * j).cast())));
            let floor_v = _mm256_set1_ps(floor);
            let row = |r: usize| -> __m256i {
                let mut acc = _mm256_setzero_si256();
                for (j, &w) in qw.iter().enumerate() {
                    let v = _mm256_loadu_si256(heads.as_ptr().add(r * HEAD_DIMS + 32 * j).cast());
                    acc = _mm256_add_epi32(acc, madd(v, w));
                }
                acc
            };
            let mut i = 0;
            while i + 8 <= n {
                let s01 = _mm256_hadd_epi32(row(i), row(i + 1));
                let s23 = _mm256_hadd_epi32(row(i + 2), row(i + 3));
                let s45 = _mm256_hadd_epi32(row(i + 4), row(i + 5));
                let s67 = _mm256_hadd_epi32(row(i + 6), row(i + 7));
                // Lanes 0–3: the low halves' sums of rows 0–3, lanes 4–7 their high halves'.
                let s0123 = _mm256_hadd_epi32(s01, s23);
                let s4567 = _mm256_hadd_epi32(s45, s67);
                let dots = _mm256_add_epi32(
                    _mm256_permute2x128_si256::<0x20>(s0123, s4567),
                    _mm256_permute2x128_si256::<0x31>(s0123, s4567),
                );
                let eight = _mm256_mul_ps(_mm256_cvtepi32_ps(dots), _mm256_loadu_ps(scales.as_ptr().add(i)));
                // Ordered compare: a NaN score (nothing embedded) never passes.
                let mut mask = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(eight, floor_v)) as u32;
                if mask != 0 {
                    let mut lanes = [0f32; 8];
                    _mm256_storeu_ps(lanes.as_mut_ptr(), eight);
                    while mask != 0 {
                        let lane = mask.trailing_zeros() as usize;
                        (passed[count], scores[count]) = ((i + lane) as u16, lanes[lane]);
                        count += 1;
                        mask &= mask - 1;
                    }
                }
                i += 8;
            }
            head_scan_portable(heads, scales, q, floor, passed, scores, i, count)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_parses_and_embeds() {
        let m = StaticModel::parse(TABLE).unwrap();
        assert!(m.dims() > 0 && m.dims() <= 256, "PCA to at most 256 dims");
        assert!(m.dims() >= HEAD_DIMS, "the first pass reads the first {HEAD_DIMS} dimensions");
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
        assert_eq!(basic_tokens("Café in Zürich, naïve RÉSUMÉ"), ["cafe", "in", "zurich", ",", "naive", "resume"]);
        let m = model();
        assert_eq!(m.embed("résumé café"), m.embed("resume cafe"), "accents are dropped as in training");
        assert!(m.is_word("café"), "a word with an accent is a word of the vocabulary, not a typo");
        assert_eq!(m.wordpiece("moon").len(), 1);
        assert!(m.wordpiece("unbelievably").len() >= 2, "split into word pieces");
        assert!(m.wordpiece(&"a".repeat(MAX_WORD_CHARS + 1)).is_empty());
    }

    /// A deterministic pseudo-random int8 stream (xorshift), so the tests need no crate.
    fn noise(seed: u64, n: usize) -> Vec<i8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 56) as u8 as i8
            })
            .collect()
    }

    #[test]
    fn head_scan_agrees_with_a_plain_dot_product() {
        // Row counts that are and are not multiples of the 8 rows the AVX2 path sums together,
        // extreme values (−128 is never written by `encode`, but a corrupt index could hold it),
        // NaN scales (nothing embedded) and floors that keep all, some and none.
        for n in [0, 1, 7, 8, 9, 63, SCAN_CHUNK] {
            let mut heads = noise(n as u64 + 1, n * HEAD_DIMS);
            if n > 0 {
                heads[..HEAD_DIMS].fill(-128);
            }
            let scales: Vec<f32> = (0..n).map(|i| if i % 5 == 3 { f32::NAN } else { 0.001 * (1 + i % 7) as f32 }).collect();
            let q: [i8; HEAD_DIMS] = noise(99, HEAD_DIMS).try_into().unwrap();
            let mut q_min = q;
            q_min.fill(-128);
            for q in [q, q_min] {
                let want: Vec<(u16, f32)> = (0..n)
                    .map(|i| {
                        let dot: i32 = heads[i * HEAD_DIMS..(i + 1) * HEAD_DIMS].iter().zip(&q).map(|(&a, &b)| i32::from(a) * i32::from(b)).sum();
                        (i as u16, dot as f32 * scales[i])
                    })
                    .collect();
                for floor in [f32::NEG_INFINITY, 0.0, 1.0e9] {
                    let (mut passed, mut scores) = ([0u16; SCAN_CHUNK], [0f32; SCAN_CHUNK]);
                    let count = head_scan(&heads, &scales, &q, floor, &mut passed, &mut scores);
                    let got: Vec<(u16, f32)> = passed[..count].iter().copied().zip(scores[..count].iter().copied()).collect();
                    let expected: Vec<(u16, f32)> = want.iter().copied().filter(|(_, s)| *s >= floor).collect();
                    assert_eq!(got, expected, "{n} rows, floor {floor}");
                }
            }
        }
    }

    #[test]
    fn dot_i8_agrees_with_a_plain_dot_product() {
        for n in [0, 1, 31, 32, 33, 96, 128, 200] {
            let (mut a, b) = (noise(n as u64 + 7, n), noise(n as u64 + 8, n));
            a.iter_mut().take(3).for_each(|x| *x = -128);
            let want: i32 = a.iter().zip(&b).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum();
            assert_eq!(dot_i8(&a, &b), want, "{n} values");
        }
    }

    #[test]
    fn released_pages_keep_their_contents() {
        // Memory of an in-RAM index, and a file mapped as tantivy maps segments: after the
        // kernel reclaims their pages, reading them gives the same bytes (never zeros).
        let heap: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
        release_pages(&heap);
        assert!(heap.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("segment");
        std::fs::write(&path, &heap).unwrap();
        let mmap = tantivy::directory::MmapDirectory::open(dir.path()).unwrap();
        let slice = tantivy::Directory::open_read(&mmap, std::path::Path::new("segment")).unwrap();
        let bytes = slice.read_bytes().unwrap();
        assert_eq!(bytes.as_slice(), &heap[..]);
        release_pages(bytes.as_slice());
        assert_eq!(bytes.as_slice(), &heap[..]);
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
