//! Proxies for the tests, all on 127.0.0.1:
//!
//! - [`RealProxy`]: tinyproxy (HTTP `CONNECT`) or microsocks (SOCKS5) from
//!   Debian's packages, as a child process on a free port, killed on drop;
//! - [`FakeProxy`]: an in-test proxy with a chosen [`Behaviour`], for the
//!   failures a real proxy is hard to make show (a silent proxy, garbage),
//!   and a log of the targets it was asked for.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Where a Debian package puts its binary, or the name on `PATH`.
fn binary(name: &str) -> PathBuf {
    let usr = PathBuf::from("/usr/bin").join(name);
    if usr.exists() {
        return usr;
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.exists()))
        .unwrap_or_else(|| panic!("{name} not found: run scripts/install-servers.sh (the test command does)"))
}

/// A free port on 127.0.0.1 (free now; the caller retries if it is taken by then).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A proxy server from Debian's packages, running as a child process.
pub struct RealProxy {
    child: Child,
    /// Its address on 127.0.0.1.
    pub addr: SocketAddr,
    scheme: &'static str,
    auth: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl RealProxy {
    /// tinyproxy, an HTTP proxy answering `CONNECT`, with basic
    /// authentication when `auth` is given.
    pub fn tinyproxy(auth: Option<(&str, &str)>) -> RealProxy {
        Self::start("http", auth, |dir, port| {
            let mut conf = format!(
                "Port {port}\nListen 127.0.0.1\nAllow 127.0.0.1\nTimeout 60\nMaxClients 100\n\
                 LogLevel Info\nPidFile \"{pid}\"\nDisableViaHeader Yes\n",
                pid = dir.join("tinyproxy.pid").display()
            );
            if let Some((user, password)) = auth {
                conf.push_str(&format!("BasicAuth {user} {password}\n"));
            }
            let path = dir.join("tinyproxy.conf");
            std::fs::write(&path, conf).unwrap();
            let mut cmd = Command::new(binary("tinyproxy"));
            cmd.arg("-d").arg("-c").arg(path);
            cmd
        })
    }

    /// microsocks, a SOCKS5 proxy, with user/password authentication when
    /// `auth` is given.
    pub fn microsocks(auth: Option<(&str, &str)>) -> RealProxy {
        Self::start("socks5", auth, |_, port| {
            let mut cmd = Command::new(binary("microsocks"));
            cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
            if let Some((user, password)) = auth {
                cmd.args(["-u", user, "-P", password]);
            }
            cmd
        })
    }

    fn start(
        scheme: &'static str,
        auth: Option<(&str, &str)>,
        command: impl Fn(&std::path::Path, u16) -> Command,
    ) -> RealProxy {
        let dir = tempfile::Builder::new().prefix("tether-proxy-").tempdir().unwrap();
        for _attempt in 0..5 {
            let port = free_port();
            let mut child = command(dir.path(), port)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start the {scheme} proxy: {e}"));
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // most likely the port was taken meanwhile: try another
                }
                if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    let auth = auth.map(|(u, p)| (u.to_owned(), p.to_owned()));
                    return RealProxy { child, addr, scheme, auth, _dir: dir };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("the {scheme} proxy did not start listening");
    }

    /// Its URL, with the credentials it was started with.
    pub fn url(&self) -> String {
        self.url_with(self.auth.as_ref().map(|(u, p)| (u.as_str(), p.as_str())))
    }

    /// Its URL with other credentials (or none).
    pub fn url_with(&self, auth: Option<(&str, &str)>) -> String {
        match auth {
            Some((user, password)) => format!("{}://{user}:{password}@{}", self.scheme, self.addr),
            None => format!("{}://{}", self.scheme, self.addr),
        }
    }
}

impl Drop for RealProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a [`FakeProxy`] does with a client.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Tunnels to the target when the client's credentials are these (or
    /// when `None`, always); otherwise refuses: HTTP 407, or for SOCKS5 the
    /// "no acceptable method" (no credentials offered) or a failed
    /// user/password status.
    Tunnel(Option<(String, String)>),
    /// Refuses every target: HTTP 403, SOCKS5 reply 2 (not allowed).
    Refuse,
    /// Accepts the TCP connection and never answers.
    Silent,
    /// Answers with bytes that are neither HTTP nor SOCKS5.
    Garbage,
}

