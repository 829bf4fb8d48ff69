# Offline stand-in for quay.io/minio/minio and quay.io/minio/mc: MinIO and mc
# built from their pinned Go modules, and Debian's busybox-static as /bin/sh so
# that the minio-init job's shell script runs. FROM scratch only. The context is
# prepared by scripts/offline-images.sh in out/offline/minio/:
#   rootfs/usr/bin/minio, rootfs/usr/bin/mc
#   rootfs/bin/busybox, rootfs/bin/sh -> busybox
#   rootfs/etc/ssl/certs/ca-certificates.crt
#   empty/                      an empty directory
FROM scratch
COPY rootfs/ /
# The server's data directory (a named volume inherits the owner) and /tmp,
# which is also HOME: mc keeps its config in $HOME/.mc, minio its certs
# directory in $HOME/.minio.
COPY --chown=65532:65532 empty/ /data/
COPY --chown=65532:65532 empty/ /tmp/
ENV PATH=/usr/bin:/bin HOME=/tmp
USER 65532:65532
EXPOSE 9000 9001
ENTRYPOINT ["/usr/bin/minio"]
