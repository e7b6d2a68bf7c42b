//! The seed: the mission's five steps (connect, listen, send, close, see
//! failures) against a local echo server:
//!
//! ```sh
//! cargo run -p tether-ws-cli -- echo &          # serves ws://127.0.0.1:9001/
//! cargo run -p tether-ws --example seed         # or: ... --example seed -- ws://HOST:PORT/
//! ```
//!
//! The same steps run in a web page (`docs/wasm.md`): built for
//! `wasm32-unknown-unknown`, `main` starts them with `spawn_local` and shows
//! the lines in the page and the console; the URL comes from the page's
//! `?url=` query.

#[path = "five_steps/mod.rs"]
mod five_steps;

#[cfg(not(target_arch = "wasm32"))]
#[tokio::main]
async fn main() {
    let url = std::env::args().nth(1).unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    if let Err(e) = five_steps::five_steps(&url, |line| println!("{line}")).await {
        // 5. failures are typed errors that say what went wrong
        eprintln!("Network error: {e}");
        std::process::exit(1);
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {
    let location = web_sys::window().map(|w| w.location());
    let query = location.and_then(|l| l.search().ok()).unwrap_or_default();
    let url = query
        .strip_prefix("?url=")
        .and_then(|url| js_sys::decode_uri_component(url).ok()?.as_string())
        .unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = five_steps::five_steps(&url, show).await {
            show(format!("Network error: {e}"));
        }
    });
}

/// Adds a line to the page and the console.
#[cfg(target_arch = "wasm32")]
fn show(line: String) {
    web_sys::console::log_1(&line.as_str().into());
    let document = web_sys::window().and_then(|w| w.document());
    if let Some((document, body)) = document.as_ref().and_then(|d| Some((d, d.body()?))) {
        if let Ok(p) = document.create_element("p") {
            p.set_text_content(Some(&line));
            let _ = body.append_child(&p);
        }
    }
}
