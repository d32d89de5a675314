//! python-diskcache caches, read in place (checked against diskcache 5.6.3).

pub mod db;
