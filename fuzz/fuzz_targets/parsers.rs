#![no_main]
//! Text parsers on arbitrary input. See `src/parsers.rs`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| livedash_fuzz::parsers::run(data));
