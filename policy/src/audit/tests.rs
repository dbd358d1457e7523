use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use forage_store::{MemoryStore, RedbStore, Store, Table};
use serde_json::{Value, json};

use super::*;

/// Every tamper test runs against both stores: the in-memory twin and redb on disk.
fn with_stores(test: impl Fn(Arc<dyn Store>)) {
    test(Arc::new(MemoryStore::default()));
    let dir = tempfile::tempdir().unwrap();
    test(Arc::new(
        RedbStore::open(&dir.path().join("state.redb")).unwrap(),
    ));
}

fn digest() -> Digest {
    Digest::of(b"component")
}

/// Appends `n` records of mixed kinds.
fn fill(log: &AuditLog, n: usize) {
    for i in 0..n {
        let (kind, event) = match i % 4 {
            0 => (
                Kind::Load,
                json!({"component": format!("c{i}"), "digest": digest().to_string()}),
            ),
            1 => (
                Kind::GrantDecision,
                json!({"capability": {"network": "example.com"}, "decision": "allow"}),
            ),
            2 => {
                let args = json!({"text": format!("secret {i}")});
                let event = CallEvent::new(
                    "text_upper",
                    &digest(),
                    &args,
                    Duration::from_millis(3),
                    "ok",
                );
                (Kind::Call, event.to_event())
            }
            _ => (Kind::Unload, json!({"component": format!("c{i}")})),
        };
        log.append(kind, event).unwrap();
    }
}

/// A log of 100 records in `store`, and the public key that verifies it.
fn hundred(store: &Arc<dyn Store>) -> VerifyingKey {
    let log = AuditLog::new(store.clone(), AuditKey::generate().unwrap()).unwrap();
    fill(&log, 100);
    log.public_key()
}

fn raw(store: &Arc<dyn Store>, seq: u64) -> Vec<u8> {
    store.get(Table::Audit, &store_key(seq)).unwrap().unwrap()
}

fn record(store: &Arc<dyn Store>, seq: u64) -> Record {
    serde_json::from_slice(&raw(store, seq)).unwrap()
}

fn put(store: &Arc<dyn Store>, key_seq: u64, r: &Record) {
    store
        .put(
            Table::Audit,
            &store_key(key_seq),
            &serde_json::to_vec(r).unwrap(),
        )
        .unwrap();
}

/// The byte offset of the value of `"field":"` in a stored record.
fn offset_of(value: &[u8], field: &str) -> usize {
    let needle = format!("\"{field}\":\"");
    value
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap()
        + needle.len()
}

#[test]
fn audit_hundred_records_verify() {
    with_stores(|store| {
        let public = hundred(&store);
        let report = verify(store.as_ref(), &public).unwrap();
        assert_eq!(report.records, 100);
        let last = record(&store, 100);
        assert_eq!(report.head, Some((100, last.hash.clone())));
        assert_eq!(record(&store, 1).prev, GENESIS_PREV);
        assert_eq!(record(&store, 2).prev, record(&store, 1).hash);
        // Keys are in numeric order in a scan, past the point where naive strings would not be.
        let keys: Vec<_> = store
            .scan(Table::Audit)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys[9], "00000000000000000010");
        assert_eq!(keys[99], "00000000000000000100");
    });
}

#[test]
fn audit_empty_log_verifies() {
    let store = MemoryStore::default();
    let report = verify(&store, &AuditKey::generate().unwrap().public_key()).unwrap();
    assert_eq!(
        report,
        VerifyReport {
            records: 0,
            head: None
        }
    );
}

#[test]
fn audit_edit_of_one_byte_is_a_hash_mismatch() {
    with_stores(|store| {
        let public = hundred(&store);
        // A byte of the timestamp: still well-formed JSON, so only the hash can tell.
        let mut v = raw(&store, 37);
        let i = offset_of(&v, "time") + 3;
        v[i] = if v[i] == b'9' { b'8' } else { v[i] + 1 };
        store.put(Table::Audit, &store_key(37), &v).unwrap();
        assert!(matches!(
            verify(store.as_ref(), &public),
            Err(AuditError::HashMismatch { seq: 37 })
        ));
    });
}

