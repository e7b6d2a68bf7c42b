//! What every peer echo server shares: the `--listen ADDR` flag, the URL
//! printed as the first stdout line (as `tether echo` does), and a
//! current-thread tokio runtime, as the peers' own benchmarks use.

use std::io::Write;
use std::net::SocketAddr;

/// Parses `--listen ADDR` (default `127.0.0.1:0`) from the command line.
pub fn listen_addr() -> SocketAddr {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:0".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" | "-l" => addr = args.next().unwrap_or_else(|| usage("--listen needs a value")),
            // Read by the peers that take it (see `has_flag`).
            "--deflate" => {}
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
    eprintln!("usage: {} [--listen ADDR] [--deflate]", std::env::args().next().unwrap_or_default());
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
/// `tether echo` does) to `handle` on its own task.
pub async fn accept_loop<F, Fut>(listener: tokio::net::TcpListener, handle: F)
where
    F: Fn(tokio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                let _ = tcp.set_nodelay(true);
                tokio::spawn(handle(tcp));
            }
            Err(e) => {
                eprintln!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
