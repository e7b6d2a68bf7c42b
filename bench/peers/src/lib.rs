//! What every peer echo server shares: the `--listen ADDR` flag (and
//! `--tls-cert FILE --tls-key FILE` for the TLS ones), the URL printed as
//! the first stdout line (as `tether echo` does), and a current-thread tokio
//! runtime, as the peers' own benchmarks use.

use std::io::Write;
use std::net::SocketAddr;

/// Parses `--listen ADDR` (default `127.0.0.1:0`) from the command line.
pub fn listen_addr() -> SocketAddr {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:0".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" | "-l" => addr = args.next().unwrap_or_else(|| usage("--listen needs a value")),
            // Read by the peers that take it (see `has_flag`, `tls_acceptor`).
            "--deflate" | "--fin-with-close" | "--defer-accept" => {}
            "--tls-cert" | "--tls-key" => {
                args.next().unwrap_or_else(|| usage(&format!("{arg} needs a file")));
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    addr.parse().unwrap_or_else(|_| usage(&format!("bad address {addr:?}")))
}

/// Whether `flag` (a switch such as `--deflate`) is on the command line.
pub fn has_flag(flag: &str) -> bool {
    std::env::args().skip(1).any(|a| a == flag)
}

fn usage(why: &str) -> ! {
    if !why.is_empty() {
        eprintln!("error: {why}");
    }
    eprintln!(
        "usage: {} [--listen ADDR] [--deflate] [--defer-accept] [--tls-cert FILE --tls-key FILE]",
        std::env::args().next().unwrap_or_default()
    );
    std::process::exit(2)
}

/// Runs `main` on a current-thread runtime after binding the listener and
/// printing `SCHEME://ADDR/` as the first stdout line.
pub fn serve<F, Fut>(scheme: &str, main: F)
where
    F: FnOnce(tokio::net::TcpListener) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let addr = listen_addr();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap_or_else(|e| {
            eprintln!("cannot listen on {addr}: {e}");
            std::process::exit(1)
        });
        let local = listener.local_addr().expect("local address");
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{scheme}://{local}/");
        let _ = out.flush();
        drop(out);
        main(listener).await
    });
}

/// Accepts forever, handing each connection (with `TCP_NODELAY` set, as
/// `tether echo` does) to `handle` on its own task. With `--defer-accept`,
/// the listening socket is set up as `tether::Server` sets up its own:
/// `TCP_DEFER_ACCEPT` (1 s), and `TCP_NODELAY` on the listener, which Linux
/// copies to each accepted socket, instead of on each.
pub async fn accept_loop<F, Fut>(listener: tokio::net::TcpListener, handle: F)
where
    F: Fn(tokio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let per_connection_nodelay = !(has_flag("--defer-accept") && defer_accept(&listener).is_ok());
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                if per_connection_nodelay {
                    let _ = tcp.set_nodelay(true);
                }
                tokio::spawn(handle(tcp));
            }
            Err(e) => {
                eprintln!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// `TCP_DEFER_ACCEPT` (1 s) and `TCP_NODELAY` on `listener`.
fn defer_accept(listener: &tokio::net::TcpListener) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let seconds: libc::c_int = 1;
    // SAFETY: `listener` owns an open socket for the whole call; the value
    // is read through a pointer to a live `c_int`, of the length given.
    let done = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            std::ptr::from_ref(&seconds).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if done != 0 {
        return Err(std::io::Error::last_os_error());
    }
    socket2::SockRef::from(listener).set_tcp_nodelay(true)
}

/// The value of `--NAME VALUE` on the command line.
fn flag_value(name: &str) -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == name {
            return args.next();
        }
    }
    None
}

/// A tokio-rustls acceptor for `--tls-cert` and `--tls-key` (PEM), built
/// the way rustls' and the peers' TLS examples build one:
/// `ServerConfig::builder()` (the process's provider: `ring`, the only one
/// compiled in), no client authentication, one certificate, rustls'
/// defaults for everything else.
pub fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (Some(cert), Some(key)) = (flag_value("--tls-cert"), flag_value("--tls-key")) else {
        usage("this server needs --tls-cert FILE --tls-key FILE")
    };
    let certs = CertificateDer::pem_file_iter(&cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .unwrap_or_else(|e| usage(&format!("{cert}: {e}")));
    let key = PrivateKeyDer::from_pem_file(&key).unwrap_or_else(|e| usage(&format!("{key}: {e}")));
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap_or_else(|e| usage(&format!("certificate and key: {e}")));
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
}

/// [`serve`] over TLS: each accepted connection makes its TLS handshake
/// with [`tls_acceptor`] on its own task, then goes to `handle` (a failed
/// handshake is dropped).
pub fn serve_tls<F, Fut>(scheme: &str, handle: F)
where
    F: Fn(tokio_rustls::server::TlsStream<tokio::net::TcpStream>) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let acceptor = tls_acceptor();
    serve(scheme, |listener| {
        accept_loop(listener, move |tcp| {
            let (acceptor, handle) = (acceptor.clone(), handle.clone());
            async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    handle(tls).await
                }
            }
        })
    })
}
