pub mod restore;
pub mod standby;
pub mod state_dir;
