//! argv[0] dispatch: invoked as `kafka-server-start.sh` (or any script name a
//! tool answers to, with or without `.sh`), the binary is that tool;
//! otherwise the first argument names the tool.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use super::{registry, Tool, EXIT_FAILURE, EXIT_USAGE};

/// The tool a program name (argv[0]'s basename) stands for, with the
/// arguments the name implies (`kafka-producer-perf-test` → `perf producer`).
pub fn tool_for_program(program: &str) -> Option<(&'static Tool, &'static [&'static str])> {
    let base = Path::new(program).file_name().and_then(|s| s.to_str()).unwrap_or(program);
    let base = base.strip_suffix(".sh").unwrap_or(base);
    registry().iter().find_map(|t| {
        if t.name == base {
            return Some((t, &[][..]));
        }
        t.scripts.iter().find(|s| s.name == base).map(|s| (t, s.args))
    })
}

fn top_level_help() -> String {
    let mut s = String::from(
        "gregor — an Apache-Kafka-compatible streaming platform in one binary\n\n\
         Usage: gregor <TOOL> [ARGS]...\n       <kafka-script-name> [ARGS]...   (through a symlink)\n\nTools:\n",
    );
    for t in registry() {
        let about = (t.command)().get_about().map(|a| a.to_string()).unwrap_or_default();
        s.push_str(&format!("  {:<18} {}\n", t.name, about));
    }
    s.push_str(
        "\nOptions:\n  --list     list the tools and the script names they answer to\n  -h, --help\n  -V, --version\n",
    );
    s
}

/// The entry point: dispatch, run, map errors to exit codes.
/// `gregor help <tool> [<subcommand>...]`: that tool's help, as `--help` shows it.
fn help_for(words: &[OsString]) -> ExitCode {
    let name = words[0].to_string_lossy();
    let Some((tool, implied)) = tool_for_program(&name) else {
        eprintln!("error: unknown tool '{name}'\n\n{}", top_level_help());
        return ExitCode::from(EXIT_USAGE);
    };
    let mut cmd = (tool.command)().name(tool.name).bin_name(format!("gregor {}", tool.name));
    cmd.build();
    let path: Vec<String> = implied
        .iter()
        .map(|s| s.to_string())
        .chain(words[1..].iter().map(|w| w.to_string_lossy().into_owned()))
        .collect();
    let mut current = &mut cmd;
    for word in &path {
        if current.find_subcommand(word).is_none() {
            eprintln!("error: '{}' has no subcommand '{word}'", current.get_bin_name().unwrap_or(tool.name));
            return ExitCode::from(EXIT_USAGE);
        }
        let Some(sub) = current.find_subcommand_mut(word) else { return ExitCode::from(EXIT_USAGE) };
        current = sub;
    }
    match current.print_long_help() {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(EXIT_FAILURE),
    }
}

pub fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let program = args.first().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default();
    // The name usage lines show: the script a symlink stands for, or `gregor <tool>`.
    let mut shown = Path::new(&program).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tool = match tool_for_program(&program) {
        Some((t, implied)) => {
            for (i, a) in implied.iter().enumerate() {
                args.insert(1 + i, OsString::from(a));
            }
            t
        }
        None => {
            let first = args.get(1).map(|a| a.to_string_lossy().into_owned());
            match first.as_deref() {
                Some("help") if args.len() > 2 => return help_for(&args[2..]),
                None | Some("-h") | Some("--help") | Some("help") => {
                    print!("{}", top_level_help());
                    return if first.is_none() { ExitCode::from(EXIT_USAGE) } else { ExitCode::SUCCESS };
                }
                Some("-V") | Some("--version") => {
                    println!("gregor {}", env!("CARGO_PKG_VERSION"));
                    return ExitCode::SUCCESS;
                }
                Some("--list") => {
                    for t in registry() {
                        let scripts: Vec<String> = t.scripts.iter().map(|s| format!("{}.sh", s.name)).collect();
                        println!("{}\t{}", t.name, scripts.join(" "));
                    }
                    return ExitCode::SUCCESS;
                }
                Some(name) => match tool_for_program(name) {
                    Some((t, implied)) => {
                        shown = format!("gregor {}", t.name);
                        args.remove(0);
                        for (i, a) in implied.iter().enumerate() {
                            args.insert(1 + i, OsString::from(a));
                        }
                        t
                    }
                    None => {
                        eprintln!("error: unknown tool '{name}'\n\n{}", top_level_help());
                        return ExitCode::from(EXIT_USAGE);
                    }
                },
            }
        }
    };
    let matches = match (tool.command)().bin_name(shown).try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match (tool.run)(&matches) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("Error: {}", super::common::error_line(&err));
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
