//! `dump-log` (kafka-dump-log.sh, Kafka's DumpLogSegments): prints what a
//! partition's files on disk hold, offline (no broker), in Kafka's text.
//!
//! - `.log`: `Log starting offset: N`, then one line per batch (`baseOffset:
//!   … isvalid: true`); with `--deep-iteration` one `| offset: …` line per
//!   record, with `--print-data-log` (which implies it) keys and payloads as
//!   UTF-8. A tail too short for its batch ends the walk with `Found N invalid
//!   bytes at the end of <name>`, as Kafka's; a batch size below the minimum
//!   or above `--max-message-size` stops the file with an error naming the
//!   position (Kafka stops there too, with an exception), and the tool exits 1.
//! - `.index`: `offset: N position: P` per entry, each checked against the
//!   batch at that position of the `.log` beside it ("Mismatches in :…" on
//!   stderr); `--index-sanity-check` applies the broker's open-time check
//!   only; `--verify-index-only` prints just the mismatches.
//! - `.timeindex`: `timestamp: T offset: N`, checked against the batches.
//! - `.snapshot` (producer state), `.txnindex` (aborted transactions), and —
//!   beyond Kafka's tool — the checkpoint files (`replication-offset-checkpoint`,
//!   `recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`,
//!   `cleaner-offset-checkpoint`, `leader-epoch-checkpoint`).
//!
//! Batches are read one at a time with bounded reads (a header, then at most
//! `--max-message-size` bytes), so a corrupt length cannot make the tool
//! allocate without bound; records are decoded by the codec crate, the batch
//! header by `protocol::batch`, the index and snapshot formats by `storage`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bytes::Bytes;
use clap::{Arg, ArgAction, ArgMatches, Command};
use kafka_protocol::records::RecordBatchDecoder;

use crate::protocol::batch::{self, BatchHeader, Compression, CRC_START, HEADER_SIZE, LOG_OVERHEAD};
use crate::storage::inspect;

/// Kafka's default `--max-message-size`.
const DEFAULT_MAX_MESSAGE_SIZE: &str = "5242880";
/// Kafka's smallest record overhead (a v0 message), the floor its reader checks.
const MIN_RECORD_OVERHEAD: i32 = 14;
/// Most records a batch may claim before it is refused undecoded (the codec
/// reserves room for the announced count).
const MAX_RECORDS_PER_BATCH: i32 = 4_000_000;

pub fn command() -> Command {
    Command::new("dump-log")
        .about("Print the contents of log segments, indexes, snapshots and checkpoints (offline)")
        .arg(
            Arg::new("files")
                .long("files")
                .value_name("FILES")
                .required(true)
                .help("Comma-separated files to dump: .log, .index, .timeindex, .snapshot, .txnindex, checkpoints"),
        )
        .arg(
            Arg::new("print-data-log")
                .long("print-data-log")
                .action(ArgAction::SetTrue)
                .help("Print the records' keys and payloads (implies --deep-iteration)"),
        )
        .arg(
            Arg::new("deep-iteration")
                .long("deep-iteration")
                .action(ArgAction::SetTrue)
                .help("Print every record, not only the batches"),
        )
        .arg(
            Arg::new("verify-index-only")
                .long("verify-index-only")
                .action(ArgAction::SetTrue)
                .help("Only check the index entries against the log; print the mismatches"),
        )
        .arg(
            Arg::new("index-sanity-check")
                .long("index-sanity-check")
                .action(ArgAction::SetTrue)
                .help("Only run the check the broker applies when it opens an index"),
        )
        .arg(
            Arg::new("max-message-size")
                .long("max-message-size")
                .value_name("BYTES")
                .default_value(DEFAULT_MAX_MESSAGE_SIZE)
                .value_parser(clap::value_parser!(i32).range(1..))
                .help("Largest batch size accepted while reading"),
        )
        .arg(
            Arg::new("max-bytes")
                .long("max-bytes")
                .value_name("BYTES")
                .default_value("2147483647")
                .value_parser(clap::value_parser!(u64))
                .help("Stop reading a log after this many bytes"),
        )
        .arg(
            Arg::new("skip-record-metadata")
                .long("skip-record-metadata")
                .action(ArgAction::SetTrue)
                .help("With --print-data-log, print only the keys and payloads of records"),
        )
        .arg(
            Arg::new("key-decoder-class")
                .long("key-decoder-class")
                .value_name("CLASS")
                .hide(true)
                .help("Accepted for Kafka's scripts; keys are printed as UTF-8 (StringDecoder)"),
        )
        .arg(
            Arg::new("value-decoder-class")
                .long("value-decoder-class")
                .value_name("CLASS")
                .hide(true)
                .help("Accepted for Kafka's scripts; payloads are printed as UTF-8 (StringDecoder)"),
        )
}

