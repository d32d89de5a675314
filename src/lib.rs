//! cachescope: inspect, verify and purge on-disk function-cache stores by how each entry's key
//! was derived. The library holds everything but the front ends' terminal code:
//! [`store`] speaks SQL, [`verify`] hashes files, [`model`] joins the two into what the CLI and
//! the TUI show.

pub mod backend_prep;
pub mod cli;
pub mod demo;
pub mod model;
pub mod pickle;
pub mod preview;
pub mod status;
pub mod store;
pub mod text;
pub mod tui;
pub mod verify;

pub use status::Status;
