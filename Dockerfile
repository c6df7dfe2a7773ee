# livedash — live streaming from a web browser, packaged in-process by libavformat into MPEG-DASH.
#
#   docker build -t livedash .
#   docker run -d -p 8080:8080 -v livedash-media:/media livedash
#
# Both stages are Debian 12 (bookworm), so the runtime's FFmpeg libraries (libavformat59) are the
# ones the binary was built against. BuildKit is needed (Docker 23+ default) for the cache and secret
# mounts. Where outbound TLS is re-signed by a proxy, pass its CA bundle as the optional `hostca`
# secret: --secret id=hostca,src=/etc/ssl/certs/ca-certificates.crt
# (No "# syntax=" line: Docker would pull the frontend image from a registry.)

FROM docker.io/library/rust:1-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libavformat-dev libavcodec-dev libavutil-dev pkg-config clang libclang-dev make nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# dash.js, pinned by package-lock.json, is embedded into the binary by build.rs.
COPY assets/package.json assets/package-lock.json assets/
RUN --mount=type=secret,id=hostca \
    --mount=type=cache,target=/root/.npm \
    set -eu; \
    if [ -f /run/secrets/hostca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/hostca; fi; \
    npm ci --prefix assets --no-audit --no-fund

# The crate registry and target/ live in cache mounts: rebuilds take seconds. The binary is copied
# out in the same step because cache mounts are not part of the image.
COPY Cargo.toml Cargo.lock build.rs ./
COPY src src
COPY assets assets
RUN --mount=type=secret,id=hostca \
    --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    set -eu; \
    if [ -f /run/secrets/hostca ]; then export CARGO_HTTP_CAINFO=/run/secrets/hostca; fi; \
    cargo build --release --locked --bin livedash; \
    install -D -m 755 target/release/livedash /out/livedash

FROM docker.io/library/debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libavformat59 libavcodec59 libavutil57 \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --gid 10001 livedash \
 && useradd --uid 10001 --gid livedash --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin livedash \
 && mkdir -p /media \
 && chown livedash:livedash /media
COPY --from=build /out/livedash /usr/local/bin/livedash

USER 10001:10001
# Every flag has a LIVEDASH_* variable; see `docker run --rm livedash --help`.
ENV LIVEDASH_BIND=0.0.0.0:8080 \
    LIVEDASH_MEDIA_DIR=/media \
    RUST_LOG=info
VOLUME ["/media"]
# HTTP (pages, WebSocket and HTTP ingest, DASH/HLS) and RTMP (encoders: --rtmp-bind, 0 turns it off).
EXPOSE 8080 1935
# livedash finalises every live stream on SIGTERM (manifests static) and exits 0.
STOPSIGNAL SIGTERM
# /healthz over bash's /dev/tcp: no HTTP client needed in the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${LIVEDASH_BIND##*:} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/livedash"]
