//! All of livedash's `unsafe` code: the libavformat calls that ffmpeg-next does not wrap.
//!
//! - [`open_chunk_input`]: a demuxer reading from a custom `AVIOContext` whose read callback pulls
//!   recorder chunks from the ingest channel ([`ChunkSource`]), with the container named up front.
//! - [`dash_output`]: the `dash` muxer, allocated without opening the manifest path (ffmpeg-next's
//!   `output_as` would create an empty manifest at once, which a watcher would take for a real one),
//!   with its files opened and renamed by livedash as [`super::dash_files`] says, so a window bounds
//!   its memory while every segment stays on disk.
//! - [`route_logs`]: libavformat's log lines through livedash's logger.
//! - [`clear_codec_tag`]: stream copy between containers needs the source container's tag removed.
//! - [`set_capture_time`]: the producer reference time the dash muxer writes into the MPD.
//!
//! Everything returned is an owned ffmpeg-next type or a struct whose `Drop` frees exactly what was
//! allocated here, so callers stay in safe code. The decisions the callbacks carry out (which file,
//! which name, which log line) are made in safe modules and unit-tested there.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ops::{Deref, DerefMut};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use ffmpeg_next as ffmpeg;
use ffmpeg::ffi;
use ffmpeg::format::context::{Input, Output};
use ffmpeg::{Dictionary, Error};

use super::chunks::{ChunkSource, Read, Refusal};
use super::dash_files::{self, ManifestHook, OpenFiles, PendingFile};
use super::feed::InputEnd;

/// Size of the buffer libavformat reads into. The callback returns as soon as any bytes are
/// available, so this bounds a read, not how long the demuxer waits.
const AVIO_BUFFER_SIZE: usize = 64 * 1024;

/// A demuxer reading recorder chunks through a custom `AVIOContext`.
pub struct ChunkInput {
    // Field order is drop order: the format context must close before its AVIOContext is freed.
    input: Input,
    avio: AvioContext,
}

impl ChunkInput {
    /// The chunk reader, for its byte count and end-of-input state.
    pub fn source(&self) -> &ChunkSource {
        self.avio.source()
    }
}

impl Deref for ChunkInput {
    type Target = Input;
    fn deref(&self) -> &Input {
        &self.input
    }
}

impl DerefMut for ChunkInput {
    fn deref_mut(&mut self) -> &mut Input {
        &mut self.input
    }
}

/// Owns a custom read `AVIOContext`, its buffer and its `ChunkSource`.
struct AvioContext {
    ptr: *mut ffi::AVIOContext,
}

impl AvioContext {
    fn source(&self) -> &ChunkSource {
        // The read callback is the only other user of `opaque`, and it runs only inside libavformat
        // calls made through `&mut` access to the owning `ChunkInput` (or during `open_chunk_input`,
        // before this can be called), so no `&mut` alias exists while this `&` lives.
        // SAFETY: `opaque` is the `Box<ChunkSource>` leaked in `open_chunk_input`, freed only in `drop`;
        // no `&mut` alias exists (above).
        unsafe { &*((*self.ptr).opaque as *const ChunkSource) }
    }
}

impl Drop for AvioContext {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `avio_alloc_context` with a `Box<ChunkSource>` as opaque and is freed
        // only here. The buffer is freed through `(*ptr).buffer`, not the pointer we allocated, because
        // libavformat may have swapped it for a larger one while probing.
        unsafe {
            let source = (*self.ptr).opaque as *mut ChunkSource;
            ffi::av_freep(&raw mut (*self.ptr).buffer as *mut c_void);
            ffi::avio_context_free(&mut self.ptr);
            drop(Box::from_raw(source));
        }
    }
}

