//! Registry push notifications: the CNCF distribution notification envelope
//! (`application/vnd.docker.distribution.events.v1+json`), read into [`PushEvent`]s that say
//! which repository to recrawl.

use serde::Deserialize;

/// What happened to a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventAction {
    /// A manifest was pushed (possibly under a tag).
    Push,
    /// A manifest (or tag) was deleted.
    Delete,
}

/// One manifest push or delete reported by a registry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PushEvent {
    /// Push or delete.
    pub action: EventAction,
    /// The registry host the client spoke to (`request.host`), as written in references.
    pub registry: String,
    /// The repository (`target.repository`).
    pub repository: String,
    /// The tag, when the manifest was pushed (or deleted) by tag.
    pub tag: Option<String>,
    /// The manifest digest (`target.digest`), when the registry sent one.
    pub digest: Option<String>,
}

/// Why a notification body was refused. Names the event at fault.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    /// The body is not the distribution envelope.
    #[error("notification body is not a distribution event envelope: {0}")]
    Envelope(String),
    /// A manifest event lacks a field forage needs.
    #[error("notification event {index} ({action}): missing `{field}`")]
    Missing {
        /// The event's position in `events`.
        index: usize,
        /// Its action.
        action: String,
        /// The missing field (`target.repository`, `request.host`).
        field: &'static str,
    },
}

const MANIFEST_MEDIA_TYPES: &[&str] = &[
    crate::fetch::OCI_MANIFEST_MEDIA_TYPE,
    crate::fetch::OCI_INDEX_MEDIA_TYPE,
    crate::fetch::DOCKER_MANIFEST_MEDIA_TYPE,
    crate::fetch::DOCKER_MANIFEST_LIST_MEDIA_TYPE,
];

/// Reads a distribution notification body. Keeps manifest pushes and deletes; blob events
/// (distribution also reports each layer upload) and pulls are dropped, as they change no tag.
pub fn parse_notification(body: &[u8]) -> Result<Vec<PushEvent>, NotificationError> {
    #[derive(Deserialize)]
    struct Envelope {
        events: Vec<Event>,
    }
    #[derive(Deserialize)]
    struct Event {
        #[serde(default)]
        action: String,
        #[serde(default)]
        target: Target,
        #[serde(default)]
        request: Request,
    }
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct Target {
        #[serde(default)]
        media_type: Option<String>,
        #[serde(default)]
        digest: Option<String>,
        #[serde(default)]
        repository: Option<String>,
        #[serde(default)]
        tag: Option<String>,
    }
    #[derive(Deserialize, Default)]
    struct Request {
        #[serde(default)]
        host: Option<String>,
    }
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| NotificationError::Envelope(e.to_string()))?;
    let mut out = Vec::new();
    for (index, e) in envelope.events.into_iter().enumerate() {
        let action = match e.action.as_str() {
            "push" => EventAction::Push,
            "delete" => EventAction::Delete,
            _ => continue,
        };
        let is_manifest = e.target.tag.is_some()
            || e.target
                .media_type
                .as_deref()
                .is_some_and(|m| MANIFEST_MEDIA_TYPES.contains(&m));
        // Deletes carry no media type; a delete of a blob is rare and harmless to recrawl.
        if action == EventAction::Push && !is_manifest {
            continue;
        }
        let missing = |field| NotificationError::Missing {
            index,
            action: e.action.clone(),
            field,
        };
        let repository = e
            .target
            .repository
            .filter(|r| !r.is_empty())
            .ok_or_else(|| missing("target.repository"))?;
        let registry = e
            .request
            .host
            .filter(|h| !h.is_empty())
            .ok_or_else(|| missing("request.host"))?;
        out.push(PushEvent {
            action,
            registry,
            repository,
            tag: e.target.tag.filter(|t| !t.is_empty()),
            digest: e.target.digest.filter(|d| !d.is_empty()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like distribution 2.8's `notifications.Envelope` (trimmed ids and timestamps).
    const PUSH: &str = r#"{"events":[
      {"id":"a1","timestamp":"2026-01-01T00:00:00Z","action":"push",
       "target":{"mediaType":"application/wasm","size":68856,"digest":"sha256:db66","length":68856,
                 "repository":"components/types","url":"http://127.0.0.1:5000/v2/components/types/blobs/sha256:db66"},
       "request":{"id":"r1","addr":"127.0.0.1:4000","host":"127.0.0.1:5000","method":"PUT","useragent":"skopeo"},
       "actor":{},"source":{"addr":"host:5000","instanceID":"i"}},
      {"id":"a2","timestamp":"2026-01-01T00:00:01Z","action":"push",
       "target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":700,"digest":"sha256:abcd","length":700,
                 "repository":"components/types","url":"http://127.0.0.1:5000/v2/components/types/manifests/sha256:abcd","tag":"1.0.0"},
       "request":{"id":"r2","addr":"127.0.0.1:4000","host":"127.0.0.1:5000","method":"PUT","useragent":"skopeo"},
       "actor":{},"source":{"addr":"host:5000","instanceID":"i"}},
      {"id":"a3","timestamp":"2026-01-01T00:00:02Z","action":"pull",
       "target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:abcd","repository":"components/types","tag":"1.0.0"},
       "request":{"host":"127.0.0.1:5000","method":"GET"}},
      {"id":"a4","timestamp":"2026-01-01T00:00:03Z","action":"delete",
       "target":{"digest":"sha256:ef01","repository":"components/old"},
       "request":{"host":"registry.example.com","method":"DELETE"}}
    ]}"#;

    #[test]
    fn reads_manifest_pushes_and_deletes() {
        let events = parse_notification(PUSH.as_bytes()).unwrap();
        assert_eq!(
            events,
            vec![
                PushEvent {
                    action: EventAction::Push,
                    registry: "127.0.0.1:5000".into(),
                    repository: "components/types".into(),
                    tag: Some("1.0.0".into()),
                    digest: Some("sha256:abcd".into()),
                },
                PushEvent {
                    action: EventAction::Delete,
                    registry: "registry.example.com".into(),
                    repository: "components/old".into(),
                    tag: None,
                    digest: Some("sha256:ef01".into()),
                },
            ]
        );
    }

    #[test]
    fn events_find_their_source() {
        let source = crate::crawl::CrawlSource::Registry {
            name: "local".into(),
            registry: "127.0.0.1:5000".into(),
            repositories: vec!["components/*".into()],
            tags: Default::default(),
        };
        let events = parse_notification(PUSH.as_bytes()).unwrap();
        assert!(events[0].concerns(&source));
        assert!(!events[1].concerns(&source), "another registry");
        let mut other_repo = events[0].clone();
        other_repo.repository = "elsewhere/x".into();
        assert!(!other_repo.concerns(&source));
    }

    #[test]
    fn refuses_what_is_not_an_envelope() {
        assert!(matches!(
            parse_notification(b"not json"),
            Err(NotificationError::Envelope(_))
        ));
        assert!(matches!(
            parse_notification(br#"{"event":[]}"#),
            Err(NotificationError::Envelope(_))
        ));
        assert_eq!(parse_notification(br#"{"events":[]}"#).unwrap(), vec![]);
        let no_host = br#"{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"a/b","tag":"1"},"request":{}}]}"#;
        let err = parse_notification(no_host).unwrap_err();
        assert!(err.to_string().contains("request.host"), "{err}");
        assert!(err.to_string().contains("event 0"), "{err}");
    }
}
