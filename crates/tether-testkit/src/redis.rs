//! A `redis-server` of a test's own (Debian's package, installed by
//! `scripts/install-servers.sh`): on a free loopback port, without
//! persistence, stopped when dropped; it can be paused, resumed and
//! restarted empty, for the backplane's fault tests.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `redis-server`.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Child,
}

impl RedisServer {
    /// Starts one on a free port and waits until it listens.
    pub fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        RedisServer::on(port)
    }

    fn on(port: u16) -> RedisServer {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server not found: run scripts/install-servers.sh (the test command does)");
        let server = RedisServer { port, child };
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server did not listen on {port}");
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
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
        RedisServer::on(self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