/// libavformat's read callback: blocks for the next chunk; `AVERROR_EOF` once the input ended and was
/// drained (and on every later call); `AVERROR_INVALIDDATA` once the source refuses more. Never returns
/// 0 and never unwinds into C.
unsafe extern "C" fn read_chunks(opaque: *mut c_void, buf: *mut u8, buf_size: c_int) -> c_int {
    if buf_size <= 0 {
        return ffi::AVERROR(ffi::EINVAL);
    }
    // SAFETY: `opaque` is the live `Box<ChunkSource>` registered in `open_chunk_input`; libavformat
    // calls this only from the packager thread, one call at a time, so the `&mut` is unique.
    let source = unsafe { &mut *(opaque as *mut ChunkSource) };
    // SAFETY: libavformat hands us a writable buffer of `buf_size` bytes that it owns for this call.
    let buf = unsafe { std::slice::from_raw_parts_mut(buf, buf_size as usize) };
    match catch_unwind(AssertUnwindSafe(|| source.read_into(buf))) {
        Ok(Read::Data(n)) => n as c_int,
        Ok(Read::End) => ffi::AVERROR_EOF,
        Ok(Read::Refused) => ffi::AVERROR_INVALIDDATA,
        Err(_) => ffi::AVERROR(ffi::EIO),
    }
}

/// Why opening failed, whether the chunk source had refused the bytes (and why), and whether the
/// input had already ended (and how).
#[derive(Debug)]
pub struct OpenFailure {
    pub error: Error,
    pub refusal: Option<Refusal>,
    pub input_end: Option<InputEnd>,
}

impl OpenFailure {
    /// `error`, with what `source` had seen when it happened.
    pub fn with_source(error: Error, source: &ChunkSource) -> OpenFailure {
        OpenFailure { error, refusal: source.refusal(), input_end: source.end() }
    }
}

impl From<Error> for OpenFailure {
    fn from(error: Error) -> OpenFailure {
        OpenFailure { error, refusal: None, input_end: None }
    }
}

/// Opens `demuxer` (a libavformat input format name such as `matroska` or `mov`) over `source`, with
/// `options` for the format context (probe size, whitelists...). Options the context did not recognise
/// are returned so the caller can refuse a typo.
pub fn open_chunk_input(
    source: ChunkSource,
    demuxer: &str,
    options: Dictionary,
) -> Result<(ChunkInput, Dictionary<'static>), OpenFailure> {
    let demuxer = CString::new(demuxer).map_err(|_| Error::InvalidData)?;
    // SAFETY: `av_find_input_format` only reads the NUL-terminated name; the result is a static.
    let format = unsafe { ffi::av_find_input_format(demuxer.as_ptr()) };
    if format.is_null() {
        return Err(Error::DemuxerNotFound.into());
    }

    // SAFETY: a fresh allocation of the size we pass to `avio_alloc_context`; checked for NULL.
    let buffer = unsafe { ffi::av_malloc(AVIO_BUFFER_SIZE) } as *mut u8;
    if buffer.is_null() {
        return Err(Error::Other { errno: ffi::ENOMEM }.into());
    }
    let opaque = Box::into_raw(Box::new(source)) as *mut c_void;
    // SAFETY: `buffer` holds AVIO_BUFFER_SIZE bytes; `opaque` is the boxed source `read_chunks` expects;
    // no write or seek callback (a read-only, non-seekable stream).
    let avio_ptr = unsafe {
        ffi::avio_alloc_context(buffer, AVIO_BUFFER_SIZE as c_int, 0, opaque, Some(read_chunks), None, None)
    };
    if avio_ptr.is_null() {
        // SAFETY: `avio_alloc_context` failed, so we still own both allocations.
        unsafe {
            ffi::av_free(buffer as *mut c_void);
            drop(Box::from_raw(opaque as *mut ChunkSource));
        }
        return Err(Error::Other { errno: ffi::ENOMEM }.into());
    }
    let avio = AvioContext { ptr: avio_ptr };

    // SAFETY: plain allocation; checked for NULL below.
    let mut context = unsafe { ffi::avformat_alloc_context() };
    if context.is_null() {
        return Err(Error::Other { errno: ffi::ENOMEM }.into());
    }
    // SAFETY: `context` is a fresh format context; giving it our `pb` with AVFMT_FLAG_CUSTOM_IO tells
    // libavformat not to close or free it (`avio` does). On failure `avformat_open_input` frees
    // `context` itself. The disowned options are taken back into a `Dictionary` right after the call.
    let opened = unsafe {
        let mut raw_options = options.disown();
        (*context).pb = avio.ptr;
        (*context).flags |= ffi::AVFMT_FLAG_CUSTOM_IO as c_int;
        let result = ffi::avformat_open_input(&mut context, ptr::null(), format, &mut raw_options);
        (result, Dictionary::own(raw_options))
    };
    let (result, unused) = opened;
    if result < 0 {
        return Err(OpenFailure::with_source(Error::from(result), avio.source()));
    }
    // SAFETY: `avformat_open_input` succeeded, so `context` is an open input we now own.
    let input = ChunkInput { input: unsafe { Input::wrap(context) }, avio };
    Ok((input, unused))
}

