#![no_main]
//! RTMP encoder bytes through the ingest's protocol side. See `src/rtmp.rs`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| livedash_fuzz::rtmp::run(data));
