# Offline image of one sensorlab service (producer, streamer or batcher):
# FROM scratch only, no registry needed. The context is prepared by
# scripts/offline-images.sh in out/offline/<svc>/:
#   rootfs/<svc>                the host-built static binary (CGO_ENABLED=0)
#   rootfs/entrypoint -> <svc>  a symlink, since ENTRYPOINT cannot expand ARG
#   rootfs/tmp/                 world-writable /tmp
#   rootfs/etc/ssl/certs/       the host's CA bundle (for S3_USE_SSL=true)
# The binary and the symlink are copied in ONE layer on purpose: the legacy
# builder's cache key ignores a symlink's target, so a layer holding only the
# symlink would be reused across services; the binary makes the key unique.
# The result matches services/<svc>/Dockerfile: /<svc> runs as 65532:65532.
FROM scratch
ARG SVC
COPY rootfs/ /
LABEL org.opencontainers.image.title="sensorlab ${SVC} (offline build)"
USER 65532:65532
ENTRYPOINT ["/entrypoint"]
