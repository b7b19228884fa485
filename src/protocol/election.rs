//! ElectLeaders' election type (KIP-460), shared by the broker, the
//! controller and the client.

/// Which leader an election picks (ElectLeaders' `election_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ElectionType {
    /// Move leadership back to the first replica of the assignment, if it is
    /// live and in the ISR.
    Preferred,
    /// Give a partition without a live ISR member a leader from its live
    /// replicas, at the risk of losing acknowledged records.
    Unclean,
}

impl ElectionType {
    /// From ElectLeaders' `election_type` (0 preferred, 1 unclean).
    pub fn from_wire(v: i8) -> Option<ElectionType> {
        match v {
            0 => Some(ElectionType::Preferred),
            1 => Some(ElectionType::Unclean),
            _ => None,
        }
    }

    pub fn wire(self) -> i8 {
        match self {
            ElectionType::Preferred => 0,
            ElectionType::Unclean => 1,
        }
    }
}

impl std::fmt::Display for ElectionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ElectionType::Preferred => "PREFERRED",
            ElectionType::Unclean => "UNCLEAN",
        })
    }
}
