# livedash image: Debian 12 both stages, so the runtime FFmpeg libraries match the build (libavformat59).
FROM docker.io/library/rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libavformat-dev libavcodec-dev libavutil-dev pkg-config clang libclang-dev nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY assets/package.json assets/package-lock.json assets/
RUN npm ci --prefix assets --no-audit --no-fund
COPY . .
RUN cargo build --release --locked && cp target/release/livedash /usr/local/bin/livedash

FROM docker.io/library/debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libavformat59 libavcodec59 libavutil57 curl \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/livedash /usr/local/bin/livedash
ENV LIVEDASH_BIND=0.0.0.0:8080 LIVEDASH_MEDIA_DIR=/media
VOLUME /media
EXPOSE 8080
HEALTHCHECK CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/livedash"]
