# syntax=docker/dockerfile:1
# qa-hub container image: build with the Rust toolchain, run on a slim Debian as a non-root user.
#   docker build -t qa-hub .      (docker-compose.yml builds it for you)
#
# The build stage copies exactly what `cargo build` reads: the manifests, the sources, the
# workspace's other crates (crates/: cargo loads every member's manifest), the migrations and
# the files compiled into the binary (templates/, static/). `.ci/docker-replay` replays these
# COPY lines into an empty folder and runs the RUN line there (in CI as `cargo check`), so a
# path the build needs but this file forgets fails CI, not a user's `docker compose up --build`.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY migrations migrations
COPY templates templates
COPY static static
COPY src src
COPY crates crates
# The registry cache mount keeps downloaded crates between builds (BuildKit; compose uses it).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo build --release --locked --bin qa-hub

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/qa-hub qa-hub
COPY --from=build /src/target/release/qa-hub /usr/local/bin/qa-hub
USER qa-hub
WORKDIR /var/lib/qa-hub
# Listen on every interface inside the container; SQLite by default (single node), set
# DATABASE_URL to postgres://… to run several nodes (see docker-compose.yml). TLS to Postgres
# needs no system certificates: qa-hub carries its own root set (see README, Configuration).
ENV QA_HUB_BIND=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///var/lib/qa-hub/qa-hub.db \
    RUST_LOG=info
EXPOSE 8080
# No curl in slim images: the binary checks its own /healthz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["qa-hub", "healthcheck"]
ENTRYPOINT ["qa-hub"]
CMD ["serve"]
