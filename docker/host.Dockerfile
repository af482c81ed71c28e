# The Go host stub (bin/hoststub) in a small non-root runtime image, with the
# Go peer beside it: gopluginhost and the goplugin binary it starts as its
# child (compose's go-plugin service runs the same image with gopluginhost as
# its entrypoint).
#
# Base images are build arguments defaulting to the official names; where no
# registry is reachable, scripts/docker-offline.sh builds local equivalents and
# writes them to .env, which docker-compose.yml passes through.
ARG GO_BASE=golang:1.26-bookworm
# The runtime reuses the Python base so the whole stack shares one Debian layer.
ARG PY_BASE=python:3.11-slim-bookworm

FROM ${GO_BASE} AS build
# Empty means Go's default (proxy.golang.org); set it to use a mirror.
ARG GOPROXY
ARG GOSUMDB
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
WORKDIR /src/host
# Dependency layer: only go.mod/go.sum, so source edits keep the module cache.
COPY host/go.mod host/go.sum ./
RUN go mod download
COPY host/ ./
# The build cache survives source edits (BuildKit cache mount), so a rebuild
# compiles only what changed instead of grpc-go from scratch.
RUN --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags="-s -w" -o /out/ ./cmd/hoststub ./cmd/gopluginhost ./cmd/goplugin

FROM ${PY_BASE}
RUN useradd --uid 10001 --user-group --no-create-home --no-log-init --shell /usr/sbin/nologin hoststub \
    && mkdir -p /files && chmod 1777 /files
# gopluginhost finds goplugin beside itself.
COPY --from=build /out/hoststub /out/gopluginhost /out/goplugin /usr/local/bin/
USER 10001:10001
# The commit the image was built from, as a label (docker inspect); last, so a
# new commit rebuilds no layer.
ARG STREAMBENCH_COMMIT=""
LABEL org.opencontainers.image.revision=${STREAMBENCH_COMMIT}
ENV HOSTSTUB_LISTEN=0.0.0.0:8065
EXPOSE 8065 8066
ENTRYPOINT ["hoststub"]