/// What to print.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub deep: bool,
    pub print_data: bool,
    pub skip_metadata: bool,
    pub verify_index_only: bool,
    pub index_sanity_only: bool,
    pub max_message_size: i32,
    pub max_bytes: u64,
}

/// Problems found while dumping, printed on stderr at the end as Kafka does.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// Per index file: (indexed offset, the log's last offset of the batch there).
    index_mismatches: BTreeMap<String, Vec<(i64, i64)>>,
    /// Lines about time-index problems.
    time_index_errors: Vec<String>,
    /// Whether a file could not be read to its end.
    failed: bool,
}

pub fn run(m: &ArgMatches) -> anyhow::Result<ExitCode> {
    let print_data = m.get_flag("print-data-log");
    let opts = Options {
        deep: print_data || m.get_flag("deep-iteration"),
        print_data,
        skip_metadata: m.get_flag("skip-record-metadata"),
        verify_index_only: m.get_flag("verify-index-only"),
        index_sanity_only: m.get_flag("index-sanity-check"),
        max_message_size: m.get_one::<i32>("max-message-size").copied().unwrap_or(5_242_880),
        max_bytes: m.get_one::<u64>("max-bytes").copied().unwrap_or(u64::from(u32::MAX)),
    };
    let files: Vec<PathBuf> = m
        .get_one::<String>("files")
        .map(|f| f.split(',').map(str::trim).filter(|s| !s.is_empty()).map(PathBuf::from).collect())
        .unwrap_or_default();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut findings = Findings::default();
    for file in &files {
        writeln!(out, "Dumping {}", file.display())?;
        if let Err(e) = dump_file(file, &opts, &mut out, &mut findings) {
            out.flush()?;
            eprintln!("Error: {e}");
            findings.failed = true;
        }
    }
    out.flush()?;
    report_findings(&findings);
    Ok(if findings.failed { ExitCode::from(super::EXIT_FAILURE) } else { ExitCode::SUCCESS })
}

fn report_findings(findings: &Findings) {
    for (file, mismatches) in &findings.index_mismatches {
        eprintln!("Mismatches in :{file}");
        for (index_offset, log_offset) in mismatches {
            eprintln!("  Index offset: {index_offset}, log offset: {log_offset}");
        }
    }
    for line in &findings.time_index_errors {
        eprintln!("{line}");
    }
}

/// Why a file cannot be dumped (printed as one `Error:` line; the tool goes on
/// with the next file and exits 1).
#[derive(Debug, thiserror::Error)]
pub(crate) enum DumpError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0}")]
    Corrupt(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DumpError + '_ {
    move |source| DumpError::Io { path: path.display().to_string(), source }
}

/// The base offset in a segment file's name (`00000000000000000042.log` → 42).
fn base_offset_of(path: &Path) -> Result<i64, DumpError> {
    let stem = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.split('.').next()).unwrap_or("");
    stem.parse()
        .map_err(|_| DumpError::Corrupt(format!("{}: the file name does not start with a base offset", path.display())))
}

pub(crate) fn dump_file(
    path: &Path,
    opts: &Options,
    out: &mut dyn Write,
    findings: &mut Findings,
) -> Result<(), DumpError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let w = |e: std::io::Error| DumpError::Io { path: "stdout".into(), source: e };
    match name {
        "replication-offset-checkpoint"
        | "recovery-point-offset-checkpoint"
        | "log-start-offset-checkpoint"
        | "cleaner-offset-checkpoint" => return dump_offset_checkpoint(path, out),
        "leader-epoch-checkpoint" => return dump_epoch_checkpoint(path, out),
        _ => {}
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("log") => dump_log(path, opts, out, findings),
        Some("index") => dump_index(path, opts, out, findings),
        Some("timeindex") => dump_time_index(path, opts, out, findings),
        Some("snapshot") => dump_snapshot(path, out),
        Some("txnindex") => dump_txn_index(path, out),
        _ => {
            out.flush().map_err(w)?;
            eprintln!("Ignoring unknown file {}", path.display());
            Ok(())
        }
    }
}

