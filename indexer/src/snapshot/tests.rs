//! Snapshots round-trip, and every bad input of the list is refused naming what was wrong.

use super::*;
use crate::search::SearchQuery;

fn doc(digest: &Digest, f: &str) -> SearchDoc {
    SearchDoc {
        id: format!("acme:snap//{f}@{}", &digest.hex()[..12]),
        package: "acme:snap".into(),
        interface: None,
        function: f.into(),
        version: None,
        reference: format!("127.0.0.1:5000/acme/snap@{digest}"),
        description: Some(format!("{f} the input text")),
        signature: format!("{f}: func(text: string) -> string"),
        params: vec![("text".into(), "string".into())],
        type_text: vec![],
        component_description: None,
        capabilities: vec![],
        registry: "local".into(),
        verified: "unsigned".into(),
        component_key: digest.to_string(),
        docs_source: None,
    }
}

fn digest(n: u8) -> Digest {
    Digest::of(&[n])
}

/// A small index with two components (three functions) and a snapshot of it.
fn built(key: &SnapshotSigningKey, work: &Path) -> (Snapshot, Statement) {
    let index = SearchIndex::in_memory();
    index.replace_component(&digest(1).to_string(), &[doc(&digest(1), "reverse"), doc(&digest(1), "shout")]).unwrap();
    index.replace_component(&digest(2).to_string(), &[doc(&digest(2), "checksum")]).unwrap();
    index.commit().unwrap();
    Snapshot::build(&index, key, work).unwrap()
}

fn keys(k: &SnapshotSigningKey) -> TrustedSnapshotKeys {
    TrustedSnapshotKeys::from_keys(vec![k.public_key()])
}

#[test]
fn a_snapshot_round_trips_through_an_archive_file_and_serves_searches() {
    let work = tempfile::tempdir().unwrap();
    let key = SnapshotSigningKey::generate().unwrap();
    let (snap, st) = built(&key, work.path());
    assert_eq!(st.functions, 3);
    assert_eq!(st.digests, vec![digest(1).min(digest(2)), digest(1).max(digest(2))]);
    let file = work.path().join("snap.tar");
    snap.write_archive(&file).unwrap();
    let read = Snapshot::read_archive(&file, &SnapshotLimits::default()).unwrap();
    assert_eq!(read.digest(), snap.digest());
    let v = read.verify(&keys(&key)).unwrap();
    assert_eq!(v.key_id, key.key_id());
    let dest = work.path().join("unpacked");
    let (entries, index) = unpack(&read, &v, &dest, &SnapshotLimits::default()).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries.iter().map(|e| e.functions).sum::<u64>(), 3);
    let hits = index.search(&SearchQuery::new("checksum")).unwrap();
    assert_eq!(hits[0].doc.function, "checksum");
    assert_eq!(hits[0].doc.reference, format!("127.0.0.1:5000/acme/snap@{}", digest(2)));
    // Opened again after a restart: the same index.
    drop(index);
    assert_eq!(open_unpacked(&dest).unwrap().num_docs(), 3);
}

#[test]
fn a_wrong_key_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let (snap, _) = built(&SnapshotSigningKey::generate().unwrap(), work.path());
    let e = snap.verify(&keys(&SnapshotSigningKey::generate().unwrap())).unwrap_err();
    assert!(e.to_string().contains("not signed by a trusted key"), "{e}");
}

