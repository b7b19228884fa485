//! `meta.properties` in every log dir, as Kafka writes it (`version=0`,
//! `broker.id`, `cluster.id`). It ties the logs to one cluster: a broker
//! pointed at another ZooKeeper (or chroot) refuses to start instead of
//! deleting every log whose topic that cluster does not know.

use std::path::{Path, PathBuf};

use super::BrokerError;

const FILE_NAME: &str = "meta.properties";

/// Checks the file in each dir against this broker and cluster; writes it where missing.
pub fn check_or_write(dirs: &[PathBuf], broker_id: i32, cluster_id: &str) -> Result<(), BrokerError> {
    for dir in dirs {
        let path = dir.join(FILE_NAME);
        match std::fs::read_to_string(&path) {
            Ok(text) => check(&path, &text, broker_id, cluster_id)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => write(dir, &path, broker_id, cluster_id)?,
            Err(e) => return Err(BrokerError::Other(format!("cannot read {}: {e}", path.display()))),
        }
    }
    Ok(())
}

fn check(path: &Path, text: &str, broker_id: i32, cluster_id: &str) -> Result<(), BrokerError> {
    let value = |key: &str| {
        text.lines().filter(|l| !l.trim_start().starts_with('#')).find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    if let Some(stored) = value("cluster.id") {
        if stored != cluster_id {
            return Err(BrokerError::Other(format!(
                "The Cluster ID {cluster_id} doesn't match stored clusterId {stored} in {}. The broker is trying \
                 to join the wrong cluster (check zookeeper.connect and its chroot). Configured zookeeper.connect \
                 may be wrong.",
                path.display()
            )));
        }
    }
    if let Some(stored) = value("broker.id") {
        if stored != broker_id.to_string() {
            return Err(BrokerError::Other(format!(
                "Configured broker.id {broker_id} doesn't match stored broker.id {stored} in {}. If you moved \
                 your data, make sure your configured broker.id matches.",
                path.display()
            )));
        }
    }
    Ok(())
}

fn write(dir: &Path, path: &Path, broker_id: i32, cluster_id: &str) -> Result<(), BrokerError> {
    use std::io::Write;
    let fail = |e: std::io::Error| BrokerError::Other(format!("cannot write {}: {e}", path.display()));
    std::fs::create_dir_all(dir).map_err(fail)?;
    let tmp = path.with_extension("properties.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(fail)?;
    write!(f, "#\nversion=0\nbroker.id={broker_id}\ncluster.id={cluster_id}\n").map_err(fail)?;
    f.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_then_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dirs = vec![dir.path().join("a")];
        check_or_write(&dirs, 1, "abc").expect("write");
        check_or_write(&dirs, 1, "abc").expect("same cluster");
        let err = check_or_write(&dirs, 1, "other").expect_err("other cluster");
        assert!(err.to_string().contains("doesn't match stored clusterId abc"), "{err}");
        assert!(check_or_write(&dirs, 2, "abc").is_err());
    }
}
