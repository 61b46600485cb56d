//! Text in columns: coloured pieces, a table whose columns fit their
//! content, and kubectl's way of printing an age.

use std::fmt::Write as _;
use std::time::Duration;

/// The ANSI foreground colours kubectl-argo-rollouts uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Colour {
    Red = 31,
    Green = 32,
    Yellow = 33,
    HiBlue = 94,
}

/// The colour kubectl-argo-rollouts gives a status icon, an image or
/// ReplicaSet tag, or an AnalysisRun phase (for its name); `None` for the
/// rest (paused and neutral icons are left in the terminal's colour).
pub(crate) fn colour_of(word: &str) -> Option<Colour> {
    match word {
        "✔" | "stable" => Some(Colour::Green),
        "✖" | "⚠" => Some(Colour::Red),
        "◷" | "?" | "canary" => Some(Colour::Yellow),
        "◌" | "Pending" | "Running" => Some(Colour::HiBlue),
        _ => None,
    }
}

/// Whether to colour the output: never when `NO_COLOR` holds any non-empty
/// value (<https://no-color.org>); otherwise always when `CLICOLOR_FORCE`
/// is set to anything but `0`; never for `TERM=dumb` (as
/// kubectl-argo-rollouts); otherwise only when stdout is a terminal.
/// `var` reads an environment variable.
pub(crate) fn colour_wanted(
    stdout_is_terminal: bool,
    var: impl Fn(&str) -> Option<String>,
) -> bool {
    let set = |name: &str| var(name).is_some_and(|v| !v.is_empty());
    if set("NO_COLOR") {
        return false;
    }
    if set("CLICOLOR_FORCE") && var("CLICOLOR_FORCE").as_deref() != Some("0") {
        return true;
    }
    stdout_is_terminal && var("TERM").as_deref() != Some("dumb")
}

/// Text made of pieces, each in its own colour or none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Text(Vec<(String, Option<Colour>)>);

impl Text {
    /// Uncoloured text.
    pub(crate) fn plain(s: impl Into<String>) -> Self {
        Self(vec![(s.into(), None)])
    }

    /// Appends `s` in `colour`.
    pub(crate) fn and(mut self, s: impl Into<String>, colour: Option<Colour>) -> Self {
        self.0.push((s.into(), colour));
        self
    }

    /// Appends `word` in the colour kubectl-argo-rollouts gives it.
    pub(crate) fn and_word(self, word: &str) -> Self {
        self.and(word, colour_of(word))
    }

    /// Width on a terminal. Counts characters: every glyph the view draws
    /// is one column wide, and Kubernetes names and image references are ASCII.
    pub(crate) fn width(&self) -> usize {
        self.0.iter().map(|(s, _)| s.chars().count()).sum()
    }

    /// Appends the text to `out`, with ANSI colours when `colour` is set.
    pub(crate) fn write(&self, out: &mut String, colour: bool) {
        for (s, c) in &self.0 {
            match c {
                Some(c) if colour && !s.is_empty() => {
                    let _ = write!(out, "\x1b[{}m{s}\x1b[0m", *c as u8);
                }
                _ => out.push_str(s),
            }
        }
    }
}

/// A table whose columns are as wide as their widest cell plus two spaces;
/// the last column is not padded and lines carry no trailing spaces.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    rows: Vec<Vec<Text>>,
}

/// The space between columns.
const GAP: usize = 2;

impl Table {
    /// Adds a row.
    pub(crate) fn row(&mut self, cells: Vec<Text>) {
        self.rows.push(cells);
    }

    /// Draws the table.
    pub(crate) fn render(&self, colour: bool) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.width());
            }
        }
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                cell.write(&mut line, colour);
                if i + 1 < columns {
                    let pad = widths[i] + GAP - cell.width();
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end_matches(' '));
            out.push('\n');
        }
        out
    }
}

