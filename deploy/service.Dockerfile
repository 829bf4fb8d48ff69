# The image of one sensorlab service, for all three: build it with
# --build-arg SVC=producer|streamer|batcher. FROM scratch: the static binary at
# /<svc> (compose's healthchecks run `/<svc> healthcheck`), /entrypoint -> <svc>
# (ENTRYPOINT cannot expand an ARG), CA certificates (for S3_USE_SSL=true), a
# world-writable /tmp; it runs as 65532:65532.
#
# Two ways to fill it, one definition:
#   online, stage "image" (the default target), context the repository root,
#   as compose.yaml builds it: compiled here in golang:1.26 (GOWORK=off, so a
#   missing replace directive fails here as in CI):
#     docker build -f deploy/service.Dockerfile --build-arg SVC=streamer -t sensorlab/streamer:dev .
#   offline, stage "prebuilt", context out/offline/<svc>/ as
#   scripts/offline-images.sh lays it out from host-built binaries (no
#   registry needed):
#     docker build -f deploy/service.Dockerfile --target prebuilt --build-arg SVC=streamer out/offline/streamer
#
# Why "prebuilt" comes first: the classic builder (the engine's own, used when
# buildx is missing, as on this project's machines) builds every stage up to
# the target, in file order, and none after it. With --target prebuilt it never
# reaches golang:1.26, which cannot be pulled without a registry. Online,
# BuildKit skips "prebuilt" (the image does not use it); the classic builder
# runs it too, on the repository root, where it copies the sources (well under
# a megabyte) into an intermediate image that nothing uses.

# ---- offline: the context is the image's whole file system --------------
# out/offline/<svc>/: <svc>, entrypoint -> <svc>, tmp/ (1777),
# etc/ssl/certs/ca-certificates.crt, and a .dockerignore that leaves out the
# Dockerfile and itself. The binary and the symlink are copied in ONE layer
# on purpose: the classic builder's cache key ignores a symlink's target, so a
# layer holding only the symlink would be reused across services.
FROM scratch AS prebuilt
ARG SVC
COPY . /
LABEL org.opencontainers.image.title="sensorlab ${SVC} (offline build)"
USER 65532:65532
ENTRYPOINT ["/entrypoint"]

# ---- online: compile in golang:1.26 --------------------------------------
FROM golang:1.26 AS build
ARG SVC
ENV CGO_ENABLED=0 GOWORK=off GOFLAGS=-trimpath
WORKDIR /src
# Dependencies first: these layers are rebuilt only when a go.mod or go.sum
# changes. One line per module of this repository that a service needs
# (every service gets all of them: the layers are shared); a new module is one
# more line here, and one more `!<dir>` in .dockerignore.
COPY contract/go.* contract/
COPY envflag/go.* envflag/
COPY lake/go.* lake/
COPY query/go.* query/
COPY queries/go.* queries/
COPY services/producer/go.* services/producer/
COPY services/streamer/go.* services/streamer/
COPY services/batcher/go.* services/batcher/
RUN test -n "$SVC" || { echo "build with --build-arg SVC=producer|streamer|batcher" >&2; exit 1; } \
 && cd "services/$SVC" && go mod download
COPY . .
# The image's whole file system, as in the offline context.
RUN cd "services/$SVC" && go build -ldflags="-s -w" -o "/rootfs/$SVC" "./cmd/$SVC" \
 && ln -s "$SVC" /rootfs/entrypoint \
 && mkdir -p /rootfs/etc/ssl/certs && mkdir -m 1777 /rootfs/tmp \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/

FROM scratch AS image
ARG SVC
COPY --from=build /rootfs/ /
LABEL org.opencontainers.image.title="sensorlab ${SVC}"
USER 65532:65532
ENTRYPOINT ["/entrypoint"]
