//! Rendering for humans and programs: plain text (the Kafka tools' exact
//! formats), tables (comfy-table, colored only on a terminal and never with
//! `NO_COLOR`), JSON and YAML. Also the progress bar used by long work.

use std::io::IsTerminal;

use clap::ValueEnum;
use comfy_table::{presets, Cell, Color, ContentArrangement, Table};
use serde::Serialize;

/// `--output` choices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Kafka's own text format.
    #[default]
    Plain,
    /// An aligned table.
    Table,
    /// JSON (one document).
    Json,
    /// YAML.
    Yaml,
}

/// Whether stdout may carry colors.
pub fn stdout_colors() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Whether stderr is a terminal (progress bars, prompts).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// A table with a header row; `cells` may carry colors (dropped without a terminal).
pub fn table(header: &[&str], rows: Vec<Vec<Cell>>) -> String {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    if !stdout_colors() {
        t.force_no_tty();
    } else {
        t.enforce_styling();
    }
    t.set_header(header.iter().map(Cell::new));
    for r in rows {
        t.add_row(r);
    }
    t.to_string()
}

/// A cell colored green (healthy) or red (not), when colors are on.
pub fn health_cell(text: impl ToString, healthy: bool) -> Cell {
    let c = Cell::new(text.to_string());
    if stdout_colors() {
        c.fg(if healthy { Color::Green } else { Color::Red })
    } else {
        c
    }
}

/// Serializes a value as JSON or YAML text.
pub fn structured<T: Serialize>(value: &T, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Yaml => serde_yaml::to_string(value)?,
        _ => {
            let mut s = serde_json::to_string_pretty(value)?;
            s.push('\n');
            s
        }
    })
}

/// A progress bar on stderr when it is a terminal; hidden otherwise.
pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    if !stderr_is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    let style = indicatif::ProgressStyle::with_template(&format!(
        "{what} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} ({{per_sec}}, eta {{eta}})"
    ))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}
