# One image with both binaries (`admin-api`, the default command, and
# `redirector`). Build: docker build -t url-shortener .
# The build needs no database: sqlx reads the committed .sqlx/ query data.

FROM rust:1-bookworm AS build
WORKDIR /src
ENV SQLX_OFFLINE=true CARGO_TERM_COLOR=never
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin admin-api --bin redirector \
 && mkdir -p /out \
 && cp target/release/admin-api target/release/redirector /out/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl tor-geoipdb \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /out/admin-api /out/redirector /usr/local/bin/
USER 10001
# GLIBC_TUNABLES: allocations of 64 KiB and more get their own mappings, so
# the redirector's cache index leaves no holes in the heap as it grows.
ENV LOG_FORMAT=json \
    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=65536 \
    ADMIN_LISTEN=0.0.0.0:8081 \
    REDIRECTOR_LISTEN=0.0.0.0:8080 \
    HEALTH_URL=http://127.0.0.1:8081/health
EXPOSE 8080 8081
# The redirector's containers set HEALTH_URL to its own port.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS "$HEALTH_URL" >/dev/null || exit 1
STOPSIGNAL SIGTERM
CMD ["admin-api"]
