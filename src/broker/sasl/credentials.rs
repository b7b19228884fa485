//! The broker's cache of SCRAM credentials, filled from ZooKeeper's `/config/users/*` at
//! start and kept current by the metadata watch. Lookups happen on every SCRAM
//! client-first message, so they take a read lock and clone one small credential.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use crate::security::scram::{ScramCredential, ScramMechanism, UserConfigZnode};

/// SCRAM credentials by user name (desanitized) and mechanism.
#[derive(Default)]
pub struct ScramCredentials {
    users: RwLock<HashMap<String, BTreeMap<ScramMechanism, ScramCredential>>>,
}

impl std::fmt::Debug for ScramCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.users.read().map(|u| u.len()).unwrap_or_default();
        f.debug_struct("ScramCredentials").field("users", &n).finish()
    }
}

impl ScramCredentials {
    /// The credential of `user` for `mechanism`.
    pub fn get(&self, mechanism: ScramMechanism, user: &str) -> Option<ScramCredential> {
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        users.get(user).and_then(|m| m.get(&mechanism)).cloned()
    }

    /// Replaces what is known of `user` from its znode data (`None`: the znode is gone).
    pub fn update_user(&self, user: &str, znode: Option<&UserConfigZnode>) {
        let creds = znode.map(UserConfigZnode::credentials).unwrap_or_default();
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        if creds.is_empty() {
            users.remove(user);
        } else {
            users.insert(user.to_string(), creds);
        }
    }

    /// Replaces the whole table (a full reread).
    pub fn replace_all(&self, all: HashMap<String, BTreeMap<ScramMechanism, ScramCredential>>) {
        *self.users.write().unwrap_or_else(|e| e.into_inner()) = all;
    }

    /// How many users have at least one credential.
    pub fn len(&self) -> usize {
        self.users.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