/// One batch read from a segment: its header and whole bytes.
struct ReadBatch {
    position: u64,
    header: BatchHeader,
    bytes: Bytes,
}

/// Walks a segment's batches with bounded reads.
struct SegmentReader {
    file: File,
    path: PathBuf,
    len: u64,
    position: u64,
    max_message_size: i32,
}

/// What the reader found next.
enum Next {
    Batch(Box<ReadBatch>),
    /// The rest is too short for the next batch (a torn tail, or the end).
    End,
}

impl SegmentReader {
    fn open(path: &Path, max_message_size: i32) -> Result<SegmentReader, DumpError> {
        let file = File::open(path).map_err(io_err(path))?;
        let len = file.metadata().map_err(io_err(path))?.len();
        Ok(SegmentReader { file, path: path.to_path_buf(), len, position: 0, max_message_size })
    }

    fn read_at(&self, buf: &mut [u8], at: u64) -> Result<(), DumpError> {
        self.file.read_exact_at(buf, at).map_err(io_err(&self.path))
    }

    fn next(&mut self) -> Result<Next, DumpError> {
        // Kafka's reader needs the size and magic (17 bytes) before it looks further.
        if self.position + 17 > self.len {
            return Ok(Next::End);
        }
        let mut prefix = [0u8; LOG_OVERHEAD + 5];
        self.read_at(&mut prefix, self.position)?;
        let size = i32::from_be_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]);
        let magic = prefix[16] as i8;
        if size < MIN_RECORD_OVERHEAD {
            return Err(DumpError::Corrupt(format!(
                "Found record size {size} smaller than minimum record overhead ({MIN_RECORD_OVERHEAD}) in file {} at \
                 position {}.",
                self.path.display(),
                self.position
            )));
        }
        if size > self.max_message_size {
            return Err(DumpError::Corrupt(format!(
                "Record size {size} exceeds the largest allowable message size ({}) in file {} at position {}.",
                self.max_message_size,
                self.path.display(),
                self.position
            )));
        }
        let total = LOG_OVERHEAD as u64 + size as u64;
        if self.position + total > self.len {
            return Ok(Next::End);
        }
        if magic != batch::MAGIC_V2 {
            return Err(DumpError::Corrupt(format!(
                "Unsupported record batch magic {magic} in file {} at position {} (gregor writes only v2)",
                self.path.display(),
                self.position
            )));
        }
        let mut buf = vec![0u8; total as usize];
        self.read_at(&mut buf, self.position)?;
        let header = batch::parse_header(&buf)
            .map_err(|e| DumpError::Corrupt(format!("{} at position {}: {e}", self.path.display(), self.position)))?;
        let read = ReadBatch { position: self.position, header, bytes: Bytes::from(buf) };
        self.position += total;
        Ok(Next::Batch(Box::new(read)))
    }
}

fn codec_name(c: Compression) -> String {
    match c {
        Compression::None => "none".into(),
        Compression::Gzip => "gzip".into(),
        Compression::Snappy => "snappy".into(),
        Compression::Lz4 => "lz4".into(),
        Compression::Zstd => "zstd".into(),
        Compression::Unknown(id) => format!("unknown({id})"),
    }
}

