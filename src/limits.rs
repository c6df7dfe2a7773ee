//! What this machine can hold: the open-files limit raised at start, and the default `--max-streams`
//! worked out from it and from memory.
//!
//! The formula (also in `--help` of `--max-streams`):
//!
//! ```text
//! max_streams = max(1, min((open_files_hard - FILES_FOR_VIEWERS) / FILES_PER_STREAM,
//!                          memory_available / MEMORY_PER_STREAM))
//! ```
//!
//! On a machine with 20,000 open files and 23 GiB available that is 994 streams; with Debian's
//! default hard limit of 524,288 the memory term decides.

use std::io;

/// Open files kept for viewers' connections and the server itself, whatever the streams use.
pub const FILES_FOR_VIEWERS: u64 = 4096;

/// Open files one live stream may hold: the publisher's socket, the muxer's segment, init and manifest
/// files for a few representations (each as `.tmp` and while renamed), and room for its viewers'
/// in-progress reads.
pub const FILES_PER_STREAM: u64 = 16;

/// Memory one live stream may take: its packager thread and libavformat buffers (about 3 MiB) with
/// room for its live edge in the in-memory cache.
pub const MEMORY_PER_STREAM: u64 = 16 * 1024 * 1024;

/// Raises the soft open-files limit to the hard one (Debian starts processes at 1,024 soft), so
/// hundreds of streams and thousands of viewers fit. Returns the limit now in force.
pub fn raise_open_files() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// The default `--max-streams` for this machine (see the module's formula).
pub fn default_max_streams() -> usize {
    let open_files = rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(_, hard)| hard).unwrap_or(1024);
    let by_files = open_files.saturating_sub(FILES_FOR_VIEWERS) / FILES_PER_STREAM;
    let by_memory = memory_available().map_or(u64::MAX, |bytes| bytes / MEMORY_PER_STREAM);
    by_files.min(by_memory).max(1) as usize
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
fn memory_available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_at_least_one_and_fits_the_open_files_limit() {
        let streams = default_max_streams() as u64;
        let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        assert!(streams >= 1);
        assert!(streams == 1 || streams * FILES_PER_STREAM + FILES_FOR_VIEWERS <= hard);
    }
}
