//! cachescope: inspect, verify and purge on-disk function-cache stores by how each entry's key
//! was derived. The library holds everything but the front ends' terminal code:
//! [`store`] speaks SQL, [`verify`] hashes files, [`model`] joins the two into what the CLI and
//! the TUI show.

pub mod backend;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(unix)]
pub mod db_file;
pub mod demo;
pub mod digest;
pub mod error;
pub mod memory;
pub mod model;
pub mod pickle;
pub mod preview;
#[cfg(unix)]
pub mod signals;
pub mod status;
pub mod store;
pub mod text;
#[cfg(feature = "tui")]
pub mod tui;
pub mod types;
pub mod verify;
pub mod view;

pub use status::Status;
