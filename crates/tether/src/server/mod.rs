//! The server side: [`accept`] and its variants upgrade one connection you
//! accepted yourself; [`Server`] owns the accept loop, with origin checks,
//! per-address limits and a graceful shutdown, over HTTP/1.1 and HTTP/2.

mod accept;
#[cfg(feature = "axum")]
pub mod axum;
mod connection;
mod decision;
#[cfg(feature = "http2")]
mod http2;
#[cfg(feature = "hyper")]
pub(crate) mod hyper;
mod limits;
mod listener;
mod origin;
mod plain_http;
mod serve;
mod shared;
mod tasks;

pub use accept::{accept, accept_or_respond, accept_with, Accepted};
pub use decision::{Accept, Reject};
#[cfg(feature = "hyper")]
pub use hyper::{upgrade, Upgraded, Upgrading};
pub use origin::allow_origins;
pub use serve::{Server, ShutdownHandle};