/// An in-test proxy on 127.0.0.1, stopped on drop.
pub struct FakeProxy {
    /// Its address.
    pub addr: SocketAddr,
    targets: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl FakeProxy {
    /// An HTTP `CONNECT` proxy.
    pub async fn http(behaviour: Behaviour) -> FakeProxy {
        Self::start(behaviour, false).await
    }

    /// A SOCKS5 proxy.
    pub async fn socks5(behaviour: Behaviour) -> FakeProxy {
        Self::start(behaviour, true).await
    }

    async fn start(behaviour: Behaviour, socks: bool) -> FakeProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let targets = Arc::new(Mutex::new(Vec::new()));
        let log = targets.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (behaviour, log) = (behaviour.clone(), log.clone());
                tokio::spawn(async move {
                    let _ = if socks {
                        serve_socks5(tcp, behaviour, log).await
                    } else {
                        serve_http(tcp, behaviour, log).await
                    };
                });
            }
        });
        FakeProxy { addr, targets, task }
    }

    /// The targets clients asked for, as `host:port` (a SOCKS5 domain
    /// name as sent, an address as an IP).
    pub fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }
}

impl Drop for FakeProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Log = Arc<Mutex<Vec<String>>>;

async fn serve_http(mut tcp: TcpStream, behaviour: Behaviour, log: Log) -> std::io::Result<()> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await?);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let target = head.split_whitespace().nth(1).unwrap_or_default().to_owned();
    log.lock().unwrap().push(target.clone());
    let credentials = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let token = value.trim().strip_prefix("Basic ")?;
        name.eq_ignore_ascii_case("proxy-authorization").then(|| token.trim().to_owned())
    });
    match behaviour {
        Behaviour::Silent => return park(tcp).await,
        Behaviour::Garbage => return tcp.write_all(b"\x00\x01garbage\r\n\r\n").await,
        Behaviour::Refuse => {
            return tcp.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbidden").await;
        }
        Behaviour::Tunnel(Some((user, password))) => {
            let expected = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            if credentials.as_deref() != Some(expected.as_str()) {
                let answer = "HTTP/1.1 407 Proxy Authentication Required\r\n\
                              Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n";
                return tcp.write_all(answer.as_bytes()).await;
            }
        }
        Behaviour::Tunnel(None) => {}
    }
    let mut upstream = match TcpStream::connect(&target).await {
        Ok(upstream) => upstream,
        Err(_) => return tcp.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n").await,
    };
    tcp.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await?;
    tokio::io::copy_bidirectional(&mut tcp, &mut upstream).await.map(drop)
}

async fn serve_socks5(mut tcp: TcpStream, behaviour: Behaviour, log: Log) -> std::io::Result<()> {
    let mut greeting = [0u8; 2];
    tcp.read_exact(&mut greeting).await?;
    let mut methods = vec![0u8; usize::from(greeting[1])];
    tcp.read_exact(&mut methods).await?;
    match &behaviour {
        Behaviour::Silent => return park(tcp).await,
        Behaviour::Garbage => return tcp.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await,
        Behaviour::Tunnel(Some((user, password))) => {
            if !methods.contains(&2) {
                return tcp.write_all(&[5, 0xFF]).await;
            }
            tcp.write_all(&[5, 2]).await?;
            let _version = tcp.read_u8().await?;
            let mut got_user = vec![0u8; usize::from(tcp.read_u8().await?)];
            tcp.read_exact(&mut got_user).await?;
            let mut got_password = vec![0u8; usize::from(tcp.read_u8().await?)];
            tcp.read_exact(&mut got_password).await?;
            if got_user != user.as_bytes() || got_password != password.as_bytes() {
                return tcp.write_all(&[1, 1]).await;
            }
            tcp.write_all(&[1, 0]).await?;
        }
        Behaviour::Tunnel(None) | Behaviour::Refuse => tcp.write_all(&[5, 0]).await?,
    }
    let mut request = [0u8; 4];
    tcp.read_exact(&mut request).await?;
    let host = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            tcp.read_exact(&mut ip).await?;
            std::net::Ipv4Addr::from(ip).to_string()
        }
        4 => {
            let mut ip = [0u8; 16];
            tcp.read_exact(&mut ip).await?;
            format!("[{}]", std::net::Ipv6Addr::from(ip))
        }
        _ => {
            let mut name = vec![0u8; usize::from(tcp.read_u8().await?)];
            tcp.read_exact(&mut name).await?;
            String::from_utf8_lossy(&name).into_owned()
        }
    };
    let port = tcp.read_u16().await?;
    let target = format!("{host}:{port}");
    log.lock().unwrap().push(target.clone());
    const FAILED: [u8; 10] = [5, 2, 0, 1, 0, 0, 0, 0, 0, 0];
    if let Behaviour::Refuse = behaviour {
        return tcp.write_all(&FAILED).await;
    }
    let mut upstream = match TcpStream::connect(&target).await {
        Ok(upstream) => upstream,
        Err(_) => return tcp.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await,
    };
    tcp.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0]).await?;
    tokio::io::copy_bidirectional(&mut tcp, &mut upstream).await.map(drop)
}

/// Holds the connection open without a word until the client leaves.
async fn park(mut tcp: TcpStream) -> std::io::Result<()> {
    let mut sink = [0u8; 1024];
    while tcp.read(&mut sink).await? > 0 {}
    Ok(())
}