/// A duration the way kubectl prints an AGE (`HumanDuration` in Kubernetes'
/// apimachinery): seconds up to 2 minutes, then minutes (with seconds under
/// 10 minutes), hours (with minutes under 8 hours), days, years.
///
/// ```text
/// 5s  119s  2m  3m20s  10m  179m  3h  7h59m  8h  47h  2d  7d23h  8d  730d  2y  8y
/// ```
pub(crate) fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 120 {
        return format!("{s}s");
    }
    let (m, h) = (s / 60, s / 3600);
    let (days, years) = (h / 24, h / 24 / 365);
    let unless_zero = |n: u64, unit: &str| {
        if n == 0 {
            String::new()
        } else {
            format!("{n}{unit}")
        }
    };
    match () {
        () if m < 10 => format!("{m}m{}", unless_zero(s % 60, "s")),
        () if m < 180 => format!("{m}m"),
        () if h < 8 => format!("{h}h{}", unless_zero(m % 60, "m")),
        () if h < 48 => format!("{h}h"),
        () if h < 24 * 8 => format!("{days}d{}", unless_zero(h % 24, "h")),
        () if h < 24 * 365 * 2 => format!("{days}d"),
        () if h < 24 * 365 * 8 => format!("{years}y{}", unless_zero(days % 365, "d")),
        () => format!("{years}y"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        let cases = [
            (0, "0s"),
            (5, "5s"),
            (119, "119s"),
            (120, "2m"),
            (200, "3m20s"),
            (599, "9m59s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (7 * 3600 + 59 * 60, "7h59m"),
            (8 * 3600 + 59 * 60, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (7 * 86400 + 23 * 3600, "7d23h"),
            (8 * 86400 + 5 * 3600, "8d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (731 * 86400, "2y1d"),
            (8 * 365 * 86400, "8y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(Duration::from_secs(secs)), want, "{secs}s");
        }
    }

    fn table(names: &[&str]) -> Table {
        let mut t = Table::default();
        t.row(["NAME", "KIND", "STATUS"].map(Text::plain).to_vec());
        for n in names {
            t.row(vec![
                Text::plain("└──⧉ ").and(*n, Some(Colour::Green)),
                Text::plain("ReplicaSet"),
                Text::default().and_word("✔").and(" Healthy", None),
            ]);
        }
        t
    }

    #[test]
    fn columns_fit_the_widest_cell_plus_two_spaces() {
        let long = "a-very-long-rollout-name-that-goes-on-and-on-7d9f8c6b5";
        let text = table(&["web-1", long]).render(false);
        let lines: Vec<&str> = text.lines().collect();
        let kind_at = 5 + long.len() + GAP;
        for line in &lines {
            let chars: Vec<char> = line.chars().collect();
            assert_eq!(chars[kind_at - 1], ' ', "{line}");
            assert_ne!(chars[kind_at], ' ', "{line}");
        }
        assert_eq!(
            lines[1],
            format!(
                "└──⧉ web-1{}ReplicaSet  ✔ Healthy",
                " ".repeat(long.len() - 5 + GAP)
            )
        );
    }

    #[test]
    fn colour_does_not_move_columns_and_lines_end_without_spaces() {
        let t = table(&["web-1", "web-22"]);
        let plain = t.render(false);
        let coloured = t.render(true);
        assert!(coloured.contains("\x1b[32mweb-1\x1b[0m"), "{coloured}");
        assert!(coloured.contains("\x1b[32m✔\x1b[0m Healthy"), "{coloured}");
        let stripped = coloured.replace("\x1b[32m", "").replace("\x1b[0m", "");
        assert_eq!(stripped, plain);
        assert!(plain.lines().all(|l| !l.ends_with(' ')), "{plain:?}");
        assert!(!plain.contains('\x1b'));
    }

    #[test]
    fn colours_follow_kubectl_argo_rollouts() {
        assert_eq!(colour_of("✔"), Some(Colour::Green));
        assert_eq!(colour_of("stable"), Some(Colour::Green));
        assert_eq!(colour_of("canary"), Some(Colour::Yellow));
        assert_eq!(colour_of("✖"), Some(Colour::Red));
        assert_eq!(colour_of("◌"), Some(Colour::HiBlue));
        assert_eq!(colour_of("Running"), Some(Colour::HiBlue));
        // Paused and neutral icons keep the terminal's colour.
        assert_eq!(colour_of("॥"), None);
        assert_eq!(colour_of("•"), None);
    }

    #[test]
    fn no_color_wins_then_force_then_the_terminal() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert!(colour_wanted(true, env(&[])));
        assert!(!colour_wanted(false, env(&[])));
        assert!(!colour_wanted(true, env(&[("NO_COLOR", "1")])));
        assert!(!colour_wanted(true, env(&[("NO_COLOR", "false")])));
        // An empty NO_COLOR does not count (no-color.org).
        assert!(colour_wanted(true, env(&[("NO_COLOR", "")])));
        assert!(colour_wanted(false, env(&[("CLICOLOR_FORCE", "1")])));
        assert!(!colour_wanted(false, env(&[("CLICOLOR_FORCE", "0")])));
        let both = env(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
        assert!(!colour_wanted(true, both));
        assert!(!colour_wanted(true, env(&[("TERM", "dumb")])));
    }
}
