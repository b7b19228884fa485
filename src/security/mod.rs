//! Security: who a connection is (principals) and what it may do (ACLs).

pub mod acl;
pub mod authorizer;
