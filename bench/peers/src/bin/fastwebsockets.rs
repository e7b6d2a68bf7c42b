//! fastwebsockets 0.10 echo server, as its own `examples/echo_server.rs`:
//! hyper upgrade, `FragmentCollector`, unconstrained task.

use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};

async fn echo(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(fut.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

async fn upgrade(mut req: Request<Incoming>) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, fut) = upgrade::upgrade(&mut req)?;
    tokio::spawn(async move {
        let _ = tokio::task::unconstrained(echo(fut)).await;
    });
    Ok(response)
}

fn main() {
    tether_bench_peers::serve("ws", |listener| {
        tether_bench_peers::accept_loop(listener, |tcp| async move {
            let io = hyper_util::rt::TokioIo::new(tcp);
            let _ = http1::Builder::new().serve_connection(io, service_fn(upgrade)).with_upgrades().await;
        })
    })
}
