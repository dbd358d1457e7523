//! The fetch layer against a real registry (docker-registry 2.8) in each auth mode, and
//! against image layouts and files.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use forage_indexer::fetch::{
    Credentials, FetchError, FetchLimits, FetchedArtifact, Fetcher, FetcherConfig,
    RegistrySettings, WASM_CONFIG_MEDIA_TYPE,
};
use forage_indexer::reference::ComponentRef;
use forage_policy::Digest;

use crate::support::layout_writer::{
    self, CORE_MODULE, ComponentArtifact, fixture, push, push_http, write_layout,
};
use crate::support::registry::{Registry, RegistryAuth, free_port};

fn types_component() -> Vec<u8> {
    fixture("types.wasm")
}

fn types_wit() -> Vec<u8> {
    fixture("types.wit.wasm")
}

fn fetcher_for(registry: &Registry, credentials: Credentials, limits: FetchLimits) -> Fetcher {
    let mut registries = HashMap::new();
    registries.insert(
        registry.host(),
        RegistrySettings {
            insecure: true,
            credentials,
        },
    );
    Fetcher::new(FetcherConfig { limits, registries }).expect("fetcher")
}

fn basic(user: &str, pass: &str) -> Credentials {
    Credentials::Basic {
        username: user.into(),
        password: pass.into(),
    }
}

async fn fetch(fetcher: &Fetcher, reference: &str) -> Result<FetchedArtifact, FetchError> {
    let r: ComponentRef = reference
        .parse()
        .unwrap_or_else(|e| panic!("parse {reference}: {e}"));
    fetcher.fetch(&r).await
}

/// Writes the standard artifact (component + WIT package) and pushes it as `repo:tag`.
fn publish(
    registry: &Registry,
    tmp: &std::path::Path,
    artifact: &ComponentArtifact,
    repo: &str,
    tag: &str,
) -> layout_writer::WrittenArtifact {
    let dir = tmp.join(format!("{}-{tag}", repo.replace('/', "_")));
    let written = write_layout(&dir, artifact, tag);
    push(registry, &dir, tag, &format!("{repo}:{tag}"));
    written
}

