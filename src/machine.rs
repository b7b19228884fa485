//! The machine's own limits, measured the same way by `gregor perf machine`
//! and by the `perf` benchmark so that a broker figure can be printed beside
//! what the hardware does without a broker in the way:
//!
//! - [`loopback`]: one TCP stream over 127.0.0.1 written with large writes
//!   for a few seconds (what a single client connection could carry at best);
//!   [`iperf3_loopback`] runs iperf3 for the same figure when it is installed.
//! - [`disk_write`]: N bytes in 1 MiB writes and one `fdatasync`, into a
//!   directory on the file system being measured — what
//!   `dd if=/dev/zero of=F bs=1M count=N conv=fdatasync` measures;
//!   [`dd_write`] runs that `dd` for comparison when it is there. The file is
//!   removed afterwards in both cases, also when a write fails.
//! - [`process_cpu_seconds`]: a process's user + system CPU time from
//!   `/proc/PID/stat`, in seconds (ticks per second from `getconf CLK_TCK`).
//! - [`free_bytes`]: the space available to an unprivileged user on a path's
//!   file system.
//!
//! Blocking std I/O only (threads, no runtime): these run alone, and a
//! runtime's scheduling would be part of what is measured. Nothing here
//! touches the broker or the storage code.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bytes moved in a measured time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Rate {
    /// Bytes per second (0 when nothing was timed).
    pub fn bytes_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.bytes as f64 / secs
        } else {
            0.0
        }
    }

    /// Megabytes (10^6 bytes) per second, the unit the benchmarks print.
    pub fn mb_per_sec(&self) -> f64 {
        self.bytes_per_sec() / 1e6
    }
}

/// The size of one write for both the loopback blast and the disk test.
pub const WRITE_SIZE: usize = 1 << 20;

/// Blasts one TCP stream over 127.0.0.1 for about `duration` in 1 MiB writes
/// and returns what the receiver read, timed from the first write to the
/// receiver seeing the end of the stream.
pub fn loopback(duration: Duration) -> std::io::Result<Rate> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    let addr = listener.local_addr()?;
    let receiver = std::thread::spawn(move || -> std::io::Result<u64> {
        let (mut stream, _) = listener.accept()?;
        let mut buf = vec![0u8; WRITE_SIZE];
        let mut total = 0u64;
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => total += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    });
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let chunk = vec![0x5au8; WRITE_SIZE];
    let start = Instant::now();
    let sent = (|| -> std::io::Result<()> {
        while start.elapsed() < duration {
            stream.write_all(&chunk)?;
        }
        stream.shutdown(Shutdown::Write)
    })();
    let received = receiver.join().map_err(|_| std::io::Error::other("loopback receiver panicked"))?;
    let elapsed = start.elapsed();
    sent?;
    Ok(Rate { bytes: received?, elapsed })
}

