# posture as one static binary (musl) in a minimal image that runs as non-root.
#   docker build -t posture .
#   docker run --rm -v ~/.kube:/home/nonroot/.kube:ro posture check
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN cargo build --release --locked --target x86_64-unknown-linux-musl -p posture

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/target/x86_64-unknown-linux-musl/release/posture /posture
USER 65532:65532
ENTRYPOINT ["/posture"]
