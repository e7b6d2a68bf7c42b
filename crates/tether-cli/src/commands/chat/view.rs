//! Drawing the chat: title bar with URL and status, the log, the input line.

use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;
use unicode_width::UnicodeWidthChar;

use super::app::{App, Entry, Status};

/// The title of the window, as in the browser page.
pub const TITLE: &str = "WebSocket (Echo)";
/// The title in a room of `tether hub`.
pub const ROOM_TITLE: &str = "WebSocket (Room)";
/// The input line's label.
pub const INPUT_LABEL: &str = "Send a message";
const HELP: &str = "Enter send · /send-file PATH · /image · PgUp/PgDn scroll · Ctrl-R reconnect · Esc quit";

/// Draws the whole screen.
pub fn render(frame: &mut Frame, app: &App) {
    let [header, log, input, help] =
        Layout::vertical([Constraint::Length(4), Constraint::Min(3), Constraint::Length(3), Constraint::Length(1)])
            .areas(frame.area());
    render_header(frame, header, app);
    render_log(frame, log, app);
    render_input(frame, input, app);
    frame.render_widget(Paragraph::new(HELP).dark_gray(), help);
}

/// The title bar: title and URL on the border, the status inside (two
/// lines, so a long error still fits).
fn render_header(frame: &mut Frame, area: Rect, app: &App) {
    let (status, color) = status_text(&app.status);
    let name = if app.peer == "room" { ROOM_TITLE } else { TITLE };
    let title =
        Line::from(vec![Span::styled(format!(" {name} "), Modifier::BOLD), Span::raw(format!("· {} ", app.url))]);
    let block = Block::bordered().title(title);
    frame.render_widget(Paragraph::new(Span::styled(status, color)).wrap(Wrap { trim: false }).block(block), area);
}

/// The status line's words and colour.
pub fn status_text(status: &Status) -> (String, Color) {
    match status {
        Status::Connecting => ("connecting…".into(), Color::Yellow),
        Status::Open { compressed: true } => ("open (permessage-deflate)".into(), Color::Green),
        Status::Open { compressed: false } => ("open".into(), Color::Green),
        Status::Closing => ("closing…".into(), Color::Yellow),
        Status::Closed(Some(f)) if f.reason.is_empty() => (format!("closed: {}", f.code), Color::Gray),
        Status::Closed(Some(f)) => (format!("closed: {} {}", f.code, f.reason), Color::Gray),
        Status::Closed(None) => ("closed: no status code · Ctrl-R reconnects".into(), Color::Gray),
        Status::Failed(cause) => (format!("network error: {cause} · Ctrl-R reconnects"), Color::Red),
    }
}

fn render_log(frame: &mut Frame, area: Rect, app: &App) {
    let block = Block::bordered().title(" Log ");
    let inner = block.inner(area);
    let lines: Vec<Line> = app.log.iter().flat_map(|e| entry_lines(e, inner.width as usize)).collect();
    // Show the window that ends `scroll` lines above the newest line.
    let height = inner.height as usize;
    let scroll = app.scroll.min(lines.len().saturating_sub(height));
    let end = lines.len() - scroll;
    let start = end.saturating_sub(height);
    let mut block = block;
    if scroll > 0 {
        block = block.title_bottom(format!(" ↑ {scroll} more below · End returns "));
    }
    frame.render_widget(Paragraph::new(lines[start..end].to_vec()).block(block), area);
}

fn entry_lines(entry: &Entry, width: usize) -> Vec<Line<'static>> {
    let dim = Style::new().fg(Color::DarkGray);
    match entry {
        Entry::Sent(text) => wrap(&format!("you: {text}"), width, dim),
        Entry::SentFile { path, len } => wrap(&format!("you: <binary {len} bytes> {path}"), width, dim),
        Entry::Text { from, text } => wrap(&format!("{from}: {text}"), width, Style::new()),
        Entry::Binary { from, len, picture } => {
            let size = picture.as_ref().map(|p| format!(" PNG {}×{}", p.source_size.0, p.source_size.1));
            let mut lines =
                wrap(&format!("{from}: <binary {len} bytes>{}", size.unwrap_or_default()), width, Style::new());
            lines.extend(picture.iter().flat_map(|p| p.lines()));
            lines
        }
        Entry::Info(text) => wrap(text, width, Style::new().fg(Color::Cyan)),
        Entry::Error(text) => wrap(text, width, Style::new().fg(Color::Red)),
    }
}

/// Splits `text` into lines of at most `width` columns (control characters
/// shown as spaces, so a message cannot move the cursor).
fn wrap(text: &str, width: usize, style: Style) -> Vec<Line<'static>> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let (mut current, mut used) = (String::new(), 0);
    for c in text.chars() {
        let c = if c.is_control() { ' ' } else { c };
        let w = c.width().unwrap_or(0);
        if used + w > width {
            lines.push(Line::styled(std::mem::take(&mut current), style));
            used = 0;
        }
        current.push(c);
        used += w;
    }
    lines.push(Line::styled(current, style));
    lines
}