#[test]
fn audit_edits_of_other_fields_name_the_record() {
    with_stores(|store| {
        let public = hundred(&store);
        let original = raw(&store, 12);
        let tamper = |field: &str| {
            let mut v = original.clone();
            let i = offset_of(&v, field);
            v[i] = if v[i] == b'0' { b'1' } else { b'0' };
            store.put(Table::Audit, &store_key(12), &v).unwrap();
            verify(store.as_ref(), &public)
        };
        assert!(matches!(
            tamper("hash"),
            Err(AuditError::HashMismatch { seq: 12 })
        ));
        assert!(matches!(
            tamper("prev"),
            Err(AuditError::HashMismatch { seq: 12 })
        ));
        assert!(matches!(
            tamper("sig"),
            Err(AuditError::BadSignature { seq: 12 })
        ));

        // A byte that breaks the JSON: the record cannot even be read, so the key names it.
        let mut v = original.clone();
        v[0] = b'x';
        store.put(Table::Audit, &store_key(12), &v).unwrap();
        let err = verify(store.as_ref(), &public).unwrap_err();
        assert!(
            matches!(&err, AuditError::Malformed { key, .. } if *key == store_key(12)),
            "{err}"
        );
        assert!(err.to_string().contains("00000000000000000012"), "{err}");

        // A field the format does not have is not quietly ignored.
        let mut r: Value = serde_json::from_slice(&original).unwrap();
        r["note"] = json!("added");
        store
            .put(
                Table::Audit,
                &store_key(12),
                &serde_json::to_vec(&r).unwrap(),
            )
            .unwrap();
        assert!(matches!(
            verify(store.as_ref(), &public),
            Err(AuditError::Malformed { .. })
        ));
    });
}

#[test]
fn audit_deletion_is_a_gap() {
    with_stores(|store| {
        let public = hundred(&store);
        store.delete(Table::Audit, &store_key(50)).unwrap();
        let err = verify(store.as_ref(), &public).unwrap_err();
        assert!(
            matches!(
                err,
                AuditError::Gap {
                    expected: 50,
                    found: 51
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "audit record 50 is missing (the next stored record is 51): records were deleted"
        );

        store.delete(Table::Audit, &store_key(1)).unwrap();
        assert!(matches!(
            verify(store.as_ref(), &public),
            Err(AuditError::Gap {
                expected: 1,
                found: 2
            })
        ));
    });
}

#[test]
fn audit_deletion_hidden_by_renumbering_breaks_the_chain() {
    with_stores(|store| {
        let public = hundred(&store);
        // Delete 50, move 51 into its place with a fresh (unsigned) hash for seq 50.
        let mut r = record(&store, 51);
        store.delete(Table::Audit, &store_key(51)).unwrap();
        r.seq = 50;
        r.hash = hex::encode(r.computed_hash());
        put(&store, 50, &r);
        // Its prev is still record 50's hash, not 49's.
        assert!(matches!(
            verify(store.as_ref(), &public),
            Err(AuditError::ChainBroken { seq: 50 })
        ));
    });
}

#[test]
fn audit_truncated_tail_is_not_detectable_without_an_anchor() {
    with_stores(|store| {
        let public = hundred(&store);
        let before = verify(store.as_ref(), &public).unwrap();
        store.delete(Table::Audit, &store_key(100)).unwrap();
        // The chain alone still verifies; only the head kept elsewhere shows the loss.
        let after = verify(store.as_ref(), &public).unwrap();
        assert_eq!(after.records, 99);
        assert_ne!(after.head, before.head);
    });
}

#[test]
fn audit_swapped_records_are_reordered() {
    with_stores(|store| {
        let public = hundred(&store);
        let (a, b) = (raw(&store, 20), raw(&store, 21));
        store
            .batch(
                Table::Audit,
                &[(store_key(20), Some(b)), (store_key(21), Some(a))],
            )
            .unwrap();
        let err = verify(store.as_ref(), &public).unwrap_err();
        assert!(
            matches!(&err, AuditError::Reordered { key, seq: 21 } if *key == store_key(20)),
            "{err}"
        );
    });
}

#[test]
fn audit_record_resigned_with_another_key_is_a_bad_signature() {
    with_stores(|store| {
        let public = hundred(&store);
        let forger = AuditKey::generate().unwrap();
        let mut r = record(&store, 60);
        r.event = json!({"component": "innocent"});
        let hash = r.computed_hash();
        r.hash = hex::encode(hash);
        r.sig = hex::encode(forger.sign(&hash).to_bytes());
        put(&store, 60, &r);
        assert!(matches!(
            verify(store.as_ref(), &public),
            Err(AuditError::BadSignature { seq: 60 })
        ));
        // The forger's own key does not help either: the untouched records are not theirs.
        assert!(matches!(
            verify(store.as_ref(), &forger.public_key()),
            Err(AuditError::BadSignature { seq: 1 })
        ));
    });
}

#[test]
fn audit_restart_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.redb");
    let key_path = dir.path().join("audit.key");
    let last = {
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(&db).unwrap());
        let log = AuditLog::new(store, AuditKey::load_or_create(&key_path).unwrap()).unwrap();
        fill(&log, 10);
        log.tail(1).unwrap().pop().unwrap()
    };
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(&db).unwrap());
    let log = AuditLog::new(store.clone(), AuditKey::load_or_create(&key_path).unwrap()).unwrap();
    let next = log.append(Kind::Revoke, json!({"grant": "g1"})).unwrap();
    assert_eq!(next.seq, 11);
    assert_eq!(next.prev, last.hash);
    fill(&log, 9);
    // An operator with only the exported public key verifies the whole log.
    let public = read_public_key(&dir.path().join("audit.pub")).unwrap();
    assert_eq!(verify(store.as_ref(), &public).unwrap().records, 20);

    let tail = log.tail(3).unwrap();
    assert_eq!(tail.iter().map(|r| r.seq).collect::<Vec<_>>(), [18, 19, 20]);
    assert_eq!(log.tail(1000).unwrap().len(), 20);
}