#[test]
fn a_tampered_byte_or_a_truncated_download_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let key = SnapshotSigningKey::generate().unwrap();
    let (snap, _) = built(&key, work.path());
    // A flipped byte in the archive.
    let mut payload = snap.payload.to_vec();
    let mid = payload.len() / 2;
    payload[mid] ^= 1;
    let tampered = Snapshot { payload: payload.clone().into(), ..snap.clone() };
    let e = tampered.verify(&keys(&key)).unwrap_err();
    assert!(e.to_string().contains("index archive") && e.to_string().contains("named by the manifest"), "{e}");
    // The same, with a manifest rewritten to name the tampered bytes: the signature still
    // covers the original digest.
    let m: serde_json::Value = serde_json::from_slice(&snap.manifest).unwrap();
    let mut m2 = m.clone();
    m2["layers"][0]["digest"] = Digest::of(&payload).to_string().into();
    let rewritten = Snapshot { payload: payload.into(), manifest: serde_json::to_vec(&m2).unwrap().into(), ..snap.clone() };
    let e = rewritten.verify(&keys(&key)).unwrap_err();
    assert!(e.to_string().contains("signed in the statement"), "{e}");
    // A truncated download.
    let truncated = Snapshot { payload: snap.payload.slice(..snap.payload.len() - 10), ..snap.clone() };
    assert!(truncated.verify(&keys(&key)).unwrap_err().to_string().contains("hash to"));
    // A tampered envelope.
    let mut env = snap.envelope.to_vec();
    let at = env.len() - 5;
    env[at] ^= 1;
    assert!(Snapshot { envelope: env.into(), ..snap.clone() }.verify(&keys(&key)).is_err());
    // A truncated archive file.
    let file = work.path().join("snap.tar");
    snap.write_archive(&file).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() * 2 / 3]).unwrap();
    assert!(Snapshot::read_archive(&file, &SnapshotLimits::default()).is_err());
}

/// Signs `payload` as a snapshot of `digests` with `functions` functions (a trusted signer
/// that built something wrong, or a stolen key: the contents are checked anyway).
fn signed(key: &SnapshotSigningKey, payload: Vec<u8>, digests: Vec<Digest>, functions: u64, format: u32) -> Snapshot {
    let payload = Bytes::from(payload);
    let st = Statement {
        format,
        payload: Digest::of(&payload),
        payload_size: payload.len() as u64,
        schema: SearchIndex::schema_fingerprint(),
        created: 0,
        functions,
        digests,
    };
    Snapshot::assemble(payload, &st, key)
}

/// A gzip'd tar of `(raw name, bytes, type)` entries, names written byte for byte.
fn tar_gz(entries: &[(&[u8], &[u8], tar::EntryType)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (name, bytes, kind) in entries {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_size(bytes.len() as u64);
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        if *kind == tar::EntryType::Symlink {
            h.set_link_name("/etc/passwd").unwrap();
        }
        h.set_cksum();
        tar.append(&h, *bytes).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

fn unpack_err(key: &SnapshotSigningKey, snap: &Snapshot, limits: &SnapshotLimits) -> String {
    let work = tempfile::tempdir().unwrap();
    let v = snap.verify(&keys(key)).unwrap();
    let dest = work.path().join("x");
    let e = unpack(snap, &v, &dest, limits).unwrap_err().to_string();
    assert!(!dest.exists(), "a failed unpack leaves nothing behind");
    e
}

#[test]
fn a_newer_format_is_refused() {
    let key = SnapshotSigningKey::generate().unwrap();
    let snap = signed(&key, tar_gz(&[]), vec![], 0, FORMAT_VERSION + 1);
    let e = snap.verify(&keys(&key)).unwrap_err();
    assert!(e.to_string().contains("newer than this forage reads"), "{e}");
}

#[test]
fn an_entry_whose_digest_is_not_signed_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let key = SnapshotSigningKey::generate().unwrap();
    let (good, st) = built(&key, work.path());
    // Re-pack the good archive with one more entry in entries.json, signed over the old list.
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(&good.payload[..]));
    let mut files: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path_bytes().into_owned();
        let mut b = Vec::new();
        e.read_to_end(&mut b).unwrap();
        if name == b"entries.json" {
            let mut v: Vec<Entry> = serde_json::from_slice(&b).unwrap();
            v.push(Entry { digest: digest(9), reference: "evil.example/x@sha256:…".into(), registry: "evil".into(), verified: "verified".into(), functions: 0 });
            b = serde_json::to_vec(&v).unwrap();
        }
        files.push((name, b));
    }
    let entries: Vec<(&[u8], &[u8], tar::EntryType)> = files.iter().map(|(n, b)| (&n[..], &b[..], tar::EntryType::Regular)).collect();
    let snap = signed(&key, tar_gz(&entries), st.digests.clone(), st.functions, FORMAT_VERSION);
    let e = unpack_err(&key, &snap, &SnapshotLimits::default());
    assert!(e.contains(&digest(9).to_string()) && e.contains("not in the signed manifest of digests"), "{e}");
    // And an index holding a component the statement leaves out.
    let fewer: Vec<Digest> = st.digests[..1].to_vec();
    let snap = signed(&key, good.payload.to_vec(), fewer, st.functions, FORMAT_VERSION);
    let e = unpack_err(&key, &snap, &SnapshotLimits::default());
    assert!(e.contains("not in the signed manifest") || e.contains("does not sign"), "{e}");
}

