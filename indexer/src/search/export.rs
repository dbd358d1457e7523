//! What index snapshots need from the search index: a read-only open, every stored function,
//! the set of component keys, and a fingerprint of the schema.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};
use tantivy::schema::Value;
use tantivy::{Index, IndexWriter, TantivyDocument};

use super::{SearchDoc, SearchError, SearchIndex, Tuning, schema};

impl SearchIndex {
    /// Opens the index in `dir` for searching only: no writer, no lock file, nothing written.
    /// An index with another schema is [`SearchError::Incompatible`].
    pub fn open_read_only(dir: &Path) -> Result<SearchIndex, SearchError> {
        let open_err = |reason: String| SearchError::Open { dir: dir.to_path_buf(), reason };
        let directory = super::directory::IndexDirectory::open(dir).map_err(|e| open_err(e.to_string()))?;
        let index = Index::open(directory).map_err(|e| open_err(e.to_string()))?;
        let (ours, fields) = schema();
        if index.schema() != ours {
            return Err(SearchError::Incompatible { dir: dir.to_path_buf() });
        }
        Self::from_index(index, fields, Tuning::default(), false)
    }

    pub(super) fn writer(&self) -> Result<&Mutex<IndexWriter>, SearchError> {
        self.writer.as_ref().ok_or(SearchError::ReadOnly)
    }

    /// Every indexed function of the current snapshot, in index order.
    pub fn all_docs(&self) -> Result<Vec<SearchDoc>, SearchError> {
        let searcher = self.reader.searcher();
        let mut out = Vec::with_capacity(searcher.num_docs() as usize);
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let store = segment.get_store_reader(64).map_err(tantivy::TantivyError::from)?;
            for id in segment.doc_ids_alive() {
                let doc: TantivyDocument = store.get(id)?;
                let addr = format!("segment {ord} doc {id}");
                let json = doc
                    .get_first(self.fields.source)
                    .and_then(|v| v.as_str())
                    .ok_or_else(|| SearchError::CorruptDoc(addr.clone()))?;
                out.push(serde_json::from_str(json).map_err(|e| SearchError::CorruptDoc(format!("{addr}: {e}")))?);
            }
        }
        Ok(out)
    }

    /// The distinct component keys of the current snapshot (from the term dictionary: no
    /// stored document is read).
    pub fn component_keys(&self) -> Result<BTreeSet<String>, SearchError> {
        let searcher = self.reader.searcher();
        let mut keys = BTreeSet::new();
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(self.fields.component_key)?;
            let mut terms = inverted.terms().stream().map_err(tantivy::TantivyError::from)?;
            while terms.advance() {
                // A term whose documents were all deleted may linger until a merge.
                let info = terms.value();
                let mut postings = inverted
                    .read_postings_from_terminfo(info, tantivy::schema::IndexRecordOption::Basic)
                    .map_err(tantivy::TantivyError::from)?;
                let alive = segment.alive_bitset();
                let mut any = false;
                loop {
                    let d = tantivy::DocSet::doc(&postings);
                    if d == tantivy::TERMINATED {
                        break;
                    }
                    if alive.is_none_or(|a| a.is_alive(d)) {
                        any = true;
                        break;
                    }
                    tantivy::DocSet::advance(&mut postings);
                }
                if any {
                    keys.insert(String::from_utf8_lossy(terms.key()).into_owned());
                }
            }
        }
        Ok(keys)
    }

    /// A fingerprint of the schema and analysis this build writes: two builds read each
    /// other's index files only when it is equal.
    pub fn schema_fingerprint() -> String {
        let (schema, _) = schema();
        let json = serde_json::to_vec(&schema).expect("a schema serializes");
        let mut h = Sha256::new();
        h.update(super::SCHEMA_VERSION.as_bytes());
        h.update(&json);
        hex::encode(&h.finalize()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::SearchQuery;

    fn doc(key: &str, f: &str) -> SearchDoc {
        SearchDoc {
            id: format!("acme:x//{f}@{key}"),
            package: "acme:x".into(),
            interface: None,
            function: f.into(),
            version: None,
            reference: format!("r@{key}"),
            description: Some(format!("{f} things")),
            signature: format!("{f}: func()"),
            params: vec![],
            type_text: vec![],
            component_description: None,
            capabilities: vec![],
            registry: "r".into(),
            verified: "unsigned".into(),
            component_key: key.into(),
            docs_source: None,
        }
    }

    #[test]
    fn read_only_index_searches_lists_and_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        {
            let w = SearchIndex::open_or_create(dir.path()).unwrap();
            w.replace_component("k1", &[doc("k1", "alpha"), doc("k1", "beta")]).unwrap();
            w.replace_component("k2", &[doc("k2", "gamma")]).unwrap();
            w.commit().unwrap();
            w.remove_component("k2").unwrap();
            w.commit().unwrap();
        }
        let r = SearchIndex::open_read_only(dir.path()).unwrap();
        assert_eq!(r.component_keys().unwrap().into_iter().collect::<Vec<_>>(), ["k1"]);
        let mut names: Vec<_> = r.all_docs().unwrap().into_iter().map(|d| d.function).collect();
        names.sort();
        assert_eq!(names, ["alpha", "beta"]);
        assert_eq!(r.search(&SearchQuery::new("beta")).unwrap()[0].doc.function, "beta");
        assert!(matches!(r.replace_component("k3", &[]), Err(SearchError::ReadOnly)));
        assert!(matches!(r.commit(), Err(SearchError::ReadOnly)));
        // Read-only opens take no lock: a writer can still open the directory.
        drop(SearchIndex::open_or_create(dir.path()).unwrap());
        assert_eq!(SearchIndex::schema_fingerprint().len(), 32);
    }
}
