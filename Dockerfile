# syntax=docker/dockerfile:1
#
# mcpgate container image: one static-ish binary on distroless/cc, uid 1000, no shell.
#
#   docker build -t registry.example.com/mcpgate:0.1.0 .
#   (optional: --build-arg REVISION=$(git rev-parse HEAD) --build-arg CREATED=$(date -u +%FT%TZ))
#
# The build stage runs scripts/build-release.sh, the same command docs/deploy.md gives for a
# local build; crates/mcpgate/tests/deploy.rs checks this file against it. Runtime layout:
#   /usr/local/bin/mcpgate          the binary (also the HEALTHCHECK: `mcpgate healthcheck`)
#   /etc/mcpgate/profile.json       example GitLab profile, static token (GITLAB_TOKEN) or anonymous
#   /etc/mcpgate/oauth-profile.json example GitLab profile with per-user OAuth (the deployment guide's)
#   /etc/mcpgate/openapi.yaml       the GitLab OpenAPI subset both profiles use
#   /data                           writable volume for the embedded state store (MCP_DATA_DIR)
# Mount your own profile and spec anywhere (Kubernetes: /config) and point MCP_PROFILE_PATH and
# OPENAPI_SPEC_PATH at them. The root filesystem can be read-only; only /data is written.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS chef
WORKDIR /src
RUN cargo install cargo-chef --locked --version 0.1.78

# Dependency recipe: changes only when a Cargo.toml or Cargo.lock changes.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# Cached layer: every dependency, built with the release profile and flags of build-release.sh.
RUN cargo chef cook --release --locked -p mcpgate --bin mcpgate --recipe-path recipe.json
COPY . .
RUN sh scripts/build-release.sh \
    && install -D -m 0755 target/release/mcpgate /out/usr/local/bin/mcpgate \
    && install -D -m 0644 examples/gitlab/profile.json /out/etc/mcpgate/profile.json \
    && install -D -m 0644 examples/gitlab/oauth-profile.json /out/etc/mcpgate/oauth-profile.json \
    && install -D -m 0644 examples/gitlab/openapi.yaml /out/etc/mcpgate/openapi.yaml \
    && install -d -m 0700 /out/data \
    && /out/usr/local/bin/mcpgate --version

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="mcpgate" \
      org.opencontainers.image.description="Any OpenAPI 3.x API as MCP tools (stdio and Streamable HTTP), with per-user OAuth" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.documentation="docs/deploy.md"
COPY --from=builder /out/usr/local/bin/mcpgate /usr/local/bin/mcpgate
COPY --from=builder /out/etc/mcpgate/ /etc/mcpgate/
COPY --from=builder --chown=1000:1000 /out/data /data
ENV MCP_TRANSPORT=http \
    MCP_HOST=0.0.0.0 \
    MCP_PORT=3003 \
    MCP_PROFILE_PATH=/etc/mcpgate/profile.json \
    OPENAPI_SPEC_PATH=/etc/mcpgate/openapi.yaml \
    MCP_DATA_DIR=/data \
    LOG_FORMAT=json
USER 1000:1000
WORKDIR /data
VOLUME ["/data"]
EXPOSE 3003
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/mcpgate", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/mcpgate"]
CMD ["serve"]
