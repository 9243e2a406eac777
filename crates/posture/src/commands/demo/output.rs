//! How the demo speaks: headed steps, short explanations, commands and facts, coloured on a
//! terminal and plain when piped or when `NO_COLOR` is set.

use std::io::Write;

use anstyle::{AnsiColor, Style};
use jiff::SignedDuration;

use super::DemoArgs;

const HEADING: Style = Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)));
const COMMAND: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
const DIM: Style = Style::new().dimmed();
const BAD: Style = Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
const GOOD: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));

/// Colour is stripped by the stream when stdout is not a terminal or `NO_COLOR` is set.
pub(crate) struct Output {
    stream: anstream::AutoStream<std::io::Stdout>,
}

impl Output {
    pub(crate) fn stdout() -> Self {
        Self {
            stream: anstream::AutoStream::auto(std::io::stdout()),
        }
    }

    /// Writes one line; a closed pipe (`posture demo | head`) is not worth failing for.
    pub(crate) fn line(&mut self, text: impl AsRef<str>) {
        let _ = writeln!(self.stream, "{}", text.as_ref());
    }

    pub(crate) fn blank(&mut self) {
        self.line("");
    }

    pub(crate) fn intro(&mut self, url: &str, args: &DemoArgs) {
        let clock = if args.fast {
            "its clock jumps ahead when the demo lets time pass".to_owned()
        } else {
            format!("its clock runs {}x faster than real time", args.speed)
        };
        self.line(format!(
            "{HEADING}posture demo{HEADING:#}: the runbook on a simulated two-node k3s cluster."
        ));
        self.explain(format!(
            "The cluster is the runbook's homelab, served by this process at {url}; {clock}."
        ));
    }

    pub(crate) fn heading(&mut self, number: usize, title: &str) {
        self.blank();
        self.line(format!("{HEADING}== Step {number}: {title}{HEADING:#}"));
    }

    /// A sentence or two saying why the step matters.
    pub(crate) fn explain(&mut self, text: impl AsRef<str>) {
        for line in wrap(text.as_ref(), 96) {
            self.line(line);
        }
    }

    pub(crate) fn command(&mut self, command: impl AsRef<str>) {
        self.line(format!("{COMMAND}$ {}{COMMAND:#}", command.as_ref()));
    }

    pub(crate) fn fact(&mut self, text: impl AsRef<str>) {
        self.line(format!("  {}", text.as_ref()));
    }

    pub(crate) fn bad(&mut self, text: impl AsRef<str>) {
        self.line(format!("  {BAD}✗{BAD:#} {}", text.as_ref()));
    }

    pub(crate) fn good(&mut self, text: impl AsRef<str>) {
        self.line(format!("  {GOOD}✓{GOOD:#} {}", text.as_ref()));
    }

    pub(crate) fn dim(&mut self, text: impl AsRef<str>) {
        self.line(format!("{DIM}{}{DIM:#}", text.as_ref()));
    }

    pub(crate) fn passing(&mut self, by: SignedDuration) {
        let text = match by.as_secs() {
            s if s % 60 == 0 => format!("{} virtual minute(s)", s / 60),
            s => format!("{s} virtual second(s)"),
        };
        self.dim(format!("  ... {text} pass ..."));
    }
}

/// Greedy word wrap.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        if !current.is_empty() && current.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wraps_at_word_boundaries() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
        assert_eq!(wrap("", 5), Vec::<String>::new());
    }
}