/// Reads ahead until every stream's parameters are known (`avformat_find_stream_info`), decoding a
/// frame or two where the container's header doesn't say enough. The packets read are kept and
/// returned by later reads.
pub fn find_stream_info(input: &mut ChunkInput) -> Result<(), Error> {
    // SAFETY: `input` owns an open format context; no per-stream options are passed.
    let found = unsafe { ffi::avformat_find_stream_info(input.input.as_mut_ptr(), ptr::null_mut()) };
    if found < 0 { Err(Error::from(found)) } else { Ok(()) }
}

/// What a stream's codec parameters already say, for deciding whether stream copy can start without
/// reading ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KnownParameters {
    pub width: i32,
    pub height: i32,
    pub pixel_format_known: bool,
    pub sample_rate: i32,
    pub channels: i32,
    pub extradata_len: i32,
}

/// Reads the fields of `parameters` that ffmpeg-next doesn't expose.
pub fn known_parameters(parameters: &ffmpeg::codec::Parameters) -> KnownParameters {
    // SAFETY: `as_ptr` points at the stream's live AVCodecParameters; we only read plain fields.
    let raw = unsafe { &*parameters.as_ptr() };
    KnownParameters {
        width: raw.width,
        height: raw.height,
        pixel_format_known: raw.format >= 0,
        sample_rate: raw.sample_rate,
        channels: raw.ch_layout.nb_channels,
        extradata_len: raw.extradata_size,
    }
}

/// A stream's codec extradata (its decoder configuration: `OpusHead`, `avcC`...), empty if none.
pub fn extradata(parameters: &ffmpeg::codec::Parameters) -> &[u8] {
    // SAFETY: `as_ptr` points at the stream's live AVCodecParameters, which owns `extradata_size`
    // bytes at `extradata` (when non-NULL) for as long as `parameters` is borrowed.
    unsafe {
        let raw = &*parameters.as_ptr();
        match usize::try_from(raw.extradata_size) {
            Ok(len) if len > 0 && !raw.extradata.is_null() => std::slice::from_raw_parts(raw.extradata, len),
            _ => &[],
        }
    }
}

/// Clears the codec tag of an output stream's parameters: the tag chosen by the source container
/// (e.g. Matroska's) is not valid in MP4, and 0 lets the muxer pick its own.
pub fn clear_codec_tag(stream: &mut ffmpeg::format::stream::StreamMut) {
    // SAFETY: `parameters()` points at the stream's own `AVCodecParameters`, alive as long as `stream`.
    unsafe { (*stream.parameters().as_mut_ptr()).codec_tag = 0 };
}

/// Tags `packet` with the wall-clock time its media was captured (`AV_PKT_DATA_PRFT`, flags 24 =
/// "captured"). The dash muxer writes the first such time of each track into the MPD's
/// `ProducerReferenceTime`, which players use to aim their latency at the capture clock.
pub fn set_capture_time(packet: &mut ffmpeg::Packet, unix_micros: i64) -> Result<(), Error> {
    let size = std::mem::size_of::<ffi::AVProducerReferenceTime>();
    // SAFETY: `packet` owns a valid AVPacket; the side data returned is `size` writable bytes owned by
    // the packet (freed with it), checked for NULL.
    let data = unsafe {
        ffi::av_packet_new_side_data(ffmpeg::packet::Mut::as_mut_ptr(packet), ffi::AVPacketSideDataType::AV_PKT_DATA_PRFT, size as _)
    };
    if data.is_null() {
        return Err(Error::Other { errno: ffi::ENOMEM });
    }
    let reference = ffi::AVProducerReferenceTime { wallclock: unix_micros, flags: 24 };
    // SAFETY: `data` points at `size` bytes, exactly one AVProducerReferenceTime; side data carries no
    // alignment promise, hence the unaligned write.
    unsafe { std::ptr::write_unaligned(data as *mut ffi::AVProducerReferenceTime, reference) };
    Ok(())
}

