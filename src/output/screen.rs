//! The terminal of a live view (`qfix watch`): the alternate screen in raw mode, redrawn in
//! place, and given back as it was however the view ends (Drop: a quit, an error, a panic).

use std::io::{self, Write};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyModifiers};
use crossterm::{cursor, execute, queue, terminal};

pub struct Screen {
    out: io::Stdout,
}

impl Screen {
    pub fn enter() -> io::Result<Screen> {
        let mut out = io::stdout();
        terminal::enable_raw_mode()?;
        if let Err(e) = execute!(out, terminal::EnterAlternateScreen, cursor::Hide) {
            let _ = terminal::disable_raw_mode();
            return Err(e);
        }
        Ok(Screen { out })
    }

    /// The terminal's width; 80 when it does not say (a pseudo-terminal of size 0).
    pub fn width(&self) -> usize {
        match terminal::size() {
            Ok((w, _)) if w >= 40 => w as usize,
            _ => 80,
        }
    }

    /// Wait up to `d` for a key; whether it asked to quit (q, Esc or Ctrl-C).
    pub fn wait_for_quit(&mut self, d: Duration) -> io::Result<bool> {
        let until = Instant::now() + d;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if !event::poll(left)? {
                return Ok(false);
            }
            if let Event::Key(KeyEvent {
                code, modifiers, ..
            }) = event::read()?
            {
                let ctrl_c =
                    code == KeyCode::Char('c') && modifiers.contains(KeyModifiers::CONTROL);
                if ctrl_c || matches!(code, KeyCode::Char('q') | KeyCode::Esc) {
                    return Ok(true);
                }
            }
        }
    }

    pub fn draw(&mut self, lines: &[String]) -> io::Result<()> {
        queue!(
            self.out,
            cursor::MoveTo(0, 0),
            terminal::Clear(terminal::ClearType::All)
        )?;
        for (i, line) in lines.iter().enumerate() {
            queue!(self.out, cursor::MoveTo(0, i as u16))?;
            self.out.write_all(line.as_bytes())?;
        }
        self.out.flush()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = execute!(self.out, cursor::Show, terminal::LeaveAlternateScreen);
        let _ = terminal::disable_raw_mode();
    }
}
