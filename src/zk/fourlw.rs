//! Four-letter words: on a fresh connection the first four bytes may be an ASCII
//! command instead of a frame length (`ruok` → `imok`, `srvr`, `stat`, `mntr`,
//! `conf`, `isro`, `envi`, `cons`, `dump`, `wchs`, `dirs`, `crst`, `srst`). The
//! answer is plain text, after which the server closes the connection. Commands can
//! be limited with `4lw.commands.whitelist`; by default all are allowed.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::sync::atomic::Ordering;

use super::core::{Core, Stats};

/// Every word this server answers.
pub const WORDS: [&str; 13] =
    ["ruok", "srvr", "stat", "mntr", "conf", "isro", "envi", "cons", "dump", "wchs", "dirs", "crst", "srst"];

/// The version this server reports (what ZooKeeper it behaves like).
pub const VERSION: &str = concat!("3.8.0-gregor-", env!("CARGO_PKG_VERSION"), ", built on gregor");

/// Recognises a four-letter word in the first four bytes of a connection.
pub fn parse(first: &[u8]) -> Option<&'static str> {
    let first = first.get(..4)?;
    WORDS.into_iter().find(|w| w.as_bytes() == first)
}

fn dir_size(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

fn latency_line(stats: &Stats) -> String {
    format!("Latency min/avg/max: {}/{:.4}/{}\n", stats.min_latency_ms, stats.avg_latency_ms(), stats.max_latency_ms)
}

fn connections(core: &Core, out: &mut String) {
    let mut conns: Vec<_> = core.conns.values().collect();
    conns.sort_by_key(|c| c.peer);
    for c in conns {
        let queued = c.out.queued.load(Ordering::Relaxed);
        let _ = write!(out, " /{}[1](queued={},recved={},sent={}", c.peer, queued, c.received, c.sent);
        if let Some(s) = c.session {
            let _ = write!(out, ",sid={s:#x},lzxid={:#x}", c.last_zxid);
        }
        out.push_str(")\n");
    }
}

fn server_summary(core: &Core, out: &mut String) {
    out.push_str(&latency_line(&core.stats));
    let _ = writeln!(out, "Received: {}", core.stats.received);
    let _ = writeln!(out, "Sent: {}", core.stats.sent);
    let _ = writeln!(out, "Connections: {}", core.conns.len());
    out.push_str("Outstanding: 0\n");
    let _ = writeln!(out, "Zxid: {:#x}", core.db.last_zxid);
    out.push_str("Mode: standalone\n");
    let _ = writeln!(out, "Node count: {}", core.db.tree.node_count());
}

/// The text answer to `word`.
pub(crate) fn respond(core: &mut Core, word: &str) -> String {
    if let Some(allowed) = &core.config.four_letter_words {
        if !allowed.contains(word) {
            return format!("{word} is not executed because it is not in the whitelist.\n");
        }
    }
    let mut out = String::new();
    match word {
        "ruok" => out.push_str("imok"),
        "isro" => out.push_str("rw"),
        "srvr" => {
            let _ = writeln!(out, "Zookeeper version: {VERSION}");
            server_summary(core, &mut out);
        }
        "stat" => {
            let _ = writeln!(out, "Zookeeper version: {VERSION}");
            out.push_str("Clients:\n");
            connections(core, &mut out);
            out.push('\n');
            server_summary(core, &mut out);
        }
        "cons" => {
            connections(core, &mut out);
            out.push('\n');
        }
        "mntr" => {
            // The same numbers `/metrics` shows (metricsProvider), read the same way.
            let s = super::metrics::ZkStats::read(core);
            let lines: [(&str, String); 17] = [
                ("zk_version", VERSION.to_string()),
                ("zk_server_state", "standalone".into()),
                ("zk_avg_latency", format!("{:.4}", s.avg_latency)),
                ("zk_max_latency", s.max_latency.to_string()),
                ("zk_min_latency", s.min_latency.to_string()),
                ("zk_packets_received", s.packets_received.to_string()),
                ("zk_packets_sent", s.packets_sent.to_string()),
                ("zk_num_alive_connections", s.num_alive_connections.to_string()),
                ("zk_outstanding_requests", s.outstanding_requests.to_string()),
                ("zk_znode_count", s.znode_count.to_string()),
                ("zk_watch_count", s.watch_count.to_string()),
                ("zk_ephemerals_count", s.ephemerals_count.to_string()),
                ("zk_approximate_data_size", s.approximate_data_size.to_string()),
                ("zk_global_sessions", s.global_sessions.to_string()),
                ("zk_uptime", s.uptime.to_string()),
                ("zk_last_zxid", format!("{:#x}", s.last_zxid)),
                ("zk_max_file_descriptor_count", "-1".into()),
            ];
            for (k, v) in lines {
                let _ = writeln!(out, "{k}\t{v}");
            }
        }
        "conf" => {
            let c = &core.config;
            let _ = writeln!(out, "clientPort={}", c.client_port_address.port());
            out.push_str("secureClientPort=-1\n");
            let _ = writeln!(out, "dataDir={}", core.persist.snap_dir().display());
            let _ = writeln!(out, "dataDirSize={}", dir_size(core.persist.snap_dir()));
            let _ = writeln!(out, "dataLogDir={}", core.persist.log_dir().display());
            let _ = writeln!(out, "dataLogSize={}", dir_size(core.persist.log_dir()));
            let _ = writeln!(out, "tickTime={}", c.tick_time_ms);
            let _ = writeln!(out, "maxClientCnxns={}", c.max_client_cnxns);
            let _ = writeln!(out, "minSessionTimeout={}", c.min_session_timeout());
            let _ = writeln!(out, "maxSessionTimeout={}", c.max_session_timeout());
            out.push_str("clientPortListenBacklog=-1\nserverId=0\n");
        }
        "envi" => {
            out.push_str("Environment:\n");
            let _ = writeln!(out, "zookeeper.version={VERSION}");
            let host = fs::read_to_string("/etc/hostname").unwrap_or_default();
            let _ = writeln!(out, "host.name={}", host.trim());
            let _ = writeln!(out, "os.name={}", std::env::consts::OS);
            let _ = writeln!(out, "os.arch={}", std::env::consts::ARCH);
            let dir = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
            let _ = writeln!(out, "user.dir={dir}");
        }
        "dump" => {
            out.push_str("SessionTracker dump:\n");
            let mut sessions: Vec<_> = core.sessions.iter().collect();
            sessions.sort_by_key(|s| s.id);
            let _ = writeln!(out, "Global Sessions({}):", sessions.len());
            for s in sessions {
                let _ = writeln!(out, "{:#x}\t{}ms", s.id, s.timeout_ms);
            }
            out.push_str("ephemeral nodes dump:\n");
            let mut owners: Vec<_> = core.db.tree.ephemerals_by_session().collect();
            owners.sort_by_key(|(id, _)| **id);
            let _ = writeln!(out, "Sessions with Ephemerals ({}):", owners.len());
            for (id, paths) in owners {
                let _ = writeln!(out, "{id:#x}:");
                for p in paths {
                    let _ = writeln!(out, "\t{p}");
                }
            }
        }
        "wchs" => {
            let _ = writeln!(
                out,
                "{} connections watching {} paths\nTotal watches:{}",
                core.watches.session_count(),
                core.watches.path_count(),
                core.watches.watch_count()
            );
        }
        "dirs" => {
            let _ = writeln!(out, "datadir_size: {}", dir_size(core.persist.snap_dir()));
            let _ = writeln!(out, "logdir_size: {}", dir_size(core.persist.log_dir()));
        }
        "crst" => {
            for c in core.conns.values_mut() {
                c.received = 0;
                c.sent = 0;
            }
            out.push_str("Connection stats reset.\n");
        }
        "srst" => {
            core.stats = Stats::default();
            out.push_str("Server stats reset.\n");
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_words_only_at_the_start() {
        assert_eq!(parse(b"ruok"), Some("ruok"));
        assert_eq!(parse(b"mntr\n"), Some("mntr"));
        assert_eq!(parse(b"\0\0\0\x2d"), None);
        assert_eq!(parse(b"ru"), None);
    }
}
