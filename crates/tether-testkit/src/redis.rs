//! A `redis-server` of a test's own (Debian's package, installed by
//! `scripts/install-servers.sh`): on a free loopback port, without
//! persistence, stopped when dropped; it can be paused, resumed and
//! restarted empty, for the backplane's fault tests, and started with more
//! settings (a password, ACL users, TLS).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `redis-server`.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Child,
    /// The settings it was started with, past port and persistence.
    extra: Vec<String>,
    tls: bool,
}

impl RedisServer {
    /// Starts one on a free port and waits until it listens.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// Starts one with more settings, `--requirepass secret` say.
    pub fn start_with(extra: &[&str]) -> RedisServer {
        RedisServer::on(free_port(), extra.iter().map(|s| s.to_string()).collect(), false)
    }

    /// Starts one that speaks TLS only (`rediss://`), with this certificate
    /// and key (PEM files); it asks clients for no certificate.
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path, ca: &std::path::Path) -> RedisServer {
        let path = |p: &std::path::Path| p.to_str().expect("a UTF-8 path").to_owned();
        let extra = vec![
            "--tls-cert-file".into(),
            path(cert),
            "--tls-key-file".into(),
            path(key),
            "--tls-ca-cert-file".into(),
            path(ca),
            "--tls-auth-clients".into(),
            "no".into(),
        ];
        RedisServer::on(free_port(), extra, true)
    }

    fn on(port: u16, extra: Vec<String>, tls: bool) -> RedisServer {
        let port_text = port.to_string();
        // With TLS, the plain port is off: only rediss:// gets in.
        let listen: &[&str] = if tls { &["--port", "0", "--tls-port", &port_text] } else { &["--port", &port_text] };
        let child = Command::new("redis-server")
            .args(listen)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(&extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server not found: run scripts/install-servers.sh (the test command does)");
        let mut server = RedisServer { port, child, extra, tls };
        for _ in 0..500 {
            // Exited (a bad setting, the port taken): no use waiting, and a
            // connect to a port nobody holds can even reach itself.
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("redis-server {:?} exited at start ({status})", server.extra);
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server did not listen on {port}");
    }

    /// `redis://127.0.0.1:PORT/` (`rediss://` with TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sends a signal (`-STOP` pauses it: it accepts connections but
    /// answers nothing; `-CONT` resumes it).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill {signal}");
    }

    /// Kills it and starts a new one on the same port: every key is gone,
    /// as after a restart without persistence.
    pub fn restart(mut self) -> RedisServer {
        let _ = self.child.kill();
        let _ = self.child.wait();
        RedisServer::on(self.port, std::mem::take(&mut self.extra), self.tls)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