/// iperf3's single-stream loopback figure for `seconds`, when iperf3 is
/// installed and runs; `None` otherwise. The server gets a port that was
/// free a moment ago and serves one test (`-1`).
pub fn iperf3_loopback(seconds: u32) -> Option<Rate> {
    let port = TcpListener::bind(("127.0.0.1", 0)).ok()?.local_addr().ok()?.port().to_string();
    let mut server = Command::new("iperf3")
        .args(["-s", "-1", "-B", "127.0.0.1", "-p", &port])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    // The server needs a moment to listen; the client retries briefly rather
    // than sleeping a guessed time.
    let mut out = None;
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(100));
        let run = Command::new("iperf3")
            .args(["-c", "127.0.0.1", "-p", &port, "-t", &seconds.to_string(), "-J"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if run.status.success() {
            out = Some(run.stdout);
            break;
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    let json: serde_json::Value = serde_json::from_slice(&out?).ok()?;
    let received = &json["end"]["sum_received"];
    let bytes = received["bytes"].as_u64()?;
    let secs = received["seconds"].as_f64()?;
    (secs > 0.0).then(|| Rate { bytes, elapsed: Duration::from_secs_f64(secs) })
}

/// Removes a file when dropped, so a failed measurement leaves nothing behind.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A name no other measurement in this or another process uses at the same time.
fn scratch_path(dir: &Path, tool: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!(".gregor-{tool}-{}-{n}.tmp", std::process::id()))
}

/// Writes `bytes` into a new file in `dir` in 1 MiB writes, then `fdatasync`s
/// it; timed from creating the file to the sync returning. The file is
/// removed before returning.
pub fn disk_write(dir: &Path, bytes: u64) -> std::io::Result<Rate> {
    let path = scratch_path(dir, "disk");
    let _remove = RemoveOnDrop(path.clone());
    let chunk = vec![0u8; WRITE_SIZE];
    let start = Instant::now();
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(WRITE_SIZE as u64) as usize;
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    file.sync_data()?;
    let elapsed = start.elapsed();
    drop(file);
    Ok(Rate { bytes, elapsed })
}

/// Runs `dd if=/dev/zero of=F bs=1M count=N conv=fdatasync` in `dir` with N =
/// `bytes` in whole MiB (at least one) and returns its rate; `None` when dd
/// is not installed or fails. Timed here around the process, which differs
/// from dd's own figure only by its start-up.
pub fn dd_write(dir: &Path, bytes: u64) -> Option<Rate> {
    let path = scratch_path(dir, "dd");
    let _remove = RemoveOnDrop(path.clone());
    let count = (bytes / WRITE_SIZE as u64).max(1);
    let start = Instant::now();
    let out = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", path.display()))
        .args(["bs=1M", &format!("count={count}"), "conv=fdatasync"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .ok()?;
    let elapsed = start.elapsed();
    out.status.success().then_some(Rate { bytes: count * WRITE_SIZE as u64, elapsed })
}

/// Clock ticks per second for `/proc/PID/stat` times: `getconf CLK_TCK`,
/// else 100 (the value on every common Linux).
pub fn clock_ticks_per_sec() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// utime + stime in ticks from the text of `/proc/PID/stat`. The command
/// name (field 2) is in parentheses and may itself hold spaces or `)`, so
/// the fields are counted from the last `)`: utime and stime are fields 14
/// and 15, the 12th and 13th after it.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The CPU seconds (user + system) process `pid` has used so far.
pub fn process_cpu_seconds(pid: u32, ticks_per_sec: u64) -> std::io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = parse_stat_ticks(&stat).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("cannot read CPU times from /proc/{pid}/stat"))
    })?;
    Ok(ticks as f64 / ticks_per_sec.max(1) as f64)
}

/// Bytes available to an unprivileged user on the file system holding `path`.
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(path)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stat_ticks_count_from_the_last_parenthesis() {
        // A command name with a space and a `)` in it, as a process may set.
        let stat = "4242 (my) broker) S 1 4242 4242 0 -1 4194560 120 0 0 0 250 75 0 0 20 0 9 0 100 1000 50";
        assert_eq!(parse_stat_ticks(stat), Some(325));
        assert_eq!(parse_stat_ticks("1 (x) S 1"), None);
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn own_cpu_time_is_readable_and_grows() {
        let ticks = clock_ticks_per_sec();
        assert!(ticks > 0);
        let before = process_cpu_seconds(std::process::id(), ticks).unwrap();
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(300) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let after = process_cpu_seconds(std::process::id(), ticks).unwrap();
        assert!(after >= before, "{after} < {before}");
    }

    #[test]
    fn loopback_moves_bytes() {
        let rate = loopback(Duration::from_millis(300)).unwrap();
        assert!(rate.bytes >= WRITE_SIZE as u64, "{rate:?}");
        assert!(rate.elapsed >= Duration::from_millis(300), "{rate:?}");
        assert!(rate.mb_per_sec() > 0.0);
    }

    #[test]
    fn disk_write_writes_syncs_and_removes_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = 3 * WRITE_SIZE as u64 + 123;
        let rate = disk_write(dir.path(), bytes).unwrap();
        assert_eq!(rate.bytes, bytes);
        assert!(rate.mb_per_sec() > 0.0, "{rate:?}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "scratch file left behind");
        if let Some(dd) = dd_write(dir.path(), 2 * WRITE_SIZE as u64) {
            assert_eq!(dd.bytes, 2 * WRITE_SIZE as u64);
            assert!(dd.mb_per_sec() > 0.0);
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "dd's file left behind");
        assert!(free_bytes(dir.path()).unwrap() > 0);
    }

    #[test]
    fn disk_write_into_a_missing_dir_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(disk_write(&dir.path().join("missing"), 1024).is_err());
    }
}
