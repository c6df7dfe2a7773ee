//! The server's C allocator is jemalloc, for libavformat too: FFmpeg allocates every packet with
//! `posix_memalign`, which glibc 2.36 serves slowly (see `src/main.rs`). jemalloc built without a
//! symbol prefix is the process's `malloc`/`posix_memalign` and reads its settings from
//! `MALLOC_CONF`; built with one (the crate's default) it would serve Rust's allocations only, leave
//! FFmpeg's to glibc and read `_RJEM_MALLOC_CONF` instead. So a setting it doesn't know, given in
//! `MALLOC_CONF`, must be complained about by jemalloc.

use std::process::Command;

#[test]
fn the_c_allocator_of_the_server_is_jemalloc() {
    let output = Command::new(env!("CARGO_BIN_EXE_livedash"))
        .arg("--help")
        .env("MALLOC_CONF", "livedash_allocator_probe:1")
        .output()
        .expect("run livedash --help");
    assert!(output.status.success(), "livedash --help failed: {output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("<jemalloc>: Invalid conf pair: livedash_allocator_probe:1"),
        "jemalloc did not read MALLOC_CONF, so it is not the process's malloc; stderr: {stderr}"
    );
}
