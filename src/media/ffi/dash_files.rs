//! The dash muxer's files, opened and finished by livedash instead of libavformat, so that every
//! segment stays on disk while the muxer remembers only a window of them.
//!
//! FFmpeg 5.1's dash muxer keeps a record of every segment of every track (about 1.1 KB each: a
//! 1024-byte file name) unless `window_size` is set, and with a window it *deletes* the segments that
//! leave it. livedash needs both: memory bounded over a 24-hour stream, and every segment kept as the
//! recording. So the muxer is given its manifest as `livedash-dash:<path>`, a URL with no libavformat
//! protocol behind it:
//! - every file it opens goes through [`open_file`], which writes `<path>.tmp` in the real folder, and
//!   [`close_file`] renames it to `<path>` when the muxer closes it, as the muxer does itself for local
//!   files (watchers and the live edge rely on that `.tmp` then rename);
//! - its deletions (`ffurl_delete` on that URL) find no protocol and change nothing; the warnings they
//!   log are dropped by [`super::log_lines`].
//!
//! When the muxer closes its manifest, a hook set with [`DashOutput::on_manifest_written`] sees it
//! before it takes its real name (the full timeline of a windowed manifest, `media::timeline_log`).
//!
//! A file still open when the muxer is freed without its trailer (a failed presentation) is closed but
//! not renamed: the `.tmp` is left for `files::remove_unfinished`, exactly as before.

use std::ffi::{CStr, CString, OsStr, c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use ffmpeg_next as ffmpeg;
use ffmpeg::ffi;
use ffmpeg::format::context::Output;
use ffmpeg::Error;

/// The scheme the muxer sees in front of every path. Must be no libavformat protocol's name.
pub const SCHEME: &str = "livedash-dash:";

/// A `dash` muxer whose files livedash opens and finishes (see the module comment).
pub struct DashOutput {
    // Field order is drop order: freeing the muxer closes its open files through `files`.
    output: Output,
    files: Box<OpenFiles>,
}

impl std::ops::Deref for DashOutput {
    type Target = Output;
    fn deref(&self) -> &Output {
        &self.output
    }
}

impl std::ops::DerefMut for DashOutput {
    fn deref_mut(&mut self) -> &mut Output {
        &mut self.output
    }
}

impl DashOutput {
    /// Has `hook` called with every manifest the muxer writes, at its `.tmp` path, before the rename.
    pub fn on_manifest_written(&mut self, hook: ManifestHook) {
        *self.files.on_manifest.lock().unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }
}

impl Drop for DashOutput {
    fn drop(&mut self) {
        // Whatever the muxer closes from here on was not finished by it: keep it a `.tmp`.
        self.files.abandoned.store(true, Ordering::Relaxed);
    }
}

/// Called with the path of each manifest the muxer has finished writing, before it is renamed.
pub type ManifestHook = Box<dyn FnMut(&Path) + Send>;

/// The muxer's open files: each `AVIOContext` with the `.tmp` it writes and the name it becomes.
struct OpenFiles {
    open: Mutex<Vec<(usize, PathBuf, PathBuf)>>,
    abandoned: AtomicBool,
    manifest: PathBuf,
    on_manifest: Mutex<Option<ManifestHook>>,
}

/// Allocates a `dash` muxer whose manifest will be `manifest`. Nothing is created on disk until the
/// header is written.
pub fn dash_output(manifest: &Path) -> Result<DashOutput, Error> {
    let mut url = SCHEME.as_bytes().to_vec();
    url.extend_from_slice(manifest.as_os_str().as_bytes());
    let url = CString::new(url).map_err(|_| Error::InvalidData)?;
    let mut context = ptr::null_mut();
    // SAFETY: both strings are NUL-terminated and outlive the call; on success `context` is a new
    // output context we own (the dash muxer is AVFMT_NOFILE, so nothing is opened here).
    let result =
        unsafe { ffi::avformat_alloc_output_context2(&mut context, ptr::null(), c"dash".as_ptr(), url.as_ptr()) };
    if result < 0 || context.is_null() {
        return Err(Error::from(result.min(-1)));
    }
    let files = Box::new(OpenFiles {
        open: Mutex::default(),
        abandoned: AtomicBool::new(false),
        manifest: manifest.to_path_buf(),
        on_manifest: Mutex::new(None),
    });
    // SAFETY: `context` is fresh and ours. `opaque` points at the boxed `OpenFiles`, which `DashOutput`
    // drops only after the context (field order); the dash muxer copies `opaque` and both callbacks to
    // the segment muxers it creates, which it frees before itself.
    unsafe {
        (*context).opaque = &*files as *const OpenFiles as *mut _;
        (*context).io_open = Some(open_file);
        (*context).io_close2 = Some(close_file);
    }
    // SAFETY: `context` was just allocated and is owned by the returned `Output`.
    Ok(DashOutput { output: unsafe { Output::wrap(context) }, files })
}

/// The real path behind a URL the muxer made from its manifest's (`None`: not one of ours).
fn real_path(url: &[u8]) -> Option<PathBuf> {
    let path = url.strip_prefix(SCHEME.as_bytes())?;
    (!path.is_empty()).then(|| PathBuf::from(OsStr::from_bytes(path)))
}

/// `<path>.tmp`.
fn temp_path(path: &Path) -> PathBuf {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    PathBuf::from(temp)
}

/// libavformat's `io_open` for the muxer: opens `<path>.tmp` for writing with the file protocol.
unsafe extern "C" fn open_file(
    s: *mut ffi::AVFormatContext,
    pb: *mut *mut ffi::AVIOContext,
    url: *const c_char,
    flags: c_int,
    options: *mut *mut ffi::AVDictionary,
) -> c_int {
    // SAFETY: libavformat passes a NUL-terminated URL that lives for this call.
    let url = unsafe { CStr::from_ptr(url) }.to_bytes();
    let Some(path) = real_path(url) else {
        log::error!("libav: the dash muxer asked to open {:?}, which is not in its folder", String::from_utf8_lossy(url));
        return ffi::AVERROR(ffi::EINVAL);
    };
    let temp = temp_path(&path);
    let mut file_url = b"file:".to_vec();
    file_url.extend_from_slice(temp.as_os_str().as_bytes());
    let Ok(file_url) = CString::new(file_url) else { return ffi::AVERROR(ffi::EINVAL) };
    // SAFETY: `s` is the muxer's live context (or one of its segment muxers, which share `opaque`);
    // `pb` and `options` are libavformat's own out-parameters, passed through unchanged.
    let opened = unsafe { ffi::avio_open2(pb, file_url.as_ptr(), flags, &(*s).interrupt_callback, options) };
    if opened >= 0 {
        // SAFETY: `opaque` is the `OpenFiles` set in `dash_output`, alive until after the context.
        let files = unsafe { &*((*s).opaque as *const OpenFiles) };
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: `pb` was just filled by a successful `avio_open2`.
            let key = unsafe { *pb } as usize;
            files.open.lock().unwrap_or_else(|p| p.into_inner()).push((key, temp, path));
        }));
    }
    opened
}

