# syntax=docker/dockerfile:1
#
# Bridle's control plane and decision service, for docker-compose.yml and
# deploy/k8s/. The image runs `bridle serve`; Envoy runs in its own container
# (envoyproxy/envoy:v1.40.0) from the bootstrap `bridle envoy bootstrap`
# prints.
#
#   docker build -t bridle:dev .
#
# The Go version follows go.mod's `go` line (internal/deploycheck checks it).
# Nothing secret goes into the image: config, vault key and credentials are
# mounted or passed in the environment at run time.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS TARGETARCH
# Static (CGO off: SQLite is the pure-Go modernc driver), reproducible paths,
# no symbol tables.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/bridle ./cmd/bridle
# An empty state dir owned by the runtime user, so a fresh named volume
# mounted there is writable (Bridle tightens it to 0700 at start).
RUN mkdir -p /out/state

# distroless/static: CA roots (Bridle reads /etc/ssl/certs/ca-certificates.crt
# for upstream TLS), /etc/passwd with nonroot (65532), no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bridle /usr/local/bin/bridle
COPY --from=build --chown=65532:65532 /out/state /var/lib/bridle
USER 65532:65532
ENV BRIDLE_CONFIG=/etc/bridle/bridle.yaml
# API, xDS (ADS), ext_authz + access logs.
EXPOSE 3180 18000 18001
ENTRYPOINT ["/usr/local/bin/bridle"]
CMD ["serve", "--log-format", "json"]
