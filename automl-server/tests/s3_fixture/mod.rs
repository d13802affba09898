//! A real S3-compatible server for a test: `moto_server` (PyPI `moto[server]`, installed by
//! scripts/setup.d/61-moto.sh into target/moto-venv) started on a free loopback port, killed
//! (by its own pid) when dropped. Fails the test, naming the fix, when it is not installed.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto_server.
pub struct MotoServer {
    child: Child,
    port: u16,
}

fn binary() -> PathBuf {
    if let Ok(b) = std::env::var("MOTO_SERVER") {
        return PathBuf::from(b);
    }
    let venv = std::env::var("AUTOML_MOTO_VENV").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/moto-venv"),
        PathBuf::from,
    );
    venv.join("bin/moto_server")
}

/// One HTTP/1.1 request without a body; the status code, or `None` when nothing answers.
fn http(port: u16, method: &str, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    head.split(' ').nth(1)?.parse().ok()
}

impl MotoServer {
    /// Starts one and waits until it answers.
    pub fn start() -> Self {
        let bin = binary();
        for _ in 0..5 {
            let port = super::redis_fixture::free_port();
            let child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start {} ({e}): install it with scripts/setup.d/61-moto.sh",
                        bin.display()
                    )
                });
            let mut server = MotoServer { child, port };
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(60) {
                if let Ok(Some(_)) = server.child.try_wait() {
                    break; // port taken meanwhile: try another
                }
                // moto's own reset endpoint: only a moto server answers it with 200.
                if http(port, "POST", "/moto-api/reset") == Some(200) {
                    return server;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = server.child.kill();
            let _ = server.child.wait();
        }
        panic!("moto_server did not start on a free port");
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `AWS_*` variables that point a client at this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Creates `bucket` (moto takes an unsigned `PUT /bucket`).
    pub fn create_bucket(&self, bucket: &str) {
        let status = http(self.port, "PUT", &format!("/{bucket}"));
        assert_eq!(status, Some(200), "create bucket {bucket}");
    }

    /// Stops the server now (to test an unreachable store).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.stop();
    }
}
