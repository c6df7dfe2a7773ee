//! delivery — how a stream's files reach viewers: the live edge read once and fanned out.
//!
//! - [`cache`]: finished files (segments, manifests) held in memory within a byte budget, checked
//!   against the file system on the watcher's events and at least once a second, not per request.
//! - [`live`]: a segment the muxer is still writing, read once into shared [`bytes::Bytes`] and handed
//!   to every request waiting on it.
//! - [`folder`]: one stream folder's live state (its live segments, who waits for which file, where the
//!   live edge is), fed by the one media-folder watcher ([`crate::streams::watcher`]).
//! - [`range`]: `Range: bytes=…` parsing, pure.
//! - [`slices`]: the HTTP body of a file in memory, in slices actix-web writes without growing its
//!   write buffer.
//! - [`body`]: the HTTP body of an in-progress segment, aborted (never ended cleanly) if the segment
//!   can't be completed.

pub mod body;
pub mod cache;
pub mod folder;
pub mod live;
pub mod range;
pub mod slices;

use std::fs::File;
use std::io;
use std::path::Path;

/// Opens `path` (a file in a stream folder) for reading, refusing symbolic links: the file must not be
/// one (`O_NOFOLLOW`) and neither may its folder be. A refused link reads as "not found".
pub fn open_no_follow(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let folder = path.parent().ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
    if !std::fs::symlink_metadata(folder)?.is_dir() {
        return Err(io::ErrorKind::NotFound.into());
    }
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) { io::ErrorKind::NotFound.into() } else { e }
    })?;
    if !file.metadata()?.is_file() {
        return Err(io::ErrorKind::NotFound.into());
    }
    Ok(file)
}