/// The batch line of Kafka's tool (magic 2).
pub(crate) fn batch_line(h: &BatchHeader, position: u64, valid: bool) -> String {
    let last_sequence = if h.base_sequence < 0 {
        -1
    } else {
        // Sequences wrap at i32::MAX, as Kafka's DefaultRecordBatch.lastSequence.
        ((i64::from(h.base_sequence) + i64::from(h.last_offset_delta)) % (i64::from(i32::MAX) + 1)) as i32
    };
    // Attribute bit 6: the batch carries a delete horizon (its base timestamp).
    let delete_horizon = if h.attributes & 0x40 != 0 {
        format!("OptionalLong[{}]", h.base_timestamp)
    } else {
        "OptionalLong.empty".to_string()
    };
    let ts_type = if h.timestamp_type_log_append() { "LogAppendTime" } else { "CreateTime" };
    format!(
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {last_sequence} producerId: {} \
         producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} deleteHorizonMs: \
         {delete_horizon} position: {position} {ts_type}: {} size: {} magic: {} compresscodec: {} crc: {} isvalid: \
         {valid}",
        h.base_offset,
        h.last_offset(),
        h.records_count,
        h.base_sequence,
        h.producer_id,
        h.producer_epoch,
        h.partition_leader_epoch,
        h.is_transactional(),
        h.is_control(),
        h.max_timestamp,
        h.total_size(),
        h.magic,
        codec_name(h.compression()),
        h.crc,
    )
}

fn crc_valid(bytes: &[u8], h: &BatchHeader) -> bool {
    bytes.len() >= HEADER_SIZE && crc32c::crc32c(&bytes[CRC_START..]) == h.crc
}

fn dump_log(path: &Path, opts: &Options, out: &mut dyn Write, findings: &mut Findings) -> Result<(), DumpError> {
    let w = |e: std::io::Error| DumpError::Io { path: "stdout".into(), source: e };
    let start = base_offset_of(path)?;
    let mut reader = SegmentReader::open(path, opts.max_message_size)?;
    writeln!(out, "Log starting offset: {start}").map_err(w)?;
    loop {
        if reader.position > opts.max_bytes {
            break;
        }
        let read = match reader.next()? {
            Next::Batch(b) => b,
            Next::End => break,
        };
        let h = read.header;
        let valid = crc_valid(&read.bytes, &h);
        if !(opts.print_data && opts.skip_metadata) {
            writeln!(out, "{}", batch_line(&h, read.position, valid)).map_err(w)?;
        }
        if opts.deep {
            dump_records(&read, opts, out, findings)?;
        }
    }
    let trailing = reader.len.saturating_sub(reader.position);
    if trailing > 0 && reader.position <= opts.max_bytes {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        writeln!(out, "Found {trailing} invalid bytes at the end of {name}").map_err(w)?;
    }
    Ok(())
}

/// The `| offset: …` lines of one batch.
fn dump_records(
    read: &ReadBatch,
    opts: &Options,
    out: &mut dyn Write,
    findings: &mut Findings,
) -> Result<(), DumpError> {
    let w = |e: std::io::Error| DumpError::Io { path: "stdout".into(), source: e };
    let h = &read.header;
    let plain = h.compression() == Compression::None;
    if h.records_count < 0 || h.records_count > MAX_RECORDS_PER_BATCH || (plain && h.records_count > h.batch_length) {
        out.flush().map_err(w)?;
        eprintln!(
            "Error: the batch at position {} claims an implausible {} records; skipped",
            read.position, h.records_count
        );
        findings.failed = true;
        return Ok(());
    }
    let mut bytes = read.bytes.clone();
    let set = match RecordBatchDecoder::decode(&mut bytes) {
        Ok(set) => set,
        Err(e) => {
            out.flush().map_err(w)?;
            eprintln!("Error: cannot read the records of the batch at position {}: {e}", read.position);
            findings.failed = true;
            return Ok(());
        }
    };
    let ts_type = if h.timestamp_type_log_append() { "LogAppendTime" } else { "CreateTime" };
    for r in set.records {
        let mut line = String::new();
        if !(opts.print_data && opts.skip_metadata) {
            let key_size = r.key.as_ref().map_or(-1, |k| k.len() as i64);
            let value_size = r.value.as_ref().map_or(-1, |v| v.len() as i64);
            let header_keys: Vec<&str> = r.headers.keys().map(|k| k.as_str()).collect();
            let timestamp = if h.timestamp_type_log_append() { h.max_timestamp } else { r.timestamp };
            // As Kafka: no sequence (−1) for every record of a batch without one.
            let sequence = if h.base_sequence < 0 {
                -1
            } else {
                ((i64::from(h.base_sequence) + (r.offset - h.base_offset)) % (i64::from(i32::MAX) + 1)) as i32
            };
            line.push_str(&format!(
                "| offset: {} {ts_type}: {timestamp} keySize: {key_size} valueSize: {value_size} sequence: {} \
                 headerKeys: [{}]",
                r.offset,
                sequence,
                header_keys.join(",")
            ));
        }
        if h.is_control() {
            line.push_str(&control_text(r.key.as_deref(), r.value.as_deref()));
        } else if opts.print_data {
            if let Some(k) = &r.key {
                line.push_str(&format!(" key: {}", String::from_utf8_lossy(k)));
            }
            if let Some(v) = &r.value {
                line.push_str(&format!(" payload: {}", String::from_utf8_lossy(v)));
            }
        }
        writeln!(out, "{line}").map_err(w)?;
    }
    Ok(())
}

