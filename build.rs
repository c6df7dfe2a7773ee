//! Build checks and asset embedding.
//!
//! 1. Fails early, with the Debian packages to install, when FFmpeg >= 5.1 (libavformat 59.27) is missing:
//!    otherwise the first error a user sees is a bindgen panic deep inside ffmpeg-sys-next.
//! 2. Makes the npm-installed dash.js and hls.js bundles available to `include_bytes!` so the binary serves
//!    the players itself (no CDN, no files beside the binary). Runs `npm ci` in `assets/` when a bundle is
//!    missing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// libavformat 59.27 shipped with FFmpeg 5.1 (Debian 12's version).
const MIN_LIBAVFORMAT: &str = "59.27.100";
const DEBIAN_BUILD_PACKAGES: &str = "libavformat-dev libavcodec-dev libavutil-dev pkg-config clang libclang-dev";
/// (bundle in `assets/`, name in `OUT_DIR`, what it is for the error message)
const BUNDLES: &[(&str, &str, &str)] = &[
    ("node_modules/dashjs/dist/modern/umd/dash.all.min.js", "dash.all.min.js", "dashjs 5.x"),
    ("node_modules/hls.js/dist/hls.min.js", "hls.min.js", "hls.js 1.x"),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=assets/package-lock.json");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    check_ffmpeg();
    embed_players();
}

fn fail(message: &str) -> ! {
    eprintln!("\nerror: {message}\n");
    std::process::exit(1);
}

fn check_ffmpeg() {
    let probe = Command::new("pkg-config")
        .args(["--atleast-version", MIN_LIBAVFORMAT, "libavformat", "libavcodec", "libavutil"])
        .status();
    match probe {
        Err(_) => fail(&format!(
            "pkg-config is not installed, so FFmpeg's libraries can't be found.\n\
             On Debian 12: apt-get install -y {DEBIAN_BUILD_PACKAGES}"
        )),
        Ok(status) if !status.success() => fail(&format!(
            "FFmpeg >= 5.1 development libraries (libavformat >= {MIN_LIBAVFORMAT}, libavcodec, libavutil) \
             were not found by pkg-config.\nOn Debian 12: apt-get install -y {DEBIAN_BUILD_PACKAGES}"
        )),
        Ok(_) => {}
    }
}

fn embed_players() {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    if BUNDLES.iter().any(|(bundle, _, _)| !assets.join(bundle).exists()) {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&assets)
            .status();
        match status {
            Err(_) => fail(&format!(
                "dash.js and hls.js are not installed and npm was not found.\n\
                 Install Node.js and npm (apt-get install -y nodejs npm), then: npm ci --prefix {}",
                assets.display()
            )),
            Ok(status) if !status.success() => fail(&format!(
                "`npm ci` in {} failed; dash.js and hls.js are needed to build the player pages.",
                assets.display()
            )),
            Ok(_) => {}
        }
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for (bundle, name, what) in BUNDLES {
        let bundle = assets.join(bundle);
        if !bundle.exists() {
            fail(&format!("{} is missing after `npm ci`: is {what} pinned in assets/package.json?", bundle.display()));
        }
        std::fs::copy(&bundle, out_dir.join(name)).unwrap_or_else(|e| fail(&format!("copying {}: {e}", bundle.display())));
        println!("cargo:rerun-if-changed={}", bundle.display());
    }
}
