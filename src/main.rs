use std::process::ExitCode;

use clap::Parser;
use livedash::config::Config;

#[actix_web::main]
async fn main() -> ExitCode {
    let config = Config::parse();
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
