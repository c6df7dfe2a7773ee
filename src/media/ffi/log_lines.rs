//! libavformat's log lines, through livedash's logger instead of straight to stderr.
//!
//! Lines at or below libavformat's log level (set in `media::init`) become `log` records on the
//! `libav` target, so they carry the process's timestamps and filters. Two kinds of line are expected
//! and dropped: the dash muxer's failed deletions of segments leaving its window, and its one warning
//! that it can't rename — both because livedash keeps its files ([`super::dash_files`]).

use std::ffi::{CStr, c_char, c_int, c_void};

use ffmpeg_next::ffi;

/// The longest line kept; libavformat truncates longer ones.
const LINE_BYTES: usize = 1024;

/// Routes libavformat's logging through [`forward`]. Called once at startup.
pub fn route_logs() {
    // SAFETY: `forward` matches the callback type and never unwinds; setting the callback is a plain
    // store libavformat reads on each log call.
    unsafe { ffi::av_log_set_callback(Some(forward)) };
}

/// Whether a line is the expected side effect of livedash keeping the dash muxer's files.
fn is_expected(line: &str) -> bool {
    let deletion = format!("failed to delete {}", super::dash_files::SCHEME);
    line.contains(&deletion) || line.contains("Cannot use rename on non file protocol")
}

unsafe extern "C" fn forward(context: *mut c_void, level: c_int, format: *const c_char, args: *mut ffi::__va_list_tag) {
    // SAFETY: reads libavformat's current level, a plain int.
    if level > unsafe { ffi::av_log_get_level() } {
        return;
    }
    let mut line = [0 as c_char; LINE_BYTES];
    let mut print_prefix: c_int = 1;
    // SAFETY: `format` and `args` are the caller's, used once, here; `line` has LINE_BYTES writable
    // bytes and libavformat NUL-terminates what it writes (truncating if longer).
    let written = unsafe {
        ffi::av_log_format_line2(context, level, format, args, line.as_mut_ptr(), LINE_BYTES as c_int, &mut print_prefix)
    };
    if written < 0 {
        return;
    }
    // SAFETY: `line` is NUL-terminated (above) and lives for this call.
    let text = unsafe { CStr::from_ptr(line.as_ptr()) }.to_string_lossy();
    let text = text.trim_end();
    if text.is_empty() || is_expected(text) {
        return;
    }
    let level = match level {
        l if l <= ffi::AV_LOG_ERROR as c_int => log::Level::Error,
        l if l <= ffi::AV_LOG_WARNING as c_int => log::Level::Warn,
        l if l <= ffi::AV_LOG_INFO as c_int => log::Level::Info,
        _ => log::Level::Debug,
    };
    log::log!(target: "libav", level, "{text}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_kept_files_side_effects_are_dropped() {
        assert!(is_expected("[dash @ 0x55d1] failed to delete livedash-dash:/m/a/chunk-t-0-00001.m4s: Protocol not found"));
        assert!(is_expected("[dash @ 0x55d1] Cannot use rename on non file protocol, this may lead to races and temporary partial files"));
        assert!(!is_expected("[dash @ 0x55d1] failed to delete /m/a/chunk-t-0-00001.m4s: Permission denied"));
        assert!(!is_expected("[matroska,webm @ 0x55d1] Invalid EBML number size tag"));
    }
}
