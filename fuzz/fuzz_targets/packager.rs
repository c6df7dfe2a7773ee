#![no_main]
//! Recorder bytes, in arbitrary chunkings, through the ingest → packager path. See `src/packager.rs`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| livedash_fuzz::packager::run(data));