#[test]
fn a_decompression_bomb_stops_at_the_unpacked_limit() {
    let key = SnapshotSigningKey::generate().unwrap();
    let zeros = vec![0u8; 8 << 20];
    let payload = tar_gz(&[(b"index/meta.json", &zeros, tar::EntryType::Regular)]);
    assert!(payload.len() < 64 << 10, "8 MiB of zeros compresses to {} bytes", payload.len());
    let snap = signed(&key, payload, vec![], 0, FORMAT_VERSION);
    let limits = SnapshotLimits { max_unpacked_bytes: 1 << 20, ..SnapshotLimits::default() };
    let e = unpack_err(&key, &snap, &limits);
    assert!(e.contains("decompression bomb"), "{e}");
}

#[test]
fn path_traversal_and_links_inside_the_archive_are_refused() {
    let key = SnapshotSigningKey::generate().unwrap();
    let outside = tempfile::tempdir().unwrap();
    for (name, kind) in [
        (&b"../escaped"[..], tar::EntryType::Regular),
        (b"index/../../escaped", tar::EntryType::Regular),
        (b"/tmp/escaped", tar::EntryType::Regular),
        (b"index/sub/dir", tar::EntryType::Regular),
        (b"index/link", tar::EntryType::Symlink),
        (b"index/fifo", tar::EntryType::Fifo),
    ] {
        let snap = signed(&key, tar_gz(&[(name, b"x", kind)]), vec![], 0, FORMAT_VERSION);
        let e = unpack_err(&key, &snap, &SnapshotLimits::default());
        assert!(e.contains("unexpected path") || e.contains("only regular files"), "{}: {e}", String::from_utf8_lossy(name));
    }
    assert!(!outside.path().join("escaped").exists());
    // An archive file with a stray entry is refused too.
    let file = outside.path().join("bad.tar");
    let mut tar = tar::Builder::new(std::fs::File::create(&file).unwrap());
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..12].copy_from_slice(b"../index.txt");
    h.set_size(1);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    tar.append(&h, &b"x"[..]).unwrap();
    tar.finish().unwrap();
    let e = Snapshot::read_archive(&file, &SnapshotLimits::default()).unwrap_err().to_string();
    assert!(e.contains("unexpected entry"), "{e}");
}

#[test]
fn a_manifest_that_is_not_a_snapshot_is_refused_by_shape() {
    let work = tempfile::tempdir().unwrap();
    let key = SnapshotSigningKey::generate().unwrap();
    let (snap, _) = built(&key, work.path());
    let m: serde_json::Value = serde_json::from_slice(&snap.manifest).unwrap();
    let mut no_sig = m.clone();
    no_sig["layers"].as_array_mut().unwrap().pop();
    let mut other = m.clone();
    other["artifactType"] = "application/vnd.example.other".into();
    for (m, want) in [(no_sig, "unsigned"), (other, "not a forage snapshot")] {
        let s = Snapshot { manifest: serde_json::to_vec(&m).unwrap().into(), ..snap.clone() };
        let e = s.verify(&keys(&key)).unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    }
}
