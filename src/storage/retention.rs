//! Retention: deleting whole old segments by age (`retention.ms`) and by total size
//! (`retention.bytes`), as Kafka's `cleanup.policy=delete`.
//!
//! Owns only the choice of segments to delete; the deletion itself and the log start
//! offset update are `Log::delete_oldest`. The active segment is never deleted: if it
//! is itself past retention.ms and non-empty, the log rolls first so it no longer is
//! the active one (Kafka does the same).

use super::error::StorageError;
use super::log::Log;

impl Log {
    /// Deletes whole segments past retention; returns how many were deleted.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<usize, StorageError> {
        self.check_writable()?;
        let result = self.enforce_retention_inner(now_ms);
        self.guard(result)
    }

    fn enforce_retention_inner(&mut self, now_ms: i64) -> Result<usize, StorageError> {
        let mut deleted = 0;
        let retention_ms = self.config.retention_ms;
        if retention_ms >= 0 {
            let mut expired = 0;
            for segment in &self.segments {
                if segment.size == 0 || now_ms.saturating_sub(segment.retention_timestamp()?) <= retention_ms {
                    break;
                }
                expired += 1;
            }
            if expired > 0 && expired == self.segments.len() {
                let log_end = self.log_end_offset();
                self.roll(log_end, now_ms)?;
            }
            deleted += self.delete_oldest(expired)?;
        }
        let retention_bytes = self.config.retention_bytes;
        if retention_bytes >= 0 {
            let mut excess = i128::from(self.size_bytes()) - i128::from(retention_bytes);
            let mut count = 0;
            for segment in &self.segments[..self.segments.len().saturating_sub(1)] {
                if excess - i128::from(segment.size) < 0 {
                    break;
                }
                excess -= i128::from(segment.size);
                count += 1;
            }
            deleted += self.delete_oldest(count)?;
        }
        Ok(deleted)
    }
}
