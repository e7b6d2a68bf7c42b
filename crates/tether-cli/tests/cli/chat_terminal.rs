//! `tether chat` in a real terminal: a tmux server of the test's own.

use std::io::Read;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::support::repo;

/// A tmux server of our own (its own socket), killed on drop.
struct Tmux {
    socket: String,
    /// A message each time the program in the pane writes to the terminal
    /// (tmux pipes the pane's output through a FIFO read by a thread).
    output: Receiver<()>,
    fifo: PathBuf,
}

impl Tmux {
    fn start(width: u16, height: u16, command: &str) -> Tmux {
        let version = std::process::Command::new("tmux").arg("-V").output();
        assert!(version.is_ok_and(|o| o.status.success()), "tmux missing: scripts/test.sh installs it");
        let socket = format!("tether-test-{}", std::process::id());
        let fifo = std::env::temp_dir().join(format!("{socket}.out"));
        let _ = std::fs::remove_file(&fifo);
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", fifo.display());
        let (tx, output) = mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || {
            // Opening blocks until tmux's `cat` opens the other end.
            let Ok(mut pipe) = std::fs::File::open(&path) else { return };
            let mut buf = [0u8; 4096];
            while pipe.read(&mut buf).is_ok_and(|n| n > 0) && tx.send(()).is_ok() {}
        });
        let tmux = Tmux { socket, output, fifo };
        let (w, h) = (width.to_string(), height.to_string());
        tmux.run(&["new-session", "-d", "-x", &w, "-y", &h, command]);
        tmux.run(&["pipe-pane", "-O", &format!("cat > '{}'", tmux.fifo.display())]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p"])
    }

    /// Waits until the screen shows `needle`; returns the screen. The
    /// screen is read again each time the program writes to the terminal.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            match self.output.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                // Whatever else arrived meanwhile is on this next screen too.
                Ok(()) => while self.output.try_recv().is_ok() {},
                Err(RecvTimeoutError::Timeout) => panic!("no {needle:?} on screen in 20 s:\n{screen}"),
                Err(RecvTimeoutError::Disconnected) => {
                    let screen = self.screen();
                    assert!(screen.contains(needle), "the pane's output ended without {needle:?}:\n{screen}");
                    return screen;
                }
            }
        }
    }

    fn type_line(&self, text: &str) {
        self.run(&["send-keys", "-l", text]);
        self.run(&["send-keys", "Enter"]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux").args(["-L", &self.socket, "kill-server"]).output();
        let _ = std::fs::remove_file(&self.fifo);
    }
}

/// `tether chat` with its embedded server, in a real terminal (tmux):
/// type, see the echo, get the picture, leave with Esc and find the shell
/// as it was. The coloured screen is kept in target/screenshots/ (the
/// browser test renders it to a PNG).
#[test]
fn chat_runs_in_a_real_terminal() {
    let command = format!("{} chat; echo \"exit status $?\"; exec sh", env!("CARGO_BIN_EXE_tether"));
    let tmux = Tmux::start(100, 34, &command);
    let screen = tmux.wait_for("open (permessage-deflate)");
    assert!(screen.contains("WebSocket (Echo) · ws://127.0.0.1:") && screen.contains("Send a message"), "{screen}");

    tmux.type_line("Hello!");
    tmux.wait_for("│echo: Hello!");
    tmux.type_line("/image");
    tmux.wait_for("PNG 96×64");
    // The picture's rows may land on the screen after its caption line.
    tmux.wait_for(&"▀".repeat(48));
    let colored = tmux.run(&["capture-pane", "-p", "-e"]);
    assert!(colored.contains("\x1b[38;2;") && colored.contains("\x1b[48;2;"), "in true colour");
    let dir = repo().join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("chat-tui.ansi"), colored).unwrap();

    tmux.run(&["send-keys", "Escape"]);
    let screen = tmux.wait_for("exit status 0");
    assert!(screen.contains("tether chat: closed: 1000"), "{screen}");
    assert!(!screen.contains("Send a message"), "the alternate screen is gone:\n{screen}");
    // Raw mode is off again: the shell reads lines as usual (in raw mode
    // Enter would send a bare CR, which sh does not take as end of line).
    tmux.type_line("echo cooked-$((6*7))");
    tmux.wait_for("cooked-42");
}
