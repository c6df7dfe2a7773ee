use std::process::ExitCode;

use clap::Parser;
use livedash::auth::{token, unix_now};
use livedash::config::{Command, Config};

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
