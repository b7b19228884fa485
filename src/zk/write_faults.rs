//! A failure switch for the writes of the transaction log and snapshots, so tests
//! can make the disk "fill up" (ENOSPC) and then accept writes again.
//!
//! Every write, fsync, file creation and rename in `persist.rs` goes through a
//! [`WriteFaults`]. Switched off (always, in production) it does nothing but the
//! real call. Switched on, each operation fails with `ENOSPC`; a write first puts
//! half of its bytes on disk, as a write that runs out of space midway does, so the
//! code that cleans up torn records is exercised too. Truncation and reads are
//! never failed: a full disk still allows them.
//!
//! In-process tests flip the switch with [`WriteFaults::set_failing`]. Tests that
//! run the `gregor` binary use the test hook `GREGOR_TEST_HOOK_ZK_DISK_FULL=<path>`:
//! while a file exists at `<path>`, the coordinator's writes fail. The variable is
//! read only here, once per server start, and is meant for tests only.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The test hook's environment variable (see the module docs).
pub const DISK_FULL_HOOK_ENV: &str = "GREGOR_TEST_HOOK_ZK_DISK_FULL";

#[derive(Debug, Default)]
struct State {
    failing: AtomicBool,
    /// The test hook's switch file, when the environment variable is set.
    switch_file: Option<PathBuf>,
}

/// Decides whether the next log or snapshot write fails (cheap to clone; clones
/// share the switch).
#[derive(Debug, Clone, Default)]
pub struct WriteFaults {
    state: Arc<State>,
}

/// `ENOSPC` ("No space left on device"); Linux, the BSDs and macOS agree on 28.
const ENOSPC: i32 = 28;

fn disk_full() -> io::Error {
    io::Error::from_raw_os_error(ENOSPC)
}

impl WriteFaults {
    /// A switch that never fails anything unless told to.
    pub fn new() -> WriteFaults {
        WriteFaults::default()
    }

    /// The switch a server started outside tests uses: off, unless the test hook
    /// `GREGOR_TEST_HOOK_ZK_DISK_FULL` names a switch file.
    pub fn from_env() -> WriteFaults {
        let switch_file = std::env::var_os(DISK_FULL_HOOK_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
        if let Some(path) = &switch_file {
            tracing::warn!(
                path = %path.display(),
                "test hook {DISK_FULL_HOOK_ENV} is set: ZooKeeper log and snapshot writes fail while this file exists"
            );
        }
        WriteFaults { state: Arc::new(State { failing: AtomicBool::new(false), switch_file }) }
    }

    /// Turns the simulated full disk on or off.
    pub fn set_failing(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::SeqCst);
    }

    fn failing(&self) -> bool {
        self.state.failing.load(Ordering::SeqCst) || self.state.switch_file.as_ref().is_some_and(|p| p.exists())
    }

    /// Fails like a full disk when switched on (file creation, rename, directory fsync).
    pub fn check(&self) -> io::Result<()> {
        if self.failing() {
            return Err(disk_full());
        }
        Ok(())
    }

    /// `write_all`; switched on, half the bytes are written before the failure.
    pub fn write_all(&self, file: &mut File, bytes: &[u8]) -> io::Result<()> {
        if self.failing() {
            file.write_all(&bytes[..bytes.len() / 2])?;
            return Err(disk_full());
        }
        file.write_all(bytes)
    }

    /// `fdatasync`.
    pub fn sync_data(&self, file: &File) -> io::Result<()> {
        self.check()?;
        file.sync_data()
    }

    /// `fsync`.
    pub fn sync_all(&self, file: &File) -> io::Result<()> {
        self.check()?;
        file.sync_all()
    }
}
