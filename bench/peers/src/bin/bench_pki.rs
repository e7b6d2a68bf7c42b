//! Writes a throwaway PKI for the TLS rows of bench/compare.sh into a
//! directory: `ca.pem` (what the generator trusts), `cert.pem` and
//! `key.pem` (the one server certificate every TLS server presents: ECDSA
//! P-256, for localhost, 127.0.0.1 and ::1). Made by tether-testkit's test
//! PKI, fresh on every run; the keys never leave the build directory.
//!
//!     bench_pki DIR

use tether_testkit::pki::{Leaf, TestPki};

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: bench_pki DIR");
        std::process::exit(2)
    };
    let pki = TestPki::new();
    let good = pki.identity(Leaf::Good);
    let copy = |from: &std::path::Path, name: &str| {
        let to = std::path::Path::new(&dir).join(name);
        std::fs::copy(from, &to).unwrap_or_else(|e| {
            eprintln!("cannot write {}: {e}", to.display());
            std::process::exit(1)
        });
    };
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| {
        eprintln!("cannot create {dir}: {e}");
        std::process::exit(1)
    });
    copy(&pki.ca, "ca.pem");
    copy(&good.cert, "cert.pem");
    copy(&good.key, "key.pem");
}
