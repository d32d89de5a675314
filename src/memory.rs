//! How the process asks glibc's malloc to keep memory: a front end's choice, made once at
//! startup by the binary (and by the benchmarks that measure it), never by the library on its
//! own, since a producer linking it owns its process.
//!
//! Measured on the TUI over ten million entries (`benches/tui_bench.rs`, peak RSS after
//! verification, paging and sorting): 60-63 MB with glibc's defaults, 61 MB with one arena
//! alone, 57 MB with the fixed mmap threshold alone, 50-56 MB with both settings below;
//! `summary` 61-70 MB -> 51 MB; CPU time unchanged on two cores.

/// Makes glibc return what the big phases free instead of keeping it per thread. Call before
/// any thread starts (arenas made earlier stay). A no-op elsewhere than glibc.
///
/// - One arena: by default every thread that meets contention gets an arena of its own, and
///   what it frees stays there (the aggregate's thread, the hashing threads and the worker each
///   kept megabytes nobody else could use). Small allocations are served by glibc's per-thread
///   cache without the lock; the big ones are mapped (below), so sharing costs little.
/// - A fixed mmap threshold of 256 KiB: glibc raises the threshold after each mapped block is
///   freed (up to 32 MiB), after which the megabyte-sized tables of an aggregate are carved
///   from the heap and, freed, kept there; mapped, they go back to the system when freed.
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}
