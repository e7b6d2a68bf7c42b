//! Test support shared by tether's library and CLI tests (not published):
//!
//! - [`pki`]: a throwaway certificate authority and server certificates,
//!   good and bad, made with rcgen when a test starts;
//! - [`proxies`]: real proxy servers from Debian's packages (tinyproxy for
//!   HTTP `CONNECT`, microsocks for SOCKS5, installed by
//!   `scripts/install-servers.sh`) started on a free loopback port, and
//!   small in-test proxies that misbehave on purpose;
//! - [`redis`]: a `redis-server` on a free loopback port, for the hubs'
//!   backplane tests;
//! - [`wake`]: a waker that counts its wakes.
#![forbid(unsafe_code)]

pub mod pki;
pub mod proxies;
pub mod redis;
pub mod wake;
