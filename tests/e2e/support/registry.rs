//! A real OCI distribution registry for tests: Debian's `docker-registry` (CNCF distribution
//! 2.8) as a child process on a free loopback port, with its storage in a temp dir.
//!
//! ```ignore
//! let reg = Registry::start(RegistryAuth::Basic { user: "u".into(), pass: "p".into() });
//! push(&reg, layout_dir, "components/hello:1.0");
//! let r = reg.reference("components/hello:1.0"); // "127.0.0.1:PORT/components/hello:1.0"
//! ```
//!
//! The process is killed (by PID) when the [`Registry`] is dropped. Set `FORAGE_TEST_REGISTRY_LOG=1`
//! to keep the registry's own log level at `debug` (it goes to `registry.log` in the temp dir).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::token_server::{self, TokenServer};

/// The registry's config file, in its temp dir.
const CONFIG_FILE: &str = "config.yml";

/// The registry binary (override with `FORAGE_TEST_REGISTRY_BIN`).
pub fn registry_bin() -> PathBuf {
    std::env::var_os("FORAGE_TEST_REGISTRY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/docker-registry".into())
}

/// Fails the test, naming the package to install, when the registry binary is missing: a test
/// that needs the real registry must not pass without one (CI installs it).
pub fn require_registry() {
    let bin = registry_bin();
    assert!(
        bin.exists(),
        "{} is missing: install Debian's `docker-registry` package (or set FORAGE_TEST_REGISTRY_BIN)",
        bin.display()
    );
}

/// How the registry authenticates clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryAuth {
    /// Anyone may pull and push.
    None,
    /// HTTP basic auth against an htpasswd file (bcrypt).
    Basic {
        /// The one user.
        user: String,
        /// Their password.
        pass: String,
    },
    /// Docker token auth: a [`TokenServer`] on loopback issues JWTs for these credentials.
    Bearer {
        /// The one user the token server knows.
        user: String,
        /// Their password.
        pass: String,
    },
}

impl RegistryAuth {
    /// `(user, pass)`, when there are credentials.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        match self {
            Self::None => None,
            Self::Basic { user, pass } | Self::Bearer { user, pass } => Some((user, pass)),
        }
    }
}

/// A running registry. Dropping it kills the process.
pub struct Registry {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// How it authenticates.
    pub auth: RegistryAuth,
    /// The token server, in [`RegistryAuth::Bearer`] mode.
    pub token_server: Option<TokenServer>,
    /// Serving HTTPS (self-signed) rather than plain HTTP.
    pub tls: bool,
    child: Child,
    storage: PathBuf,
    // Last, so the directory outlives the process that writes in it.
    dir: tempfile::TempDir,
}

impl Registry {
    /// Writes a config, starts `docker-registry serve CONFIG` (plain HTTP) and waits until
    /// `/v2/` answers.
    pub fn start(auth: RegistryAuth) -> Registry {
        Self::start_with(auth, false)
    }

    /// Like [`Registry::start`], serving HTTPS with a self-signed certificate for 127.0.0.1.
    pub fn start_tls(auth: RegistryAuth) -> Registry {
        Self::start_with(auth, true)
    }

    fn start_with(auth: RegistryAuth, tls: bool) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("forage-registry-")
            .tempdir()
            .expect("temp dir");
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).expect("storage dir");
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

        let mut token_server = None;
        let auth_yaml = match &auth {
            RegistryAuth::None => String::new(),
            RegistryAuth::Basic { user, pass } => {
                let htpasswd = dir.path().join("htpasswd");
                std::fs::write(&htpasswd, htpasswd_line(user, pass)).expect("write htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: forage-test\n    path: {}\n",
                    htpasswd.display()
                )
            }
            RegistryAuth::Bearer { user, pass } => {
                let ts = TokenServer::start(dir.path(), user, pass);
                let yaml = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    ts.realm(),
                    token_server::SERVICE,
                    token_server::ISSUER,
                    ts.cert_path.display()
                );
                token_server = Some(ts);
                yaml
            }
        };
        let tls_yaml = if tls {
            let (cert, key) = (
                dir.path().join("tls-cert.pem"),
                dir.path().join("tls-key.pem"),
            );
            let out = Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                ])
                .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
                .args(["-addext", "subjectAltName=IP:127.0.0.1"])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&cert)
                .output()
                .expect("run openssl for the registry certificate");
            assert!(
                out.status.success(),
                "openssl failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            )
        } else {
            String::new()
        };
        let level = if std::env::var_os("FORAGE_TEST_REGISTRY_LOG").is_some() {
            "debug"
        } else {
            "warn"
        };
        let config = format!(
            "version: 0.1\n\
             log:\n  level: {level}\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  cache:\n    blobdescriptor: inmemory\n\
             http:\n  addr: {addr}\n  secret: forage-test-secret\n{tls_yaml}\
             {auth_yaml}",
            storage.display()
        );
        let config_path = dir.path().join(CONFIG_FILE);
        std::fs::write(&config_path, config).expect("write registry config");

        let log = std::fs::File::create(dir.path().join("registry.log")).expect("registry log");
        let child = Command::new(registry_bin())
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", registry_bin().display()));
        let mut registry = Registry {
            addr,
            auth,
            token_server,
            tls,
            child,
            storage,
            dir,
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("docker-registry exited early ({status}):\n{}", self.log());
            }
            if let Some(status) = http_status(self.addr, "/v2/") {
                // 200 without auth, 401 with it, 400 for plain HTTP to the TLS port: up.
                assert!(
                    status == 200 || status == 401 || (self.tls && status == 400),
                    "unexpected /v2/ status {status}:\n{}",
                    self.log()
                );
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "docker-registry did not answer on {} within 20s:\n{}",
                    self.addr,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT`, as written in references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `127.0.0.1:PORT/<repo_and_tag>`.
    pub fn reference(&self, repo_and_tag: &str) -> String {
        format!("{}/{repo_and_tag}", self.host())
    }

    /// The registry's storage root (filesystem driver).
    pub fn storage_dir(&self) -> &Path {
        &self.storage
    }

    /// The temp dir holding config, storage and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where the filesystem driver keeps the blob `sha256:<hex>`: overwrite it to make the
    /// registry serve corrupt content.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Kills the registry now (the port then refuses connections).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the registry again after [`Registry::stop`] (or a crash): same port, config and
    /// storage.
    pub fn restart(&mut self) {
        self.stop();
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("registry.log"))
            .expect("registry log");
        self.child = Command::new(registry_bin())
            .arg("serve")
            .arg(self.dir.path().join(CONFIG_FILE))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("restart docker-registry");
        self.wait_ready();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind :0")
        .local_addr()
        .unwrap()
        .port()
}

/// `user:bcrypt-hash`, via `htpasswd -Bbn` (apache2-utils); distribution only accepts bcrypt.
fn htpasswd_line(user: &str, pass: &str) -> String {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, pass])
        .output()
        .expect("run htpasswd (apache2-utils)");
    assert!(
        out.status.success(),
        "htpasswd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("htpasswd output")
        .trim()
        .to_string()
        + "\n"
}

/// The status of a plain `GET path` against `addr`, or `None` if nothing answers.
pub fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    use std::io::{Read as _, Write as _};
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let line = std::str::from_utf8(&buf[..n]).ok()?;
    line.split(' ').nth(1)?.parse().ok()
}