/// A `dash` muxer whose files livedash opens and finishes ([`super::dash_files`]).
pub struct DashOutput {
    // Field order is drop order: freeing the muxer closes its open files through `files`.
    output: Output,
    files: Box<OpenFiles>,
}

impl Deref for DashOutput {
    type Target = Output;
    fn deref(&self) -> &Output {
        &self.output
    }
}

impl DerefMut for DashOutput {
    fn deref_mut(&mut self) -> &mut Output {
        &mut self.output
    }
}

impl DashOutput {
    /// Has `hook` called with every manifest the muxer writes, at its `.tmp` path, before the rename.
    pub fn on_manifest_written(&mut self, hook: ManifestHook) {
        self.files.set_manifest_hook(hook);
    }
}

impl Drop for DashOutput {
    fn drop(&mut self) {
        // Whatever the muxer closes while it is freed was not finished by it (no trailer).
        self.files.abandon();
    }
}

/// Allocates a `dash` muxer whose manifest will be `manifest`. Nothing is created on disk until the
/// header is written.
pub fn dash_output(manifest: &std::path::Path) -> Result<DashOutput, Error> {
    let url = CString::new(dash_files::muxer_url(manifest)).map_err(|_| Error::InvalidData)?;
    let mut context = ptr::null_mut();
    // SAFETY: both strings are NUL-terminated and outlive the call; on success `context` is a new
    // output context we own (the dash muxer is AVFMT_NOFILE, so nothing is opened here).
    let result =
        unsafe { ffi::avformat_alloc_output_context2(&mut context, ptr::null(), c"dash".as_ptr(), url.as_ptr()) };
    if result < 0 || context.is_null() {
        return Err(Error::from(result.min(-1)));
    }
    let files = Box::new(OpenFiles::new(manifest));
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

/// libavformat's `io_open` for the dash muxer: the manifest goes to memory, every other file to its
/// `.tmp` through the file protocol. Never unwinds into C.
unsafe extern "C" fn open_file(
    s: *mut ffi::AVFormatContext,
    pb: *mut *mut ffi::AVIOContext,
    url: *const c_char,
    flags: c_int,
    options: *mut *mut ffi::AVDictionary,
) -> c_int {
    // SAFETY: libavformat passes a NUL-terminated URL that lives for this call.
    let url = unsafe { CStr::from_ptr(url) }.to_bytes();
    let Some(file) = PendingFile::from_muxer_url(url) else {
        log::error!("libav: the dash muxer asked to open {:?}, which is not in its folder", String::from_utf8_lossy(url));
        return ffi::AVERROR(ffi::EINVAL);
    };
    // SAFETY: `opaque` is the `OpenFiles` set in `dash_output`, alive until after the context (`s` is
    // the muxer's live context or one of its segment muxers, which share `opaque`).
    let files = unsafe { &*((*s).opaque as *const OpenFiles) };
    let opened = if files.is_manifest(&file) {
        // SAFETY: `pb` is libavformat's out-parameter; a dynamic buffer is freed in `close_file`.
        unsafe { ffi::avio_open_dyn_buf(pb) }
    } else {
        let Some(file_url) = file.temp_file_url() else { return ffi::AVERROR(ffi::EINVAL) };
        // SAFETY: `pb` and `options` are libavformat's own out-parameters, passed through unchanged.
        unsafe { ffi::avio_open2(pb, file_url.as_ptr(), flags, &(*s).interrupt_callback, options) }
    };
    if opened >= 0 {
        // SAFETY: `pb` was just filled by a successful open.
        let key = unsafe { *pb } as usize;
        let _ = catch_unwind(AssertUnwindSafe(|| files.opened(key, file)));
    }
    opened
}

/// libavformat's `io_close2` for the dash muxer: closes the file and has [`OpenFiles`] give it its
/// name (for the manifest: write it, if it is new). Never unwinds into C.
unsafe extern "C" fn close_file(s: *mut ffi::AVFormatContext, pb: *mut ffi::AVIOContext) -> c_int {
    // SAFETY: `opaque` is the `OpenFiles` set in `dash_output`, alive until after the context.
    let files = unsafe { &*((*s).opaque as *const OpenFiles) };
    let file = catch_unwind(AssertUnwindSafe(|| files.closed(pb as usize))).ok().flatten();
    let Some(file) = file else {
        let mut pb = pb;
        // SAFETY: not a file of ours, so one libavformat opened itself; it closes each only once.
        return unsafe { ffi::avio_closep(&mut pb) };
    };
    let finished = if files.is_manifest(&file) {
        let mut buffer = ptr::null_mut();
        // SAFETY: `pb` is the dynamic buffer `open_file` opened for the manifest; closing it hands us
        // its `len` bytes at `buffer`, which we copy and free.
        let manifest = unsafe {
            let len = ffi::avio_close_dyn_buf(pb, &mut buffer);
            let manifest = match usize::try_from(len) {
                Ok(len) if !buffer.is_null() => std::slice::from_raw_parts(buffer, len).to_vec(),
                _ => Vec::new(),
            };
            ffi::av_free(buffer as *mut c_void);
            manifest
        };
        catch_unwind(AssertUnwindSafe(|| files.finish_manifest(manifest)))
    } else {
        let mut pb = pb;
        // SAFETY: `pb` was opened by `open_file` (`avio_open2`) and libavformat closes it only once.
        let closed = unsafe { ffi::avio_closep(&mut pb) };
        if closed < 0 {
            return closed;
        }
        catch_unwind(AssertUnwindSafe(|| files.finish(&file)))
    };
    match finished {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            log::error!("libav: could not write {} as {}: {e}", file.temp.display(), file.path.display());
            ffi::AVERROR(e.raw_os_error().unwrap_or(ffi::EIO))
        }
        Err(_) => ffi::AVERROR(ffi::EIO),
    }
}

