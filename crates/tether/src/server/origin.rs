//! The Origin allow-list: a `decide` function that refuses browser pages
//! from other origins (cross-site WebSocket hijacking).

use http::StatusCode;
use tether_proto::handshake::server::Request;

use super::decision::{Accept, Reject};

/// A `decide` function for [`accept_with`](crate::accept_with) that refuses (403) browsers from
/// other origins: the defence against cross-site WebSocket hijacking, since
/// browsers send cookies with a WebSocket handshake from any page.
///
/// A request without an `Origin` header is accepted: it does not come from a
/// browser page, and non-browser clients can forge the header anyway.
/// Origins compare without regard to case, e.g. `"https://app.example.com"`.
///
/// ```no_run
/// # async fn demo(tcp: tokio::net::TcpStream) -> Result<(), tether::Error> {
/// let allow = tether::allow_origins(["https://app.example.com"]);
/// let ws = tether::accept_with(tcp, tether::Config::default(), allow).await?;
/// # Ok(()) }
/// ```
pub fn allow_origins<I, T>(origins: I) -> impl Fn(&Request) -> Result<Accept, Reject> + Clone + Send + Sync + 'static
where
    I: IntoIterator<Item = T>,
    T: Into<String>,
{
    let allowed: std::sync::Arc<[String]> = origins.into_iter().map(Into::into).collect();
    move |request: &Request| match request.origin() {
        Some(origin) if !allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) => {
            Err(Reject::new(StatusCode::FORBIDDEN, format!("origin {origin} is not allowed")))
        }
        _ => Ok(Accept::new()),
    }
}