fn render_input(frame: &mut Frame, area: Rect, app: &App) {
    let block = Block::bordered().title(format!(" {INPUT_LABEL} "));
    let inner = block.inner(area);
    // Keep the end of a long input, where the cursor is, in view.
    let room = (inner.width as usize).saturating_sub(1);
    let mut shown: Vec<char> = Vec::new();
    let mut used = 0;
    for c in app.input.chars().rev() {
        let w = c.width().unwrap_or(0);
        if used + w > room {
            break;
        }
        used += w;
        shown.push(c);
    }
    let shown: String = shown.into_iter().rev().collect();
    frame.render_widget(Paragraph::new(shown).block(block), area);
    frame.set_cursor_position(Position::new(inner.x + used as u16, inner.y));
}

/// The screen of a test terminal as text, one line per row.
#[cfg(test)]
pub fn screen(terminal: &ratatui::Terminal<ratatui::backend::TestBackend>) -> String {
    let buffer = terminal.backend().buffer();
    let width = buffer.area.width as usize;
    let symbols: Vec<&str> = buffer.content.iter().map(|c| c.symbol()).collect();
    symbols.chunks(width).map(|row| row.concat().trim_end().to_owned()).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    use tether::{CloseCode, CloseFrame, Message};

    use super::*;
    use crate::commands::chat::link::LinkEvent;

    fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|f| render(f, app)).unwrap();
        terminal
    }

    #[test]
    fn title_status_log_and_input_are_on_screen() {
        let mut app = App::new("ws://127.0.0.1:9/".into());
        let text = screen(&draw(&app, 80, 20));
        assert!(text.contains(TITLE) && text.contains("connecting…") && text.contains(INPUT_LABEL), "{text}");
        app.on_event(LinkEvent::Open { compressed: true });
        app.input = "typing".into();
        app.on_event(LinkEvent::Received(Message::text("Hello!")));
        let terminal = draw(&app, 80, 20);
        let text = screen(&terminal);
        assert!(text.contains(&format!(" {TITLE} · ws://127.0.0.1:9/ ")), "{text}");
        assert!(text.contains("│open (permessage-deflate)"), "{text}");
        assert!(text.contains("│echo: Hello!"), "{text}");
        assert!(text.contains("│typing"), "{text}");
    }

    #[test]
    fn closed_and_failed_states_say_why() {
        let mut app = App::new("ws://h/".into());
        app.on_event(LinkEvent::Closed(Some(CloseFrame::new(CloseCode::NORMAL, "bye"))));
        assert!(screen(&draw(&app, 80, 12)).contains("closed: 1000 bye"));
        app.on_event(LinkEvent::Failed("connection refused by 127.0.0.1:9".into()));
        let text = screen(&draw(&app, 100, 12));
        assert!(text.contains("network error: connection refused by 127.0.0.1:9 · Ctrl-R reconnects"), "{text}");
        assert!(text.contains("Network error: connection refused"), "{text}");
    }

    #[test]
    fn binary_is_shown_as_binary_and_png_as_a_picture() {
        let mut app = App::new("ws://h/".into());
        app.on_event(LinkEvent::Received(Message::binary(vec![0u8; 5])));
        app.on_event(LinkEvent::Image(Ok(Message::binary(crate::echo_server::demo_image::png()))));
        let terminal = draw(&app, 80, 30);
        let text = screen(&terminal);
        assert!(text.contains("echo: <binary 5 bytes>"), "{text}");
        assert!(text.contains("image: <binary ") && text.contains(" PNG 96×64"), "{text}");
        let blocks = terminal.backend().buffer().content.iter().filter(|c| c.symbol() == "▀").count();
        assert_eq!(blocks, 48 * 16, "the whole picture is drawn");
        let colored = terminal.backend().buffer().content.iter().filter(|c| matches!(c.fg, Color::Rgb(..))).count();
        assert_eq!(colored, blocks, "in colour");
    }

    #[test]
    fn long_lines_wrap_and_the_log_follows_the_newest() {
        let mut app = App::new("ws://h/".into());
        for i in 0..40 {
            app.on_event(LinkEvent::Received(Message::text(format!("line {i}"))));
        }
        app.on_event(LinkEvent::Received(Message::text("x".repeat(100))));
        let text = screen(&draw(&app, 60, 20));
        assert!(text.contains("line 39") && !text.contains("echo: line 30"), "{text}");
        assert!(text.contains(&format!("│echo: {}", "x".repeat(52))), "{text}");
        app.scroll = 5;
        let text = screen(&draw(&app, 60, 20));
        assert!(text.contains("↑ 5 more below") && !text.contains("line 39"), "{text}");
    }
}
