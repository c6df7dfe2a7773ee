//! Harnesses for livedash's fuzz targets (see README.md). The targets in `fuzz_targets/` only call these.

pub mod packager;
pub mod parsers;
pub mod rtmp;
