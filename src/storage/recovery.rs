//! Loading a partition directory and recovering it after a crash.
//!
//! Owns the rules for which files of a partition directory are segments, which are
//! leftovers to remove, which segments to scan and where to truncate. Runs only
//! inside `Log::open`.
//!
//! - Segments whose offsets are all below the recovery point are trusted: their
//!   index files are only sanity-checked (size a multiple of the entry size, entries
//!   increasing, positions inside the segment, offsets below the next segment) and
//!   rebuilt by a scan when that fails or when they are missing.
//! - After an unclean shutdown, the segment holding the recovery point and every later
//!   one are scanned batch by batch (length, magic, CRC-32C, offsets increasing). The
//!   first invalid or torn batch truncates its segment, and every later segment is
//!   deleted. Their indexes are rebuilt from the scan and the result is fsynced, so
//!   the log end becomes the new recovery point.
//! - With a clean shutdown nothing is scanned except the active segment's tail past
//!   its last index entry (to find the log end offset).

use std::collections::BTreeSet;
use std::path::Path;

use super::error::{IoContext, StorageError};
use super::io::FileIo;
use super::log::LogConfig;
use super::segment::{parse_segment_file_name, Segment};

/// Suffixes of files left behind by an interrupted operation, removed on load.
const LEFTOVER_SUFFIXES: [&str; 3] = [".deleted", ".cleaned", ".tmp"];

/// Loads (and if needed recovers) the segments of the partition in `dir`, creating
/// the directory and a first empty segment at offset 0 when there is none.
pub(crate) fn load(
    io: &dyn FileIo,
    dir: &Path,
    config: &LogConfig,
    recovery_point: i64,
    clean_shutdown: bool,
    now_ms: i64,
) -> Result<Vec<Segment>, StorageError> {
    io.create_dir_all(dir).at(dir)?;
    let mut bases = BTreeSet::new();
    let mut index_files = Vec::new();
    for entry in io.list_dir(dir).at(dir)? {
        if entry.is_dir {
            continue;
        }
        let name = entry.name;
        if LEFTOVER_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            let path = dir.join(&name);
            tracing::info!(file = %path.display(), "removing leftover file");
            io.remove_file(&path).at(&path)?;
        } else if let Some(base) = parse_segment_file_name(&name, "log") {
            bases.insert(base);
        } else if let Some(base) =
            parse_segment_file_name(&name, "index").or_else(|| parse_segment_file_name(&name, "timeindex"))
        {
            index_files.push((name, base));
        }
    }
    for (name, base) in index_files {
        if !bases.contains(&base) {
            let path = dir.join(&name);
            tracing::warn!(file = %path.display(), "removing index file without a segment");
            io.remove_file(&path).at(&path)?;
        }
    }

    let bases: Vec<i64> = bases.into_iter().collect();
    let mut opened = Vec::with_capacity(bases.len());
    for (i, &base) in bases.iter().enumerate() {
        let (segment, problem) = Segment::open_existing(io, dir, base, now_ms)?;
        if segment.size == 0 && i + 1 < bases.len() {
            tracing::info!(segment = %segment.log_path().display(), "removing empty segment");
            segment.delete_files(io)?;
            continue;
        }
        opened.push((segment, problem));
    }
    if opened.is_empty() {
        let segment = Segment::create(io, dir, 0, now_ms)?;
        segment.sync()?;
        io.sync_dir(dir).at(dir)?;
        return Ok(vec![segment]);
    }

    let count = opened.len();
    let scan_from = if clean_shutdown {
        count
    } else {
        opened.partition_point(|(s, _)| s.base_offset <= recovery_point).saturating_sub(1)
    };
    let next_bases: Vec<i64> =
        opened.iter().skip(1).map(|(s, _)| s.base_offset).chain(std::iter::once(i64::MAX)).collect();
    let interval = config.index_interval_bytes;
    let mut segments: Vec<Segment> = Vec::with_capacity(count);
    let mut rest = opened.into_iter().enumerate();
    while let Some((i, (mut segment, problem))) = rest.next() {
        let is_last = i + 1 == count;
        let next_base = next_bases[i];
        if i >= scan_from {
            let truncated = segment.recover(interval, segment.base_offset)?;
            // Segments start where the previous one ends (rolls happen at the log
            // end), so a shorter segment means writes were lost in its tail even if
            // the cut fell on a batch boundary: what follows cannot be kept.
            let gap = !is_last && segment.next_offset != next_base;
            segments.push(segment);
            if (truncated > 0 || gap) && !is_last {
                for (_, (later, _)) in rest.by_ref() {
                    tracing::warn!(segment = %later.log_path().display(), "deleting segment after a torn one");
                    later.delete_files(io)?;
                }
                io.sync_dir(dir).at(dir)?;
            }
            continue;
        }
        let problem =
            problem.or_else(|| (!segment.indexes_within(next_base)).then(|| "index entries past the segment".into()));
        let mut rebuilt = false;
        if let Some(problem) = problem {
            tracing::warn!(segment = %segment.log_path().display(), "rebuilding indexes: {problem}");
            segment.recover(interval, segment.base_offset)?;
            rebuilt = true;
        }
        if is_last {
            if !rebuilt && !segment.load_tail_state()? {
                tracing::warn!(segment = %segment.log_path().display(), "active segment tail is not well-formed; recovering it");
                segment.recover(interval, segment.base_offset)?;
            }
        } else if !rebuilt {
            segment.next_offset = next_base;
        }
        segments.push(segment);
    }
    Ok(segments)
}
