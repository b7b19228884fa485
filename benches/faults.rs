//! The fault harness as one command (a `harness = false` bench target, so
//! `cargo bench` builds the release `gregor` it runs, and `cargo test` does
//! not run it):
//!
//!     cargo bench --bench faults -- leader-kills --cycles 50
//!     cargo bench --bench faults -- crash-loop --cycles 20 --partitions 3
//!     cargo bench --bench faults -- corrupt --cycles 12 --output json
//!
//! The report goes to stdout, progress to stderr. Exit code 0 when nothing
//! acknowledged was lost, nothing was duplicated or reordered and no other
//! problem was seen (see `harness::Report::passed`), 1 otherwise, 2 when the
//! harness itself could not set up (a broker that never started, …).
//! The logic lives in `faults/harness.rs`, which the integration tests share.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};

#[path = "faults/harness.rs"]
mod harness;

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// Kill -9 partition leaders of a 3-broker cluster (RF=3, min.insync.replicas=2) while producing.
    LeaderKills,
    /// Kill -9 and restart a single broker (RF=1) while producing.
    CrashLoop,
    /// Kill -9 a single broker, damage its newest segment, restart, read back (one damage kind per cycle).
    Corrupt,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

/// Inject faults into real gregor brokers under an idempotent librdkafka producer and
/// count what was lost, duplicated or reordered.
#[derive(Parser)]
#[command(name = "faults")]
struct Args {
    #[arg(value_enum)]
    mode: Mode,
    /// Faults to inject.
    #[arg(long, default_value_t = 10)]
    cycles: usize,
    /// Partitions of the topic (leader-kills, crash-loop).
    #[arg(long, default_value_t = 3)]
    partitions: i32,
    /// Shortest wait before a fault.
    #[arg(long, default_value_t = 1000)]
    min_interval_ms: u64,
    /// Longest wait before a fault.
    #[arg(long, default_value_t = 3000)]
    max_interval_ms: u64,
    /// How long a killed broker stays down.
    #[arg(long, default_value_t = 500)]
    restart_delay_ms: u64,
    /// Records in flight (sent, not yet reported), at most.
    #[arg(long, default_value_t = 1000)]
    window: usize,
    /// Records per second; 0 for as fast as the window allows.
    #[arg(long, default_value_t = 0)]
    rate: u32,
    /// The producer's message.timeout.ms.
    #[arg(long, default_value_t = 300_000)]
    message_timeout_ms: u64,
    /// corrupt: acknowledged records before each damage.
    #[arg(long, default_value_t = 500)]
    records_per_cycle: usize,
    /// leader-kills: kill the next leader without waiting for full ISRs.
    #[arg(long)]
    no_wait_isr: bool,
    /// Seed of the fault schedule (default: from the clock; the report names it).
    #[arg(long)]
    seed: Option<u64>,
    /// The gregor binary (default: the one cargo built for this bench).
    #[arg(long, env = "GREGOR_BIN")]
    gregor: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// Keep the work directory (logs and segments) and print its path.
    #[arg(long)]
    keep: bool,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut s = harness::Settings::new(args.gregor.unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_gregor"))));
    s.cycles = args.cycles;
    s.partitions = args.partitions.max(1);
    s.min_interval = Duration::from_millis(args.min_interval_ms);
    s.max_interval = Duration::from_millis(args.max_interval_ms);
    s.restart_delay = Duration::from_millis(args.restart_delay_ms);
    s.window = args.window.max(1);
    s.rate = args.rate;
    s.message_timeout = Duration::from_millis(args.message_timeout_ms);
    s.records_per_cycle = args.records_per_cycle.max(1);
    s.wait_for_isr = !args.no_wait_isr;
    s.seed = args.seed.unwrap_or(s.seed);
    s.keep = args.keep;
    s.quiet = args.quiet;
    let result = match args.mode {
        Mode::LeaderKills => harness::leader_kills(&s),
        Mode::CrashLoop => harness::crash_loop(&s),
        Mode::Corrupt => harness::corrupt(&s),
    };
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    match args.output {
        Output::Text => print!("{}", report.text()),
        Output::Json => match serde_json::to_string_pretty(&report) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
