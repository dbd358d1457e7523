//! Looking a function up by its result `id`, so `load_tool` can take what `search_tools`
//! returned.

use tantivy::Term;
use tantivy::collector::TopDocs;
use tantivy::query::TermQuery;
use tantivy::schema::IndexRecordOption;

use super::{ResultDoc, SearchError, SearchIndex};

impl SearchIndex {
    /// The indexed function whose `id` is exactly `id`, in the current snapshot.
    pub fn get(&self, id: &str) -> Result<Option<ResultDoc>, SearchError> {
        let f = &self.fields;
        let searcher = self.reader.searcher();
        let q = TermQuery::new(Term::from_field_text(f.id, id), IndexRecordOption::Basic);
        let top = searcher.search(&q, &TopDocs::with_limit(1).order_by_score())?;
        let Some((_, addr)) = top.into_iter().next() else { return Ok(None) };
        self.stored_doc(&searcher, addr).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use crate::search::{SearchDoc, SearchIndex};

    #[test]
    fn get_finds_exact_ids_only() {
        let index = SearchIndex::in_memory();
        let doc = SearchDoc {
            id: "acme:tz/zones/convert-time@0123456789ab".into(),
            package: "acme:tz".into(),
            interface: Some("zones".into()),
            function: "convert-time".into(),
            version: None,
            reference: "r@sha256:00".into(),
            description: None,
            signature: "convert-time: func()".into(),
            params: vec![],
            type_text: vec![],
            component_description: None,
            capabilities: vec![],
            registry: "r".into(),
            verified: "unverified".into(),
            component_key: "k".into(),
            docs_source: None,
        };
        index.replace_component("k", std::slice::from_ref(&doc)).unwrap();
        index.commit().unwrap();
        assert_eq!(index.get(&doc.id).unwrap().unwrap().reference, "r@sha256:00");
        assert!(index.get("acme:tz/zones/convert-time@0123456789aa").unwrap().is_none());
    }
}
