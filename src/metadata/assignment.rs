//! Replica assignment for new topics and partitions (Kafka's rack-unaware
//! algorithm), shared by the broker's admin APIs and the ZooKeeper-direct
//! topic tool.

/// Kafka's rack-unaware assignment over the sorted broker list: partition
/// p's first replica is broker (start + p) mod n; followers follow at a shift
/// of 1 + (shift + j) mod (n - 1), and the shift grows by one every n
/// partitions so that followers spread too.
pub fn assign_replicas(
    brokers: &[i32],
    partitions: usize,
    replication_factor: usize,
    start: usize,
    shift: usize,
    first_partition: usize,
) -> Vec<Vec<i32>> {
    let mut sorted = brokers.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    let mut shift = shift;
    (first_partition..first_partition + partitions)
        .map(|p| {
            if p > 0 && p % n == 0 {
                shift += 1;
            }
            let first = (p + start) % n;
            let mut replicas = vec![sorted[first]];
            for j in 0..replication_factor.saturating_sub(1) {
                let step = 1 + (shift + j) % (n - 1).max(1);
                replicas.push(sorted[(first + step) % n]);
            }
            replicas
        })
        .collect()
}

/// Checks an explicit assignment: same replica count everywhere, no broker
/// twice in a partition, only known brokers.
pub fn check_assignment(parts: &[Vec<i32>], live: &[i32]) -> Result<(), String> {
    let rf = parts.first().map_or(0, Vec::len);
    for replicas in parts {
        if replicas.is_empty() || replicas.len() != rf {
            return Err("All partitions should have the same number of replicas".into());
        }
        let mut seen = replicas.clone();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != replicas.len() {
            return Err(format!("Duplicate brokers not allowed in replica assignment: {replicas:?}"));
        }
        if let Some(b) = replicas.iter().find(|b| !live.contains(b)) {
            return Err(format!("Unknown broker {b} in replica assignment"));
        }
    }
    Ok(())
}

/// A random index below `n`, as Kafka picks a random first broker and shift.
pub fn random_index(n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    (uuid::Uuid::new_v4().as_u128() % n as u128) as usize
}

#[cfg(test)]
mod tests {
    use super::assign_replicas;

    #[test]
    fn assignment_spreads_leaders_and_has_distinct_replicas() {
        let brokers = [0, 1, 2];
        let a = assign_replicas(&brokers, 6, 3, 0, 0, 0);
        assert_eq!(a.len(), 6);
        for r in &a {
            let mut s = r.clone();
            s.sort_unstable();
            s.dedup();
            assert_eq!(s.len(), 3, "{r:?}");
        }
        let leaders: Vec<i32> = a.iter().map(|r| r[0]).collect();
        assert_eq!(leaders, vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(assign_replicas(&[5], 2, 1, 0, 0, 0), vec![vec![5], vec![5]]);
    }
}
