# qa-hub container image: build with the Rust toolchain, run on a slim Debian as a non-root user.
#   docker build -t qa-hub .      (docker-compose.yml builds it for you)

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY migrations migrations
COPY src src
# The same command .ci/run runs, so CI proves this step builds.
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/qa-hub qa-hub
COPY --from=build /src/target/release/qa-hub /usr/local/bin/qa-hub
USER qa-hub
WORKDIR /var/lib/qa-hub
# Listen on every interface inside the container; SQLite by default (single node), set
# DATABASE_URL to postgres://… to run several nodes (see docker-compose.yml).
ENV QA_HUB_BIND=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///var/lib/qa-hub/qa-hub.db \
    RUST_LOG=info
EXPOSE 8080
# No curl in slim images: the binary checks its own /healthz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["qa-hub", "healthcheck"]
ENTRYPOINT ["qa-hub"]
CMD ["serve"]
