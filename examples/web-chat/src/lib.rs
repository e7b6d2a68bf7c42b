//! The echo chat of `tether echo` as a web page written in Rust, on
//! tether's WebAssembly backend: a message field and a send button, each
//! echo as an `echo: …` line, "Network error: …" when the connection fails
//! or drops, and a button that fetches a PNG as a binary message and shows
//! it. Built by `scripts/build-web-chat.sh` (wasm-bindgen, no bundler),
//! served by `tether echo --static DIR`.
//!
//! - `session`: the conversations with the server (the five steps),
//!   compiled for both targets and tested natively;
//! - `page` (wasm32 only): the DOM of `index.html`, driven through web-sys.

pub mod session;

#[cfg(target_arch = "wasm32")]
mod page;