#[test]
fn audit_refuses_to_continue_a_log_signed_by_another_key() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    hundred(&store);
    let err = AuditLog::new(store, AuditKey::generate().unwrap()).unwrap_err();
    assert!(matches!(err, AuditError::ForeignTail { seq: 100 }), "{err}");
}

#[test]
fn audit_concurrent_appends_form_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(&dir.path().join("state.redb")).unwrap());
    let log = Arc::new(AuditLog::new(store.clone(), AuditKey::generate().unwrap()).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| {
                        log.append(Kind::Call, json!({"thread": t, "i": i}))
                            .unwrap()
                            .seq
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let seqs: HashSet<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(seqs, (1..=100).collect());
    assert_eq!(
        verify(store.as_ref(), &log.public_key()).unwrap().records,
        100
    );
}

#[test]
fn audit_event_must_be_an_object() {
    let log = AuditLog::new(
        Arc::new(MemoryStore::default()),
        AuditKey::generate().unwrap(),
    )
    .unwrap();
    let err = log.append(Kind::Load, json!("loaded")).unwrap_err();
    assert!(matches!(
        err,
        AuditError::EventNotObject { kind: Kind::Load }
    ));
    assert!(log.tail(10).unwrap().is_empty());
}

#[test]
fn audit_unknown_kinds_survive_a_round_trip() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let log = AuditLog::new(store.clone(), AuditKey::generate().unwrap()).unwrap();
    log.append(Kind::Other("crawl".into()), json!({})).unwrap();
    log.append(Kind::GrantRequest, json!({})).unwrap();
    let kinds: Vec<_> = log.tail(2).unwrap().into_iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [Kind::Other("crawl".into()), Kind::GrantRequest]);
    assert!(
        String::from_utf8(raw(&store, 2))
            .unwrap()
            .contains(r#""kind":"grant-request""#)
    );
    verify(store.as_ref(), &log.public_key()).unwrap();
}

