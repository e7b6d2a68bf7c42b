//! Taking over the terminal and giving it back, also on panic.

use std::io;

use ratatui::DefaultTerminal;

/// The terminal in raw mode on the alternate screen; dropping it restores
/// the terminal. A panic restores it too (ratatui's panic hook, installed by
/// `try_init`), before the panic message is printed.
pub struct FullScreen {
    terminal: DefaultTerminal,
}

impl FullScreen {
    /// Switches to raw mode and the alternate screen.
    pub fn enter() -> io::Result<FullScreen> {
        match ratatui::try_init() {
            Ok(terminal) => Ok(FullScreen { terminal }),
            Err(e) => {
                ratatui::restore(); // raw mode may be on already
                Err(e)
            }
        }
    }

    /// The terminal to draw on.
    pub fn terminal(&mut self) -> &mut DefaultTerminal {
        &mut self.terminal
    }
}

impl Drop for FullScreen {
    fn drop(&mut self) {
        ratatui::restore();
    }
}
