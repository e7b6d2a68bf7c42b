//! A test PKI: one trusted CA, one untrusted CA, and server certificates
//! for every TLS failure a client should name, written as PEM files into a
//! temporary directory that lives as long as the [`TestPki`].

use std::path::{Path, PathBuf};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A certificate and its key, as PEM files.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The certificate chain (the server's certificate only).
    pub cert: PathBuf,
    /// The private key (PKCS#8).
    pub key: PathBuf,
}

/// Which server certificate to present.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaf {
    /// Signed by the trusted CA, for `localhost`, `127.0.0.1` and `::1`, valid now.
    Good,
    /// Like `Good`, but it expired in 2001.
    Expired,
    /// Signed by the trusted CA, valid now, but only for `other.invalid`.
    WrongName,
    /// Valid now for the loopback names, but signed by a CA nobody trusts.
    UnknownIssuer,
}

/// The files of a throwaway PKI.
pub struct TestPki {
    dir: tempfile::TempDir,
    /// The trusted CA's certificate (PEM): what a client gets with `--ca`.
    pub ca: PathBuf,
    good: Identity,
    expired: Identity,
    wrong_name: Identity,
    unknown_issuer: Identity,
}

const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

impl TestPki {
    /// Generates the CAs and certificates (ECDSA P-256, a few milliseconds).
    pub fn new() -> TestPki {
        let dir = tempfile::Builder::new().prefix("tether-pki-").tempdir().expect("temporary directory");
        let ca = make_ca("tether test CA");
        let rogue = make_ca("someone else's CA");
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write PEM");
            path
        };
        let ca_path = write("ca.pem", &ca.pem());
        let leaf = |name: &str, sans: &[&str], issuer: &CertifiedIssuer<'static, KeyPair>, expired: bool| {
            let key = KeyPair::generate().expect("key");
            let mut params =
                CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("params");
            params.distinguished_name.push(DnType::CommonName, sans[0]);
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            params.use_authority_key_identifier_extension = true;
            if expired {
                params.not_before = date_time_ymd(2000, 1, 1);
                params.not_after = date_time_ymd(2001, 1, 1);
            } else {
                params.not_before = date_time_ymd(2020, 1, 1);
                params.not_after = date_time_ymd(2999, 1, 1);
            }
            let cert = params.signed_by(&key, issuer).expect("sign");
            Identity {
                cert: write(&format!("{name}.pem"), &cert.pem()),
                key: write(&format!("{name}-key.pem"), &key.serialize_pem()),
            }
        };
        let good = leaf("good", &LOOPBACK_NAMES, &ca, false);
        let expired = leaf("expired", &LOOPBACK_NAMES, &ca, true);
        let wrong_name = leaf("wrong-name", &["other.invalid"], &ca, false);
        let unknown_issuer = leaf("unknown-issuer", &LOOPBACK_NAMES, &rogue, false);
        TestPki { dir, ca: ca_path, good, expired, wrong_name, unknown_issuer }
    }

    /// The certificate and key files of one server certificate.
    pub fn identity(&self, leaf: Leaf) -> &Identity {
        match leaf {
            Leaf::Good => &self.good,
            Leaf::Expired => &self.expired,
            Leaf::WrongName => &self.wrong_name,
            Leaf::UnknownIssuer => &self.unknown_issuer,
        }
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}

fn make_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2999, 1, 1);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA")
}
