//! The chat against real servers on loopback, drawn on ratatui's TestBackend.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use futures_util::StreamExt;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use tether::CloseCode;
use tokio::net::TcpListener;
use tokio::time::timeout;

use super::app::{App, Entry, Status};
use super::session::Session;
use super::view::{render, screen};

/// `tether echo`'s server on a free port; aborting the task stops it and
/// drops its connections.
async fn echo_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    (url, tokio::spawn(crate::echo_server::embedded(listener, tether::Config::default())))
}

/// Applies connection events until `done` holds.
async fn settle(session: &mut Session, done: impl Fn(&App) -> bool) {
    timeout(Duration::from_secs(10), async {
        while !done(&session.app) {
            session.next_link_event().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out; the log: {:#?}", session.app.log));
}

async fn type_line(session: &mut Session, text: &str) {
    for c in text.chars() {
        session.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)).await;
    }
    session.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)).await;
}

fn draw(session: &Session) -> String {
    let mut terminal = Terminal::new(TestBackend::new(100, 40)).unwrap();
    terminal.draw(|f| render(f, &session.app)).unwrap();
    screen(&terminal)
}

fn has(entry: impl Fn(&Entry) -> bool) -> impl Fn(&App) -> bool {
    move |app| app.log.iter().any(&entry)
}

#[tokio::test]
async fn hello_comes_back_as_echo_then_a_dropped_server_is_a_network_error() {
    let (url, server) = echo_server().await;
    let mut session = Session::start(url.clone(), tether::Config::default());
    settle(&mut session, App::is_open).await;
    let text = draw(&session);
    assert!(
        text.contains(&format!("WebSocket (Echo) · {url}")) && text.contains("│open (permessage-deflate)"),
        "{text}"
    );

    type_line(&mut session, "Hello!").await;
    settle(&mut session, has(|e| matches!(e, Entry::Text { from: "echo", .. }))).await;
    let text = draw(&session);
    assert!(text.contains("│you: Hello!") && text.contains("│echo: Hello!"), "{text}");

    server.abort();
    settle(&mut session, |app| matches!(app.status, Status::Failed(_))).await;
    let text = draw(&session);
    assert!(text.contains("│Network error: connection lost"), "{text}");
    assert!(
        text.contains("│network error: connection lost: peer closed the connection without a close frame"),
        "{text}"
    );
    assert!(text.contains("Ctrl-R"), "{text}");

    // Ctrl-R tries again: the server is gone, so the error says refused.
    session.on_key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL)).await;
    assert!(draw(&session).contains("connecting…"));
    settle(&mut session, |app| matches!(&app.status, Status::Failed(cause) if cause.contains("refused"))).await;
    assert!(draw(&session).contains("│Network error: connection refused"));
}

#[tokio::test]
async fn files_and_the_demo_image_arrive_as_binary() {
    let (url, _server) = echo_server().await;
    let mut session = Session::start(url, tether::Config::default());
    settle(&mut session, App::is_open).await;

    let file = std::env::temp_dir().join(format!("tether-chat-test-{}.bin", std::process::id()));
    std::fs::write(&file, [7u8; 300]).unwrap();
    type_line(&mut session, &format!("/send-file {}", file.display())).await;
    std::fs::remove_file(&file).unwrap();
    settle(&mut session, has(|e| matches!(e, Entry::Binary { from: "echo", .. }))).await;
    let text = draw(&session);
    assert!(text.contains(&format!("│you: <binary 300 bytes> {}", file.display())), "{text}");
    assert!(text.contains("│echo: <binary 300 bytes>"), "{text}");

    type_line(&mut session, "/image").await;
    settle(&mut session, has(|e| matches!(e, Entry::Binary { from: "image", .. }))).await;
    let text = draw(&session);
    assert!(text.contains("│image: <binary ") && text.contains("PNG 96×64"), "{text}");
    assert!(text.contains(&"▀".repeat(48)), "the picture is drawn: {text}");

    type_line(&mut session, "/send-file /no/such/file").await;
    assert!(draw(&session).contains("│cannot read /no/such/file"));
}

#[tokio::test]
async fn escape_closes_with_1000_and_finishes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let mut ws = tether::accept(listener.accept().await.unwrap().0).await.unwrap();
        while ws.next().await.is_some() {}
        ws.close_frame().cloned()
    });
    let mut session = Session::start(url, tether::Config::default());
    settle(&mut session, App::is_open).await;
    assert!(!session.finished());
    session.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)).await;
    assert_eq!(session.app.status, Status::Closing);
    settle(&mut session, |app| app.status != Status::Closing).await;
    assert!(session.finished());
    assert!(draw(&session).contains("closed: 1000"));
    let frame = timeout(Duration::from_secs(10), server).await.unwrap().unwrap();
    assert_eq!(frame.map(|f| f.code), Some(CloseCode::NORMAL), "the server saw close 1000");
}

#[tokio::test]
async fn the_run_loop_draws_and_leaves_on_ctrl_c() {
    let (url, _server) = echo_server().await;
    let mut session = Session::start(url, tether::Config::default());
    settle(&mut session, App::is_open).await;
    let keys = "Hi"
        .chars()
        .map(|c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
        .chain([KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)])
        .map(|k| Ok(crossterm::event::Event::Key(k)));
    let mut terminal = Terminal::new(TestBackend::new(80, 20)).unwrap();
    timeout(Duration::from_secs(10), session.run(&mut terminal, futures_util::stream::iter(keys)))
        .await
        .unwrap()
        .unwrap();
    assert!(session.finished());
    let text = screen(&terminal);
    assert!(text.contains("closed: 1000") && text.contains("│Hi"), "{text}");
}

/// Two chats in one room of a hub: what one sends reaches both, shown as
/// from the room, and the title says it is a room.
#[tokio::test]
async fn two_chats_in_a_room_of_a_hub_see_each_others_messages() {
    let hub = tether_hub::Hub::default();
    let server = tether::Server::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/rooms/lobby", server.local_addr().unwrap());
    let (decide, serve) = (hub.clone(), hub.clone());
    let _server = tokio::spawn(server.on_request(move |r| decide.decide(r)).serve(move |ws, _| {
        let hub = serve.clone();
        async move {
            let _ = hub.serve(ws).await;
        }
    }));
    let mut ann = Session::start(url.clone(), tether::Config::default());
    let mut bob = Session::start(url.clone(), tether::Config::default());
    settle(&mut ann, App::is_open).await;
    settle(&mut bob, App::is_open).await;
    timeout(Duration::from_secs(10), async {
        while hub.member_count("lobby") < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    type_line(&mut ann, "hello from ann").await;
    let from_ann = |e: &Entry| matches!(e, Entry::Text { from: "room", text } if text == "hello from ann");
    settle(&mut bob, has(from_ann)).await;
    settle(&mut ann, has(from_ann)).await;
    let text = draw(&bob);
    assert!(text.contains(&format!("WebSocket (Room) · {url}")) && text.contains("│room: hello from ann"), "{text}");
}
