//! A Docker registry token service for tests (the protocol of distribution's
//! `docs/spec/auth/token.md`), good enough for `docker-registry` 2.8 to accept its tokens.
//!
//! `GET /token?service=…&scope=repository:NAME:pull,push` with HTTP basic credentials returns
//! `{"token": JWT, "access_token": JWT, "expires_in": 300}`. Right credentials get the access
//! asked for; no credentials get a token with no access (as Docker Hub does for anonymous
//! pulls of private repositories); wrong credentials get 401.
//!
//! The JWT is ES256-signed with a throwaway P-256 key whose self-signed certificate (made with
//! the `openssl` command) is the registry's `rootcertbundle`. The header names the key by
//! `kid`, in libtrust's key-ID format, which is how distribution 2.8 finds a trusted key
//! (`registry/auth/token/token.go`: x5c, else jwk, else kid looked up among the root certs'
//! public keys).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The `service` the registry is configured with and the token's audience.
pub const SERVICE: &str = "forage-test-registry";
/// The token issuer the registry trusts.
pub const ISSUER: &str = "forage-test-issuer";

/// A running token server; stops when dropped.
pub struct TokenServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// PEM certificate to give the registry as `rootcertbundle`.
    pub cert_path: PathBuf,
    /// How many tokens it has issued (with or without access).
    pub issued: Arc<AtomicUsize>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct State {
    user: String,
    pass: String,
    key: SigningKey,
    kid: String,
    issued: Arc<AtomicUsize>,
}

impl TokenServer {
    /// Generates a key and certificate in `dir` and starts serving on a free loopback port,
    /// accepting `user`/`pass`.
    pub fn start(dir: &Path, user: &str, pass: &str) -> TokenServer {
        let key_path = dir.join("token-key.pem");
        let cert_path = dir.join("token-cert.pem");
        let out = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
            ])
            .arg("-keyout")
            .arg(&key_path)
            .arg("-out")
            .arg(&cert_path)
            .args(["-subj", "/CN=forage-test-token-issuer", "-days", "2"])
            .output()
            .expect("run openssl to make the token signing certificate");
        assert!(
            out.status.success(),
            "openssl req failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pem = std::fs::read_to_string(&key_path).expect("read token key");
        let key = SigningKey::from_pkcs8_pem(&pem).expect("openssl writes a PKCS#8 P-256 key");
        let spki = key
            .verifying_key()
            .to_public_key_der()
            .expect("SPKI of the token key");
        let kid = libtrust_key_id(spki.as_bytes());

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind token server");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("token server address");
        let issued = Arc::new(AtomicUsize::new(0));
        let state = Arc::new(State {
            user: user.into(),
            pass: pass.into(),
            key,
            kid,
            issued: issued.clone(),
        });
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        // Its own thread and runtime: the registry under test must keep getting tokens however
        // the test's runtime is busy (or blocked in a synchronous call).
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let state = state.clone();
                            tokio::spawn(async move { let _ = serve(stream, &state).await; });
                        }
                    }
                }
            });
        });
        TokenServer {
            addr,
            cert_path,
            issued,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// The realm URL to configure in the registry.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// libtrust's key ID: SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32 without
/// padding, in twelve `:`-separated groups of four.
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    let hash = Sha256::digest(spki_der);
    let b32 = base32(&hash[..30]);
    b32.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":")
}

fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Handles one HTTP/1.1 request and closes the connection.
async fn serve(mut stream: tokio::net::TcpStream, state: &State) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > 64 * 1024 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let mut lines = head.split("\r\n");
    let target = lines
        .next()
        .unwrap_or_default()
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let authorization = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.trim().to_string());

    let (status, body) = respond(&target, authorization.as_deref(), state);
    let reason = if status == 200 {
        "OK"
    } else if status == 401 {
        "Unauthorized"
    } else {
        "Not Found"
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if status == 401 {
        response.push_str("WWW-Authenticate: Basic realm=\"forage-test-token\"\r\n");
    }
    response.push_str("\r\n");
    response.push_str(&body);
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

fn respond(target: &str, authorization: Option<&str>, state: &State) -> (u16, String) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/token" {
        return (404, r#"{"error":"not found"}"#.into());
    }
    let params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();

    let subject = match authorization.and_then(|a| a.strip_prefix("Basic ")) {
        Some(b64) => {
            let decoded = STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok());
            match decoded.as_deref().and_then(|d| d.split_once(':')) {
                Some((u, p)) if u == state.user && p == state.pass => Some(u.to_string()),
                _ => return (401, r#"{"errors":[{"code":"UNAUTHORIZED","message":"invalid username or password"}]}"#.into()),
            }
        }
        None => None,
    };

    // Authenticated users get what they ask for; anonymous callers get a token with no access.
    let access: Vec<serde_json::Value> = if subject.is_some() {
        params
            .iter()
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
            .filter_map(|scope| {
                let mut parts = scope.splitn(3, ':');
                let (kind, rest) = (parts.next()?, parts.collect::<Vec<_>>());
                // `repository:name:actions`; the name may hold a `host:port/` prefix in theory,
                // so split the actions off the end.
                let joined = rest.join(":");
                let (name, actions) = joined.rsplit_once(':')?;
                Some(serde_json::json!({
                    "type": kind,
                    "name": name,
                    "actions": actions.split(',').collect::<Vec<_>>(),
                }))
            })
            .collect()
    } else {
        Vec::new()
    };

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let n = state.issued.fetch_add(1, Ordering::SeqCst);
    let header = serde_json::json!({ "typ": "JWT", "alg": "ES256", "kid": state.kid });
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": subject.clone().unwrap_or_default(),
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("forage-test-{now}-{n}"),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature: Signature = state.key.sign(signing_input.as_bytes());
    let token = format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    );
    let body = serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": 300,
        "issued_at": chrono_like(now),
    });
    (200, body.to_string())
}

/// RFC 3339 for a UNIX time, without pulling in a date crate.
fn chrono_like(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_and_dates() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(chrono_like(0), "1970-01-01T00:00:00Z");
        assert_eq!(chrono_like(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(
            percent_decode("repository%3Aa%2Fb%3Apull"),
            "repository:a/b:pull"
        );
        assert_eq!(libtrust_key_id(b"x").len(), 59);
    }
}
