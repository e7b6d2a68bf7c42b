//! The server of the browser run of `tests/backends.rs`: prints its base
//! URL and a refused URL on its first line, then serves until killed.
//!
//! ```sh
//! cargo run -p tether-ws --example backend_server
//! ```

#[path = "../tests/backends/server.rs"]
mod server;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let urls = server::start().await;
    println!("{} {}", urls.base, urls.refused);
    std::future::pending::<()>().await;
}
