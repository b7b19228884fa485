//! `generate completions <shell>` and `generate man`: shell completions and
//! man pages built from the same registry that dispatches the tools. The
//! results are committed under `completions/` and `man/`; a test fails when
//! they are stale.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Arg, ArgMatches, Command};
use clap_complete::Shell;

use super::registry;

pub fn command() -> Command {
    Command::new("generate")
        .about("Generate shell completions or man pages")
        .subcommand_required(true)
        .subcommand(
            Command::new("completions")
                .about("Print (or write) the completion script for a shell")
                .arg(Arg::new("shell").required(true).value_parser(clap::value_parser!(Shell)))
                .arg(
                    Arg::new("dir")
                        .long("dir")
                        .value_name("DIR")
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("Write into this directory instead of stdout"),
                ),
        )
        .subcommand(
            Command::new("man").about("Write man pages (gregor.1 and one per tool)").arg(
                Arg::new("dir")
                    .long("dir")
                    .value_name("DIR")
                    .default_value("man")
                    .value_parser(clap::value_parser!(PathBuf)),
            ),
        )
}

/// The whole toolkit as one clap command.
pub fn full_command() -> Command {
    let mut cmd = Command::new("gregor")
        .version(env!("CARGO_PKG_VERSION"))
        .about("An Apache-Kafka-compatible streaming platform in one binary")
        .subcommand_required(true);
    for tool in registry() {
        cmd = cmd.subcommand((tool.command)());
    }
    cmd
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    match m.subcommand() {
        Some(("completions", sub)) => {
            let shell = *sub.get_one::<Shell>("shell").context("shell")?;
            match sub.get_one::<PathBuf>("dir") {
                Some(dir) => {
                    let path = write_completions(shell, dir)?;
                    eprintln!("wrote {}", path.display());
                }
                None => clap_complete::generate(shell, &mut full_command(), "gregor", &mut std::io::stdout()),
            }
        }
        Some(("man", sub)) => {
            let dir = sub.get_one::<PathBuf>("dir").cloned().unwrap_or_else(|| PathBuf::from("man"));
            for path in write_man_pages(&dir)? {
                eprintln!("wrote {}", path.display());
            }
        }
        _ => anyhow::bail!("generate needs a subcommand: completions or man"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes one shell's completion script into `dir`.
pub fn write_completions(shell: Shell, dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = clap_complete::generate_to(shell, &mut full_command(), "gregor", dir)?;
    Ok(path)
}

/// Writes `gregor.1` and `gregor-<tool>.1` (and subcommand pages) into `dir`.
pub fn write_man_pages(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    let cmd = full_command();
    render(&cmd, "gregor", dir, &mut written)?;
    Ok(written)
}

fn render(cmd: &Command, name: &str, dir: &Path, written: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let page = cmd.clone().name(name.to_string()).bin_name(name.replace('-', " "));
    let mut buf = Vec::new();
    clap_mangen::Man::new(page).render(&mut buf)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, buf).with_context(|| format!("cannot write {}", path.display()))?;
    written.push(path);
    for sub in cmd.get_subcommands() {
        render(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}