fn assert_types_artifact(
    got: &FetchedArtifact,
    registry: &Registry,
    repo: &str,
    written: &layout_writer::WrittenArtifact,
) {
    assert_eq!(got.digest.to_string(), written.manifest_digest);
    assert_eq!(
        got.reference,
        format!("{}/{repo}@{}", registry.host(), written.manifest_digest)
    );
    assert_eq!(got.component.as_ref(), types_component().as_slice());
    assert_eq!(got.component_digest.to_string(), written.component_digest);
    assert_eq!(
        got.manifest.as_deref(),
        Some(written.manifest.as_slice()),
        "skopeo kept the manifest bytes"
    );
    assert_eq!(
        got.config_media_type.as_deref(),
        Some(WASM_CONFIG_MEDIA_TYPE)
    );
    assert_eq!(
        got.annotations
            .get("org.opencontainers.image.title")
            .map(String::as_str),
        Some("types")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_anonymous_pull_pins_the_tag_to_a_digest() {
    let registry = Registry::start(RegistryAuth::None);
    let tmp = tempfile::tempdir().unwrap();
    let artifact = ComponentArtifact::new(types_component()).with_wit_package(types_wit());
    let v1 = publish(
        &registry,
        tmp.path(),
        &artifact,
        "components/types",
        "0.1.0",
    );

    // Loopback registries need no settings (plain HTTP, anonymous).
    let fetcher = Fetcher::default();
    let got = fetch(&fetcher, &registry.reference("components/types:0.1.0"))
        .await
        .expect("anonymous pull");
    assert_types_artifact(&got, &registry, "components/types", &v1);
    assert_eq!(got.tag.as_deref(), Some("0.1.0"));
    assert_eq!(
        got.wit_package.as_deref(),
        Some(types_wit().as_slice()),
        "the WIT layer is told apart by decoding"
    );

    // `oci://` and the pinned reference reach the same bytes.
    let again = fetch(&fetcher, &format!("oci://{}", got.reference))
        .await
        .expect("pinned pull");
    assert_eq!(again.digest, got.digest);
    assert_eq!(again.tag, None);

    // Move the tag: the tag now resolves to the new digest, the pinned reference does not move.
    let moved = ComponentArtifact::new(types_component())
        .with_wit_package(types_wit())
        .annotate("org.opencontainers.image.version", "0.1.1");
    let v2 = publish(&registry, tmp.path(), &moved, "components/types", "0.1.0");
    assert_ne!(v1.manifest_digest, v2.manifest_digest);
    let r: forage_indexer::reference::OciRef = registry
        .reference("components/types:0.1.0")
        .parse()
        .unwrap();
    assert_eq!(
        fetcher.resolve(&r).await.unwrap().to_string(),
        v2.manifest_digest
    );
    let pinned = fetch(&fetcher, &got.reference)
        .await
        .expect("old digest still there");
    assert_eq!(pinned.digest.to_string(), v1.manifest_digest);

    // Layer order does not matter: the WIT package first, the component second.
    let mut reversed = artifact.clone();
    reversed.wit_first = true;
    publish(
        &registry,
        tmp.path(),
        &reversed,
        "components/types",
        "reversed",
    );
    let got = fetch(&fetcher, &registry.reference("components/types:reversed"))
        .await
        .expect("reversed layers");
    assert_eq!(got.component.as_ref(), types_component().as_slice());
    assert_eq!(got.wit_package.as_deref(), Some(types_wit().as_slice()));

    // A component alone.
    publish(
        &registry,
        tmp.path(),
        &ComponentArtifact::new(types_component()),
        "components/plain",
        "1",
    );
    let got = fetch(&fetcher, &registry.reference("components/plain:1"))
        .await
        .expect("single layer");
    assert!(got.wit_package.is_none());

    let repos = fetcher
        .catalog(&registry.host())
        .await
        .expect("catalog")
        .expect("2.8 has a catalog");
    assert_eq!(
        repos,
        vec![
            "components/plain".to_string(),
            "components/types".to_string()
        ]
    );

    let tags = fetcher
        .list_tags(&registry.host(), "components/types")
        .await
        .expect("tags");
    assert!(
        tags.contains(&"0.1.0".to_string()) && tags.contains(&"reversed".to_string()),
        "{tags:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_basic_auth_right_and_wrong_password() {
    let registry = Registry::start(RegistryAuth::Basic {
        user: "alice".into(),
        pass: "s3cret".into(),
    });
    let tmp = tempfile::tempdir().unwrap();
    let written = publish(
        &registry,
        tmp.path(),
        &ComponentArtifact::new(types_component()),
        "acme/types",
        "1.0",
    );
    let reference = registry.reference("acme/types:1.0");

    let ok = fetcher_for(&registry, basic("alice", "s3cret"), FetchLimits::default());
    let got = fetch(&ok, &reference).await.expect("basic auth pull");
    assert_types_artifact(&got, &registry, "acme/types", &written);

    let repos = ok
        .catalog(&registry.host())
        .await
        .expect("catalog with basic auth");
    assert_eq!(repos, Some(vec!["acme/types".to_string()]));

    let wrong = fetcher_for(&registry, basic("alice", "wrong"), FetchLimits::default());
    let err = fetch(&wrong, &reference).await.expect_err("wrong password");
    assert!(
        matches!(err, FetchError::AuthFailed { status: 401, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("authentication failed for registry") && msg.contains(&registry.host()),
        "{msg}"
    );

    let anonymous = fetcher_for(&registry, Credentials::Anonymous, FetchLimits::default());
    let err = fetch(&anonymous, &reference)
        .await
        .expect_err("no credentials");
    assert!(matches!(err, FetchError::AuthFailed { .. }), "{err:?}");

    // Credentials from a docker config.json.
    let config = tmp.path().join("docker-config.json");
    let auth = base64_encode("alice:s3cret");
    std::fs::write(
        &config,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
            registry.host()
        ),
    )
    .unwrap();
    let docker = fetcher_for(
        &registry,
        Credentials::DockerConfig(Some(config)),
        FetchLimits::default(),
    );
    fetch(&docker, &reference)
        .await
        .expect("docker config credentials");

    // The in-process pusher works with basic auth too.
    let dir = tmp.path().join("http-push");
    let w = write_layout(
        &dir,
        &ComponentArtifact::new(types_component()).with_wit_package(types_wit()),
        "2.0",
    );
    push_http(&registry, &dir, &w, "acme/types:2.0").await;
    let got = fetch(&ok, &registry.reference("acme/types:2.0"))
        .await
        .expect("pull what push_http pushed");
    assert_eq!(got.digest.to_string(), w.manifest_digest);
    assert!(got.wit_package.is_some());
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_bearer_token_auth() {
    let registry = Registry::start(RegistryAuth::Bearer {
        user: "bob".into(),
        pass: "hunter2".into(),
    });
    let tmp = tempfile::tempdir().unwrap();
    // skopeo goes through the token server too.
    let written = publish(
        &registry,
        tmp.path(),
        &ComponentArtifact::new(types_component()).with_wit_package(types_wit()),
        "acme/types",
        "1.0",
    );
    let reference = registry.reference("acme/types:1.0");
    let issued_before = registry
        .token_server
        .as_ref()
        .unwrap()
        .issued
        .load(Ordering::SeqCst);
    assert!(
        issued_before > 0,
        "skopeo got its push token from the token server"
    );

    let ok = fetcher_for(&registry, basic("bob", "hunter2"), FetchLimits::default());
    let got = fetch(&ok, &reference).await.expect("bearer pull");
    assert_types_artifact(&got, &registry, "acme/types", &written);
    assert!(
        registry
            .token_server
            .as_ref()
            .unwrap()
            .issued
            .load(Ordering::SeqCst)
            > issued_before
    );

    let repos = ok
        .catalog(&registry.host())
        .await
        .expect("catalog with a registry:catalog:* token");
    assert_eq!(repos, Some(vec!["acme/types".to_string()]));

    let wrong = fetcher_for(&registry, basic("bob", "nope"), FetchLimits::default());
    let err = wrong
        .catalog(&registry.host())
        .await
        .expect_err("catalog with wrong password");
    assert!(matches!(err, FetchError::AuthFailed { .. }), "{err:?}");
    let err = fetch(&wrong, &reference)
        .await
        .expect_err("wrong password at the token server");
    assert!(matches!(err, FetchError::AuthFailed { .. }), "{err:?}");
    assert!(err.to_string().contains(&registry.host()), "{err}");

    // Anonymous: a token without access, then 401 from the registry.
    let anonymous = fetcher_for(&registry, Credentials::Anonymous, FetchLimits::default());
    let err = fetch(&anonymous, &reference)
        .await
        .expect_err("anonymous token has no access");
    assert!(matches!(err, FetchError::AuthFailed { .. }), "{err:?}");

    // A static bearer token the registry did not issue.
    let forged = fetcher_for(
        &registry,
        Credentials::Bearer("not-a-jwt".into()),
        FetchLimits::default(),
    );
    let err = fetch(&forged, &reference).await.expect_err("forged token");
    assert!(matches!(err, FetchError::AuthFailed { .. }), "{err:?}");

    // The in-process pusher negotiates a push token.
    let dir = tmp.path().join("http-push");
    let w = write_layout(&dir, &ComponentArtifact::new(types_component()), "2.0");
    push_http(&registry, &dir, &w, "acme/types:2.0").await;
    let got = fetch(&ok, &registry.reference("acme/types:2.0"))
        .await
        .expect("pull what push_http pushed");
    assert_eq!(got.digest.to_string(), w.manifest_digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_down_not_found_and_corrupt() {
    // Nothing listening.
    let down = format!("127.0.0.1:{}/acme/types:1.0", free_port());
    let err = fetch(&Fetcher::default(), &down)
        .await
        .expect_err("registry down");
    assert!(matches!(err, FetchError::Unreachable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("unreachable") && msg.contains(down.split('/').next().unwrap()),
        "{msg}"
    );

    let mut registry = Registry::start(RegistryAuth::None);
    let tmp = tempfile::tempdir().unwrap();
    let written = publish(
        &registry,
        tmp.path(),
        &ComponentArtifact::new(types_component()),
        "acme/types",
        "1.0",
    );
    let fetcher = Fetcher::default();

    // Unknown tag, unknown repository, unknown digest.
    let err = fetch(&fetcher, &registry.reference("acme/types:9.9"))
        .await
        .expect_err("no such tag");
    assert!(matches!(err, FetchError::NotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("tag `9.9`") && msg.contains("acme/types") && msg.contains(&registry.host()),
        "{msg}"
    );
    let err = fetch(&fetcher, &registry.reference("acme/nothing:1.0"))
        .await
        .expect_err("no such repo");
    assert!(matches!(err, FetchError::NotFound { .. }), "{err:?}");
    let missing = Digest::of(b"nothing");
    let err = fetch(
        &fetcher,
        &registry.reference(&format!("acme/types@{missing}")),
    )
    .await
    .expect_err("no such digest");
    assert!(matches!(err, FetchError::NotFound { .. }), "{err:?}");

    // Oversized: a cap below the component's size.
    let small = Fetcher::new(FetcherConfig {
        limits: FetchLimits {
            max_blob_bytes: 1024,
            ..FetchLimits::default()
        },
        ..FetcherConfig::default()
    })
    .unwrap();
    let err = fetch(&small, &registry.reference("acme/types:1.0"))
        .await
        .expect_err("oversized");
    assert!(
        matches!(err, FetchError::TooLarge { limit: 1024, .. }),
        "{err:?}"
    );
    let tiny_manifest = Fetcher::new(FetcherConfig {
        limits: FetchLimits {
            max_manifest_bytes: 64,
            ..FetchLimits::default()
        },
        ..FetcherConfig::default()
    })
    .unwrap();
    let err = fetch(&tiny_manifest, &registry.reference("acme/types:1.0"))
        .await
        .expect_err("oversized manifest");
    assert!(
        matches!(err, FetchError::TooLarge { limit: 64, .. }),
        "{err:?}"
    );

    // A core module and a non-wasm blob are refused by name.
    publish(
        &registry,
        tmp.path(),
        &ComponentArtifact::new(CORE_MODULE),
        "acme/core",
        "1",
    );
    let err = fetch(&fetcher, &registry.reference("acme/core:1"))
        .await
        .expect_err("core module");
    assert!(
        err.to_string()
            .contains("is a core wasm module, not a component"),
        "{err}"
    );
    publish(
        &registry,
        tmp.path(),
        &ComponentArtifact::new(b"hello".to_vec()),
        "acme/text",
        "1",
    );
    let err = fetch(&fetcher, &registry.reference("acme/text:1"))
        .await
        .expect_err("not wasm");
    assert!(matches!(err, FetchError::NotAComponent { .. }), "{err:?}");
    // A WIT package alone is not a component.
    publish(
        &registry,
        tmp.path(),
        &ComponentArtifact::new(types_wit()),
        "acme/wit",
        "1",
    );
    let err = fetch(&fetcher, &registry.reference("acme/wit:1"))
        .await
        .expect_err("WIT only");
    assert!(err.to_string().contains("WIT package"), "{err}");

    // Corrupt the component blob in the registry's storage (same length, other bytes).
    let blob = registry.blob_path(&written.component_digest);
    let mut bytes = std::fs::read(&blob).expect("blob in storage");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();
    let err = fetch(&fetcher, &registry.reference("acme/types:1.0"))
        .await
        .expect_err("digest mismatch");
    assert!(matches!(err, FetchError::DigestMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains(&written.component_digest), "{err}");

    // Stopped registry: unreachable again.
    registry.stop();
    let err = fetch(&fetcher, &registry.reference("acme/types:1.0"))
        .await
        .expect_err("stopped");
    assert!(matches!(err, FetchError::Unreachable { .. }), "{err:?}");
}

#[tokio::test]
async fn layout_and_file_fetch() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("layout");
    let v1 = write_layout(
        &dir,
        &ComponentArtifact::new(types_component()).with_wit_package(types_wit()),
        "1.0",
    );
    let fetcher = Fetcher::default();

    // The only manifest, no tag needed.
    let got = fetch(&fetcher, &format!("layout:{}", dir.display()))
        .await
        .expect("only manifest");
    assert_eq!(got.digest.to_string(), v1.manifest_digest);
    assert_eq!(
        got.reference,
        format!("layout:{}@{}", dir.display(), v1.manifest_digest)
    );
    assert_eq!(got.wit_package.as_deref(), Some(types_wit().as_slice()));

    // Two tags: a tag is then required, and the pinned reference round-trips.
    let v2 = write_layout(
        &dir,
        &ComponentArtifact::new(types_component()).annotate("x", "y"),
        "2.0",
    );
    let err = fetch(&fetcher, &format!("layout:{}", dir.display()))
        .await
        .expect_err("ambiguous");
    assert!(
        err.to_string().contains("1.0") && err.to_string().contains("2.0"),
        "{err}"
    );
    let got = fetch(&fetcher, &format!("layout:{}:2.0", dir.display()))
        .await
        .expect("by tag");
    assert_eq!(got.digest.to_string(), v2.manifest_digest);
    assert_eq!(got.tag.as_deref(), Some("2.0"));
    let pinned = fetch(&fetcher, &got.reference)
        .await
        .expect("pinned layout reference");
    assert_eq!(pinned.digest, got.digest);
    let err = fetch(&fetcher, &format!("layout:{}:3.0", dir.display()))
        .await
        .expect_err("no such tag");
    assert!(
        matches!(err, FetchError::LayoutSelection { .. }) && err.to_string().contains("3.0"),
        "{err}"
    );

    // Corrupt a layout blob.
    let blob = dir.join("blobs/sha256").join(&v1.component_digest[7..]);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();
    let err = fetch(&fetcher, &format!("layout:{}:1.0", dir.display()))
        .await
        .expect_err("corrupt");
    assert!(matches!(err, FetchError::DigestMismatch { .. }), "{err:?}");

    // Not a layout.
    let err = fetch(&fetcher, &format!("layout:{}", tmp.path().display()))
        .await
        .expect_err("no oci-layout");
    assert!(
        matches!(err, FetchError::Io { .. }) && err.to_string().contains("oci-layout"),
        "{err}"
    );

    // Files.
    let file = tmp.path().join("types.wasm");
    std::fs::write(&file, types_component()).unwrap();
    let got = fetch(&fetcher, &file.display().to_string())
        .await
        .expect("file");
    assert_eq!(got.digest, Digest::of(&types_component()));
    assert_eq!(got.reference, file.display().to_string());
    assert!(got.manifest.is_none());
    let core = tmp.path().join("core.wasm");
    std::fs::write(&core, CORE_MODULE).unwrap();
    let err = fetch(&fetcher, &core.display().to_string())
        .await
        .expect_err("core module file");
    assert!(
        err.to_string()
            .contains("is a core wasm module, not a component"),
        "{err}"
    );
    let wit = tmp.path().join("types.wit.wasm");
    std::fs::write(&wit, types_wit()).unwrap();
    let err = fetch(&fetcher, &wit.display().to_string())
        .await
        .expect_err("WIT package file");
    assert!(err.to_string().contains("WIT package"), "{err}");
    let small = Fetcher::new(FetcherConfig {
        limits: FetchLimits {
            max_blob_bytes: 100,
            ..FetchLimits::default()
        },
        ..FetcherConfig::default()
    })
    .unwrap();
    let err = fetch(&small, &file.display().to_string())
        .await
        .expect_err("file too large");
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err:?}");
    let err = fetch(&fetcher, "/nonexistent/x.wasm")
        .await
        .expect_err("missing file");
    assert!(err.to_string().contains("/nonexistent/x.wasm"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_self_signed_tls_needs_insecure() {
    let registry = Registry::start_tls(RegistryAuth::Basic {
        user: "carol".into(),
        pass: "pw".into(),
    });
    let tmp = tempfile::tempdir().unwrap();
    let written = publish(
        &registry,
        tmp.path(),
        &ComponentArtifact::new(types_component()).with_wit_package(types_wit()),
        "acme/types",
        "1.0",
    );
    let reference = registry.reference("acme/types:1.0");

    // `insecure`: HTTPS without certificate checks (tried before plain HTTP).
    let insecure = fetcher_for(&registry, basic("carol", "pw"), FetchLimits::default());
    let got = fetch(&insecure, &reference)
        .await
        .expect("self-signed with insecure");
    assert_types_artifact(&got, &registry, "acme/types", &written);
    let repos = insecure
        .catalog(&registry.host())
        .await
        .expect("catalog over TLS");
    assert_eq!(repos, Some(vec!["acme/types".to_string()]));

    // Without it, the certificate is checked and refused.
    let mut registries = HashMap::new();
    registries.insert(
        registry.host(),
        RegistrySettings {
            insecure: false,
            credentials: basic("carol", "pw"),
        },
    );
    let strict = Fetcher::new(FetcherConfig {
        limits: FetchLimits::default(),
        registries,
    })
    .unwrap();
    let err = fetch(&strict, &reference)
        .await
        .expect_err("self-signed refused");
    assert!(matches!(err, FetchError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains(&registry.host()), "{err}");
}