/// ` endTxnMarker: COMMIT coordinatorEpoch: N` for a transaction marker.
fn control_text(key: Option<&[u8]>, value: Option<&[u8]>) -> String {
    match key.and_then(batch::control_marker_commit) {
        Some(commit) => {
            let epoch = value.and_then(|v| v.get(2..6)).map_or(-1, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            format!(" endTxnMarker: {} coordinatorEpoch: {epoch}", if commit { "COMMIT" } else { "ABORT" })
        }
        None => {
            let kind = key.and_then(|k| k.get(2..4)).map_or(-1, |b| i16::from_be_bytes([b[0], b[1]]));
            format!(" unknownControlRecordType: {kind}")
        }
    }
}

fn read_all(path: &Path) -> Result<Vec<u8>, DumpError> {
    std::fs::read(path).map_err(io_err(path))
}

/// The `.log` beside an index file.
fn log_beside(path: &Path) -> PathBuf {
    path.with_extension("log")
}

fn dump_index(path: &Path, opts: &Options, out: &mut dyn Write, findings: &mut Findings) -> Result<(), DumpError> {
    let w = |e: std::io::Error| DumpError::Io { path: "stdout".into(), source: e };
    let base = base_offset_of(path)?;
    let raw = read_all(path)?;
    let (entries, _) = inspect::offset_index_entries(&raw);
    if entries.is_empty() {
        writeln!(out, "{} is empty.", path.display()).map_err(w)?;
        return Ok(());
    }
    let log_path = log_beside(path);
    let mut reader = SegmentReader::open(&log_path, opts.max_message_size)?;
    if opts.index_sanity_only {
        return match inspect::offset_index_sanity(&raw, reader.len) {
            Ok(()) => writeln!(out, "{} passed sanity check.", path.display()).map_err(w),
            Err(problem) => Err(DumpError::Corrupt(format!("{} failed the sanity check: {problem}", path.display()))),
        };
    }
    for (i, (relative, position)) in entries.into_iter().enumerate() {
        let offset = base + i64::from(relative);
        // A crash can leave zeroed entries at the end of a preallocated index: stop there.
        if relative == 0 && i > 0 {
            break;
        }
        reader.position = u64::from(position);
        let found = match reader.next() {
            Ok(Next::Batch(b)) => b.header.last_offset(),
            _ => -1,
        };
        if found != offset {
            findings.index_mismatches.entry(path.display().to_string()).or_default().push((offset, found));
        }
        if !opts.verify_index_only {
            writeln!(out, "offset: {offset} position: {position}").map_err(w)?;
        }
    }
    Ok(())
}

fn dump_time_index(path: &Path, opts: &Options, out: &mut dyn Write, findings: &mut Findings) -> Result<(), DumpError> {
    let w = |e: std::io::Error| DumpError::Io { path: "stdout".into(), source: e };
    let base = base_offset_of(path)?;
    let raw = read_all(path)?;
    let (entries, _) = inspect::time_index_entries(&raw);
    if entries.is_empty() {
        writeln!(out, "{} is empty.", path.display()).map_err(w)?;
        return Ok(());
    }
    if opts.index_sanity_only {
        return match inspect::time_index_sanity(&raw) {
            Ok(()) => writeln!(out, "{} passed sanity check.", path.display()).map_err(w),
            Err(problem) => Err(DumpError::Corrupt(format!("{} failed the sanity check: {problem}", path.display()))),
        };
    }
    // The batches' (last offset, max timestamp), read once from the log.
    let mut reader = SegmentReader::open(&log_beside(path), opts.max_message_size)?;
    let mut batches: Vec<(i64, i64)> = Vec::new();
    while let Ok(Next::Batch(b)) = reader.next() {
        batches.push((b.header.last_offset(), b.header.max_timestamp));
    }
    let file = path.display().to_string();
    let mut previous = i64::MIN;
    for (i, (timestamp, relative)) in entries.into_iter().enumerate() {
        let offset = base + i64::from(relative);
        if relative == 0 && i > 0 {
            break;
        }
        let at = batches.partition_point(|(last, _)| *last < offset);
        match batches.get(at) {
            None => findings.time_index_errors.push(format!(
                "The following indexed offsets are not found in the log.\nIndexed offset: {offset}, found log offset: -1 \
                 ({file})"
            )),
            Some((last, _)) if *last != offset => findings.time_index_errors.push(format!(
                "The following indexed offsets are not found in the log.\nIndexed offset: {offset}, found log offset: \
                 {last} ({file})"
            )),
            Some((_, max_ts)) => {
                if *max_ts != timestamp {
                    findings.time_index_errors.push(format!(
                        "Found timestamp mismatch in :{file}\n  Index timestamp: {timestamp}, log timestamp: {max_ts}"
                    ));
                }
                if previous >= timestamp {
                    findings.time_index_errors.push(format!(
                        "Found out of order timestamp in :{file}\n  Index timestamp: {timestamp}, Previously indexed \
                         timestamp: {previous}"
                    ));
                }
            }
        }
        if !opts.verify_index_only {
            writeln!(out, "timestamp: {timestamp} offset: {offset}").map_err(w)?;
        }
        previous = timestamp;
    }
    Ok(())
}

fn dump_snapshot(path: &Path, out: &mut dyn Write) -> Result<(), DumpError> {
    let w = |e: std::io::Error| DumpError::Io { path: "stdout".into(), source: e };
    let raw = read_all(path)?;
    let entries = inspect::producer_snapshot_entries(&raw)
        .map_err(|e| DumpError::Corrupt(format!("Corrupt snapshot file {}: {e}", path.display())))?;
    for e in entries {
        let txn = if e.txn_first_offset >= 0 {
            format!("OptionalLong[{}]", e.txn_first_offset)
        } else {
            "OptionalLong.empty".to_string()
        };
        let mut line = format!(
            "producerId: {} producerEpoch: {} coordinatorEpoch: {} currentTxnFirstOffset: {txn} lastTimestamp: {} ",
            e.producer_id, e.epoch, e.coordinator_epoch, e.timestamp
        );
        if e.last_seq >= 0 {
            line.push_str(&format!(
                "firstSequence: {} lastSequence: {} lastOffset: {} offsetDelta: {} timestamp: {}",
                e.first_seq,
                e.last_seq,
                e.last_offset,
                e.last_offset - e.first_offset,
                e.timestamp
            ));
        }
        writeln!(out, "{line}").map_err(w)?;
    }
    Ok(())
}

fn dump_txn_index(path: &Path, out: &mut dyn Write) -> Result<(), DumpError> {
    let w = |e: std::io::Error| DumpError::Io { path: "stdout".into(), source: e };
    let raw = read_all(path)?;
    let (entries, bad_at) = inspect::txn_index_entries(&raw);
    for e in entries {
        writeln!(
            out,
            "version: 0 producerId: {} firstOffset: {} lastOffset: {} lastStableOffset: {}",
            e.producer_id, e.first_offset, e.last_offset, e.last_stable_offset
        )
        .map_err(w)?;
    }
    match bad_at {
        None => Ok(()),
        Some(at) => Err(DumpError::Corrupt(format!("{}: invalid entry at position {at}", path.display()))),
    }
}

fn dump_offset_checkpoint(path: &Path, out: &mut dyn Write) -> Result<(), DumpError> {
    let w = |e: std::io::Error| DumpError::Io { path: "stdout".into(), source: e };
    let offsets = crate::storage::read_checkpoint(&crate::storage::StdFileIo, path)
        .map_err(|e| DumpError::Corrupt(e.to_string()))?;
    writeln!(out, "version: 0 entries: {}", offsets.len()).map_err(w)?;
    for (tp, offset) in offsets {
        writeln!(out, "topic: {} partition: {} offset: {offset}", tp.topic, tp.partition).map_err(w)?;
    }
    Ok(())
}

fn dump_epoch_checkpoint(path: &Path, out: &mut dyn Write) -> Result<(), DumpError> {
    let w = |e: std::io::Error| DumpError::Io { path: "stdout".into(), source: e };
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let bad = |line: usize, what: &str| DumpError::Corrupt(format!("{} line {line}: {what}", path.display()));
    let mut lines = text.lines();
    if lines.next() != Some("0") {
        return Err(bad(1, "expected version 0"));
    }
    let count: usize =
        lines.next().and_then(|l| l.trim().parse().ok()).ok_or_else(|| bad(2, "expected the entry count"))?;
    writeln!(out, "version: 0 entries: {count}").map_err(w)?;
    for (i, line) in lines.filter(|l| !l.trim().is_empty()).enumerate() {
        let mut f = line.split_whitespace();
        match (f.next().map(str::parse::<i32>), f.next().map(str::parse::<i64>)) {
            (Some(Ok(epoch)), Some(Ok(offset))) => writeln!(out, "epoch: {epoch} offset: {offset}").map_err(w)?,
            _ => return Err(bad(i + 3, "expected \"epoch offset\"")),
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::protocol::batch::build_batch;

    fn opts(deep: bool, print_data: bool) -> Options {
        Options {
            deep,
            print_data,
            skip_metadata: false,
            verify_index_only: false,
            index_sanity_only: false,
            max_message_size: 5_242_880,
            max_bytes: u64::MAX,
        }
    }

    fn dump(path: &Path, o: &Options) -> (String, Findings, Result<(), String>) {
        let mut out = Vec::new();
        let mut findings = Findings::default();
        let result = dump_file(path, o, &mut out, &mut findings).map_err(|e| e.to_string());
        (String::from_utf8(out).unwrap(), findings, result)
    }

    #[test]
    fn prints_batches_records_and_a_torn_tail_as_kafka_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000005.log");
        let mut first = build_batch(0, &[(Some(&b"k"[..]), Some(&b"hello"[..]), 1000), (None, Some(&b"x"[..]), 1001)]);
        batch::patch_base_offset(&mut first, 5).unwrap();
        let mut second = build_batch(0, &[(None, None, 1002)]);
        batch::patch_base_offset(&mut second, 7).unwrap();
        let mut data = first.clone();
        data.extend_from_slice(&second);
        data.extend_from_slice(&second[..20]);
        std::fs::write(&path, &data).unwrap();

        let (text, _, result) = dump(&path, &opts(true, true));
        result.unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Log starting offset: 5");
        assert!(
            lines[1]
                .starts_with("baseOffset: 5 lastOffset: 6 count: 2 baseSequence: -1 lastSequence: -1 producerId: -1"),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].contains(" deleteHorizonMs: OptionalLong.empty position: 0 CreateTime: 1001 "),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].ends_with(&format!(
                "size: {} magic: 2 compresscodec: none crc: {} isvalid: true",
                first.len(),
                batch::parse_header(&first).unwrap().crc
            )),
            "{}",
            lines[1]
        );
        assert_eq!(
            lines[2],
            "| offset: 5 CreateTime: 1000 keySize: 1 valueSize: 5 sequence: -1 headerKeys: [] key: k payload: hello"
        );
        assert_eq!(
            lines[3],
            "| offset: 6 CreateTime: 1001 keySize: -1 valueSize: 1 sequence: -1 headerKeys: [] payload: x"
        );
        assert!(lines[4].starts_with("baseOffset: 7 lastOffset: 7 count: 1 "), "{}", lines[4]);
        assert!(lines[4].contains(&format!("position: {} ", first.len())), "{}", lines[4]);
        assert_eq!(lines[5], "| offset: 7 CreateTime: 1002 keySize: -1 valueSize: -1 sequence: -1 headerKeys: []");
        assert_eq!(lines[6], "Found 20 invalid bytes at the end of 00000000000000000005.log");

        // A flipped payload byte fails the CRC but the walk goes on.
        let mut bad = data.clone();
        let at = first.len() - 2;
        bad[at] ^= 0xff;
        std::fs::write(&path, &bad).unwrap();
        let (text, _, result) = dump(&path, &opts(false, false));
        result.unwrap();
        assert!(text.lines().nth(1).unwrap().ends_with("isvalid: false"), "{text}");
        assert!(text.lines().nth(2).unwrap().starts_with("baseOffset: 7"), "{text}");

        // A garbage size stops the file with the position named.
        let mut garbage = first.clone();
        garbage.extend_from_slice(&[0u8; 30]);
        std::fs::write(&path, &garbage).unwrap();
        let (text, _, result) = dump(&path, &opts(true, false));
        assert!(text.contains("baseOffset: 5"), "{text}");
        let err = result.unwrap_err();
        assert!(err.contains("Found record size 0 smaller than minimum record overhead (14)"), "{err}");
        assert!(err.contains(&format!("at position {}", first.len())), "{err}");
    }

    #[test]
    fn index_entries_are_checked_against_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("00000000000000000000.log");
        let a = build_batch(0, &[(None, Some(&b"a"[..]), 1), (None, Some(&b"b"[..]), 2)]);
        let mut b = build_batch(0, &[(None, Some(&b"c"[..]), 3)]);
        batch::patch_base_offset(&mut b, 2).unwrap();
        let mut data = a.clone();
        data.extend_from_slice(&b);
        std::fs::write(&log, &data).unwrap();
        let index = dir.path().join("00000000000000000000.index");
        let mut raw = Vec::new();
        raw.extend_from_slice(&2u32.to_be_bytes());
        raw.extend_from_slice(&(a.len() as u32).to_be_bytes());
        std::fs::write(&index, &raw).unwrap();
        let (text, findings, result) = dump(&index, &opts(false, false));
        result.unwrap();
        assert_eq!(text, format!("offset: 2 position: {}\n", a.len()));
        assert!(findings.index_mismatches.is_empty());

        let mut sanity = opts(false, false);
        sanity.index_sanity_only = true;
        let (text, _, result) = dump(&index, &sanity);
        result.unwrap();
        assert_eq!(text, format!("{} passed sanity check.\n", index.display()));

        // An entry naming the wrong offset is a mismatch.
        raw[3] = 1;
        std::fs::write(&index, &raw).unwrap();
        let (_, findings, _) = dump(&index, &opts(false, false));
        assert_eq!(findings.index_mismatches.values().next().unwrap(), &vec![(1, 2)]);

        let timeindex = dir.path().join("00000000000000000000.timeindex");
        let mut raw = Vec::new();
        raw.extend_from_slice(&3i64.to_be_bytes());
        raw.extend_from_slice(&2u32.to_be_bytes());
        std::fs::write(&timeindex, &raw).unwrap();
        let (text, findings, result) = dump(&timeindex, &opts(false, false));
        result.unwrap();
        assert_eq!(text, "timestamp: 3 offset: 2\n");
        assert!(findings.time_index_errors.is_empty(), "{:?}", findings.time_index_errors);
    }

    #[test]
    fn checkpoints_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replication-offset-checkpoint");
        std::fs::write(&path, "0\n2\na 0 5\nb-c 3 7\n").unwrap();
        let (text, _, result) = dump(&path, &opts(false, false));
        result.unwrap();
        assert_eq!(text, "version: 0 entries: 2\ntopic: a partition: 0 offset: 5\ntopic: b-c partition: 3 offset: 7\n");
        let path = dir.path().join("leader-epoch-checkpoint");
        std::fs::write(&path, "0\n1\n4 100\n").unwrap();
        let (text, _, result) = dump(&path, &opts(false, false));
        result.unwrap();
        assert_eq!(text, "version: 0 entries: 1\nepoch: 4 offset: 100\n");
        std::fs::write(&path, "7\n").unwrap();
        assert!(dump(&path, &opts(false, false)).2.is_err());
    }
}
