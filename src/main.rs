use std::process::ExitCode;

use clap::Parser;
use livedash::auth::{token, unix_now};
use livedash::config::{Command, Config};

/// jemalloc serves every allocation of the process, libavformat's included: its
/// `unprefixed_malloc_on_supported_platforms` feature defines `malloc`, `free` and `posix_memalign`
/// themselves, which the FFmpeg libraries bind to. FFmpeg allocates every packet, packet reference and
/// side datum with `posix_memalign`, and glibc 2.36 serves that outside its thread caches, from its
/// bins, splitting and consolidating chunks on each call: with 500 publishers that was 19 % of the
/// server's CPU, against 6 % with jemalloc (`perf record`, 2026-11-28).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[actix_web::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    if let Some(Command::Token { stream, ttl }) = &config.command {
        return print_token(&config, stream, *ttl);
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let started = async {
        let listener = livedash::server::bind(&config)?;
        livedash::server::run(config, listener, livedash::server::signals()?).await
    };
    match started.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `livedash token STREAM --ttl 1h`: the token alone on stdout, so `$(livedash token cam1)` works.
fn print_token(config: &Config, stream: &livedash::stream_id::StreamId, ttl: std::time::Duration) -> ExitCode {
    let Some(secret) = &config.publish_secret else {
        eprintln!("livedash token: set --publish-secret or LIVEDASH_PUBLISH_SECRET to the server's secret");
        return ExitCode::FAILURE;
    };
    println!("{}", token::mint(secret.as_bytes(), stream, unix_now().saturating_add(ttl.as_secs())));
    ExitCode::SUCCESS
}