#[test]
fn audit_arguments_are_hashed_canonically_never_stored() {
    let a = json!({"b": [1, {"d": 2.5, "c": null}], "a": "x"});
    assert_eq!(
        hash_arguments(&a),
        "bbb7e776cda93817a72d0a8733de55e401be294573a4de76bf0074e5fee6d51b"
    );
    let reordered: Value = serde_json::from_str(r#"{"a":"x","b":[1,{"c":null,"d":2.5}]}"#).unwrap();
    assert_eq!(hash_arguments(&reordered), hash_arguments(&a));
    assert_ne!(
        hash_arguments(&json!({"a": "y"})),
        hash_arguments(&json!({"a": "x"}))
    );

    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let log = AuditLog::new(store.clone(), AuditKey::generate().unwrap()).unwrap();
    let args = json!({"password": "hunter2"});
    let event = CallEvent::new("login", &digest(), &args, Duration::from_millis(12), "ok");
    log.append(Kind::Call, event.to_event()).unwrap();
    let stored = String::from_utf8(raw(&store, 1)).unwrap();
    assert!(!stored.contains("hunter2"), "{stored}");
    assert!(stored.contains(&hash_arguments(&args)), "{stored}");
}

#[test]
fn audit_tail_renders_one_line_per_record() {
    let log = AuditLog::new(
        Arc::new(MemoryStore::default()),
        AuditKey::generate().unwrap(),
    )
    .unwrap();
    let args = json!({"text": "hi"});
    let event = CallEvent::new(
        "text_upper",
        &digest(),
        &args,
        Duration::from_millis(3),
        "ok",
    );
    log.append(Kind::Call, event.to_event()).unwrap();
    log.append(
        Kind::GrantDecision,
        json!({"decision": "deny", "by": "user prompt", "capability": {"env": "HOME"}}),
    )
    .unwrap();
    log.append(
        Kind::Load,
        json!({"component": "evil\n\u{1b}[2Jname", "note": "x".repeat(300)}),
    )
    .unwrap();
    let lines: Vec<String> = log.tail(3).unwrap().iter().map(|r| r.to_string()).collect();

    let d = digest().hex();
    let h = hash_arguments(&args);
    assert_eq!(
        lines[0],
        format!(
            "     1  {}  call            tool=text_upper outcome=ok duration_ms=3 arguments_sha256={}… digest=sha256:{}…",
            &log.tail(3).unwrap()[0].time,
            &h[..12],
            &d[..12]
        )
    );
    assert!(
        lines[1].ends_with(
            r#"grant-decision  capability={"env":"HOME"} decision=deny by="user prompt""#
        ),
        "{}",
        lines[1]
    );
    // Nothing a component named itself can break the line or reach the terminal raw.
    assert!(
        !lines[2].contains('\n') && !lines[2].contains('\u{1b}'),
        "{}",
        lines[2]
    );
    assert!(
        lines[2].contains(r"component=evil\n\u{1b}[2Jname"),
        "{}",
        lines[2]
    );
    assert!(
        lines[2].ends_with('…') && lines[2].chars().count() < 220,
        "{}",
        lines[2]
    );
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn audit_key_is_created_once_private_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/audit.key");
    let first = AuditKey::load_or_create(&path).unwrap();
    let pem = std::fs::read_to_string(&path).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
    let public_pem = std::fs::read_to_string(dir.path().join("data/audit.pub")).unwrap();
    assert!(
        public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"),
        "{public_pem}"
    );
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // Loading again gives the same key, and re-exports a deleted public key.
    std::fs::remove_file(dir.path().join("data/audit.pub")).unwrap();
    let again = AuditKey::load_or_create(&path).unwrap();
    assert_eq!(again.public_key(), first.public_key());
    assert_eq!(
        read_public_key(&dir.path().join("data/audit.pub")).unwrap(),
        first.public_key()
    );
    assert!(!format!("{again:?}").contains(&pem[30..60]));
}

#[cfg(unix)]
#[test]
fn audit_key_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.key");
    AuditKey::load_or_create(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = AuditKey::load_or_create(&path).unwrap_err();
    assert!(
        matches!(err, AuditError::KeyPermissions { mode: 0o644, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("audit.key"), "{err}");
}

#[test]
fn audit_bad_key_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.key");
    {
        use std::io::Write as _;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(&path)
            .unwrap()
            .write_all(b"not a key")
            .unwrap();
    }
    let err = AuditKey::load_or_create(&path).unwrap_err();
    assert!(
        matches!(&err, AuditError::Key { path: p, .. } if *p == path),
        "{err}"
    );

    let err = read_public_key(&dir.path().join("missing.pub")).unwrap_err();
    assert!(err.to_string().contains("missing.pub"), "{err}");
    let err = AuditKey::load_or_create(&dir.path().join("audit.pub")).unwrap_err();
    assert!(matches!(err, AuditError::Key { .. }), "{err}");
}
