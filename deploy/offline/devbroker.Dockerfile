# Offline stand-in for apache/kafka: the devbroker (tools/devbroker), which
# reads the same KAFKA_* variables, with a real ApiVersions probe at the path
# compose.yaml's kafka healthcheck calls. FROM scratch only. The context is
# prepared by scripts/offline-images.sh in out/offline/devbroker/:
#   rootfs/usr/local/bin/devbroker
#   rootfs/opt/kafka/bin/kafka-broker-api-versions.sh -> /usr/local/bin/devbroker
#   rootfs/tmp/                 world-writable /tmp
#   empty/                      an empty directory
FROM scratch
COPY rootfs/ /
# KAFKA_LOG_DIRS in compose.yaml: owned by the runtime user, so that a named
# volume mounted here starts with that owner.
COPY --chown=65532:65532 empty/ /var/lib/kafka/data/
USER 65532:65532
EXPOSE 9092 29092
ENTRYPOINT ["/usr/local/bin/devbroker"]