/// libavformat's `io_close2` for the muxer: closes the file and, unless the muxer was abandoned, gives
/// the `.tmp` its real name.
unsafe extern "C" fn close_file(s: *mut ffi::AVFormatContext, pb: *mut ffi::AVIOContext) -> c_int {
    // SAFETY: `opaque` is the `OpenFiles` set in `dash_output`, alive until after the context.
    let files = unsafe { &*((*s).opaque as *const OpenFiles) };
    let entry = catch_unwind(AssertUnwindSafe(|| {
        let mut open = files.open.lock().unwrap_or_else(|p| p.into_inner());
        let at = open.iter().position(|(key, _, _)| *key == pb as usize)?;
        Some(open.swap_remove(at))
    }))
    .ok()
    .flatten();
    let mut pb = pb;
    // SAFETY: `pb` was opened by `open_file` (`avio_open2`) and libavformat closes it only once.
    let closed = unsafe { ffi::avio_closep(&mut pb) };
    let Some((_, temp, path)) = entry else { return closed };
    if closed < 0 || files.abandoned.load(Ordering::Relaxed) {
        return closed;
    }
    if path == files.manifest {
        // A panicking hook must not unwind into libavformat; the manifest is renamed as it is.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            if let Some(hook) = files.on_manifest.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                hook(&temp);
            }
        }));
    }
    match std::fs::rename(&temp, &path) {
        Ok(()) => 0,
        Err(e) => {
            log::error!("libav: could not rename {} to {}: {e}", temp.display(), path.display());
            ffi::AVERROR(e.raw_os_error().unwrap_or(ffi::EIO))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_urls_made_from_the_manifest_map_to_files() {
        assert_eq!(
            real_path(b"livedash-dash:/media/a/chunk-t-0-00001.m4s"),
            Some(PathBuf::from("/media/a/chunk-t-0-00001.m4s"))
        );
        assert_eq!(real_path(b"livedash-dash:media/a/manifest.mpd"), Some(PathBuf::from("media/a/manifest.mpd")));
        assert_eq!(real_path(b"/media/a/manifest.mpd"), None);
        assert_eq!(real_path(b"file:/media/a/manifest.mpd"), None);
        assert_eq!(real_path(b"livedash-dash:"), None);
        assert_eq!(temp_path(Path::new("/m/a/manifest.mpd")), PathBuf::from("/m/a/manifest.mpd.tmp"));
    }
}