/// The longest libavformat log line kept; libavformat truncates longer ones.
const LOG_LINE_BYTES: usize = 1024;

/// Routes libavformat's log lines at or below its log level (set in `media::init`) through
/// livedash's logger, on the `libav` target, so they carry the process's timestamps and filters.
/// Called once at startup.
pub fn route_logs() {
    // SAFETY: `forward_log` matches the callback type and never unwinds; setting the callback is a
    // plain store libavformat reads on each log call.
    unsafe { ffi::av_log_set_callback(Some(forward_log)) };
}

unsafe extern "C" fn forward_log(context: *mut c_void, level: c_int, format: *const c_char, args: *mut ffi::__va_list_tag) {
    // SAFETY: reads libavformat's current level, a plain int.
    if level > unsafe { ffi::av_log_get_level() } {
        return;
    }
    let mut line = [0 as c_char; LOG_LINE_BYTES];
    let mut print_prefix: c_int = 1;
    // SAFETY: `format` and `args` are the caller's, used once, here; `line` has LOG_LINE_BYTES
    // writable bytes and libavformat NUL-terminates what it writes (truncating if longer).
    let written = unsafe {
        ffi::av_log_format_line2(context, level, format, args, line.as_mut_ptr(), LOG_LINE_BYTES as c_int, &mut print_prefix)
    };
    if written < 0 {
        return;
    }
    // SAFETY: `line` is NUL-terminated (above) and lives for this call.
    let text = unsafe { CStr::from_ptr(line.as_ptr()) }.to_string_lossy();
    let text = text.trim_end();
    if text.is_empty() || dash_files::is_expected_warning(text) {
        return;
    }
    let level = match level {
        l if l <= ffi::AV_LOG_ERROR as c_int => log::Level::Error,
        l if l <= ffi::AV_LOG_WARNING as c_int => log::Level::Warn,
        l if l <= ffi::AV_LOG_INFO as c_int => log::Level::Info,
        _ => log::Level::Debug,
    };
    // `log` formats into the installed logger; a panicking logger must not unwind into C.
    let _ = catch_unwind(AssertUnwindSafe(|| log::log!(target: "libav", level, "{text}")));
}
