//! End-to-end tests of the `tether` binary, one module per topic, and
//! interop with peers nobody here wrote (`peers`).

mod bench;
mod chat_terminal;
mod commands;
mod faults;
mod http2;
mod http2_client;
mod hub;
mod peers;
mod proxies;
mod static_files;
mod support;
mod tls;
