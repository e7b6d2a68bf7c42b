//! Writes a throwaway PKI into a directory, for tests that run outside
//! cargo (the browser test over HTTP/2, `scripts/browser-test-h2.sh`):
//! `ca.pem`, and `server.pem` + `server-key.pem` for `localhost`,
//! `127.0.0.1` and `::1`, signed by that CA.
//!
//!     cargo run -p tether-testkit --example write_pki -- DIR

use std::path::PathBuf;

use tether_testkit::pki::{Leaf, TestPki};

fn main() -> std::io::Result<()> {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: write_pki DIR");
        std::process::exit(2);
    };
    std::fs::create_dir_all(&dir)?;
    // The PKI's own directory goes away with it: copy what is needed.
    let pki = TestPki::new();
    let id = pki.identity(Leaf::Good);
    std::fs::copy(&pki.ca, dir.join("ca.pem"))?;
    std::fs::copy(&id.cert, dir.join("server.pem"))?;
    std::fs::copy(&id.key, dir.join("server-key.pem"))?;
    Ok(())
}
