#!/usr/bin/env bash
# Builds the images that compose.offline.yaml runs, from local files only (no
# registry): FROM scratch images holding host-built static binaries.
#
#   scripts/offline-images.sh [devbroker|minio|producer|streamer|batcher ...]
#
# With no argument it builds all five. Idempotent, and fit for a new machine
# (CI runs it):
#   1. installs Debian's busybox-static if missing (the minio image's /bin/sh);
#   2. builds MinIO and mc from their pinned Go modules into
#      ~/.cache/sensorlab/{minio,mc}/<version>/ ONLY if the binary is missing
#      (slow: minutes; own GOCACHE; serialised by a lock, never in parallel with
#      another build of this script);
#   3. builds the services and the devbroker statically from this checkout
#      into out/bin/ (GOWORK=off, as a container build would);
#   4. lays out a small build context per image in out/offline/<image>/ and
#      docker-builds it as sensorlab-offline/<image>:$OFFLINE_TAG (default dev),
#      the names compose.offline.yaml uses, with the engine's own builder: the
#      devbroker and minio from deploy/offline/, the services from stage
#      "prebuilt" of deploy/service.Dockerfile (the online images' Dockerfile).
# Prints the time of every step. out/ is gitignored: never commit it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${SENSORLAB_CACHE:-$HOME/.cache/sensorlab}
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MC_VERSION=v0.0.0-20250313080218-cf909e1063a9
MINIO_BIN=$CACHE/minio/$MINIO_VERSION/minio
MC_BIN=$CACHE/mc/$MC_VERSION/mc
TAG=${OFFLINE_TAG:-dev}
OUT=$ROOT/out
SERVICES=(producer streamer batcher)
ALL=(devbroker minio "${SERVICES[@]}")

now_ms() { date +%s%3N; }
# secs NAME T0: prints the seconds since T0 (milliseconds).
secs() { awk -v n="$1" -v t="$(($(now_ms) - $2))" 'BEGIN { printf "  %-44s %6.1fs\n", n, t / 1000 }'; }
START=$(now_ms)
# timed NAME CMD...: runs CMD and prints how long it took.
timed() {
	local name=$1 t0
	shift
	t0=$(now_ms)
	"$@"
	secs "$name" "$t0"
}
die() {
	echo "offline-images: $*" >&2
	exit 1
}

images=("$@")
[ ${#images[@]} -gt 0 ] || images=("${ALL[@]}")
for i in "${images[@]}"; do
	case " ${ALL[*]} " in *" $i "*) ;; *) die "unknown image $i (want: ${ALL[*]})" ;; esac
done
wants() { case " ${images[*]} " in *" $1 "*) return 0 ;; esac; return 1; }

command -v go >/dev/null || die "go is not installed"
command -v docker >/dev/null || die "docker is not installed"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

install_busybox() {
	if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
		$SUDO apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq busybox-static >/dev/null
	fi
	[ -x /bin/busybox ] || die "busybox-static installed but /bin/busybox is missing"
}

# build_tool MODULE@VERSION DEST: go install into DEST's directory, only if
# DEST is missing. A lock keeps two runs from building at the same time.
build_tool() {
	local pkg=$1 dest=$2
	mkdir -p "$CACHE" "$(dirname "$dest")"
	(
		flock 9
		if [ -x "$dest" ]; then
			# The images are FROM scratch: a dynamically linked binary (one
			# built by hand without CGO_ENABLED=0) would not start there.
			if ! ldd "$dest" >/dev/null 2>&1; then
				exit 0
			fi
			echo "  $dest is dynamically linked: rebuilding it static"
			rm -f "$dest"
		fi
		echo "  building $pkg (once; this takes minutes)"
		cd "$CACHE"
		GOWORK=off GOFLAGS=-trimpath CGO_ENABLED=0 GOCACHE=$CACHE/minio/gocache \
			GOBIN=$(dirname "$dest") go install "$pkg" >"$dest.build.log" 2>&1 ||
			{
				tail -20 "$dest.build.log" >&2
				exit 1
			}
	) 9>"$CACHE/build.lock"
	[ -x "$dest" ] || die "building $pkg did not produce $dest"
}

# build_bin DIR NAME: static binary of DIR/cmd/NAME into out/bin/NAME.
build_bin() {
	local dir=$1 name=$2
	(cd "$ROOT/$dir" && GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$OUT/bin/$name" "./cmd/$name")
}

# context NAME: a fresh, empty build context out/offline/NAME.
context() {
	local ctx=$OUT/offline/$1
	rm -rf "$ctx"
	mkdir -p "$ctx"
	echo "$ctx"
}

# tmp DIR: DIR/tmp, world-writable with the sticky bit, as /tmp is.
tmp() {
	mkdir -p "$1/tmp"
	chmod 1777 "$1/tmp"
}

# certs DIR: the host's CA bundle at DIR/etc/ssl/certs/ (for S3_USE_SSL=true).
certs() {
	if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
		mkdir -p "$1/etc/ssl/certs"
		cp /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/"
	fi
}

# docker_build NAME CTX [ARGS...]: the engine's own builder (no buildx
# needed); its output is shown only when the build fails.
docker_build() {
	local name=$1 ctx=$2 out
	shift 2
	out=$(DOCKER_BUILDKIT=0 docker build "$@" -t "sensorlab-offline/$name:$TAG" "$ctx" 2>&1) || {
		echo "$out" >&2
		return 1
	}
}

image_devbroker() {
	local ctx
	ctx=$(context devbroker)
	cp "$ROOT/deploy/offline/devbroker.Dockerfile" "$ctx/Dockerfile"
	mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/opt/kafka/bin" "$ctx/empty"
	tmp "$ctx/rootfs"
	cp "$OUT/bin/devbroker" "$ctx/rootfs/usr/local/bin/devbroker"
	ln -s /usr/local/bin/devbroker "$ctx/rootfs/opt/kafka/bin/kafka-broker-api-versions.sh"
	docker_build devbroker "$ctx"
}

image_minio() {
	local ctx
	ctx=$(context minio)
	cp "$ROOT/deploy/offline/minio.Dockerfile" "$ctx/Dockerfile"
	# No tmp/ here: the Dockerfile creates /tmp owned by the runtime user.
	mkdir -p "$ctx/rootfs/usr/bin" "$ctx/rootfs/bin" "$ctx/empty"
	cp "$MINIO_BIN" "$ctx/rootfs/usr/bin/minio"
	cp "$MC_BIN" "$ctx/rootfs/usr/bin/mc"
	cp /bin/busybox "$ctx/rootfs/bin/busybox"
	ln -s busybox "$ctx/rootfs/bin/sh"
	certs "$ctx/rootfs"
	docker_build minio "$ctx"
}

# image_service SVC: stage "prebuilt" of deploy/service.Dockerfile, the one
# Dockerfile of the three services (the online build is its last stage). The
# context is the image's whole file system, plus the Dockerfile and a
# .dockerignore that keeps both out of the image.
image_service() {
	local svc=$1 ctx
	ctx=$(context "$svc")
	cp "$ROOT/deploy/service.Dockerfile" "$ctx/Dockerfile"
	printf 'Dockerfile\n.dockerignore\n' >"$ctx/.dockerignore"
	cp "$OUT/bin/$svc" "$ctx/$svc"
	ln -s "$svc" "$ctx/entrypoint"
	tmp "$ctx"
	certs "$ctx"
	docker_build "$svc" "$ctx" --target prebuilt --build-arg "SVC=$svc"
	# Guard against a cached layer of another service (see the Dockerfile),
	# and against the Dockerfile leaking into the image.
	local c listing
	c=$(docker create "sensorlab-offline/$svc:$TAG")
	listing=$(docker export "$c" | tar -tvf -)
	docker rm "$c" >/dev/null
	grep -q " entrypoint -> $svc\$" <<<"$listing" ||
		die "sensorlab-offline/$svc:$TAG: /entrypoint does not point at /$svc"
	! grep -qE ' (Dockerfile|\.dockerignore)$' <<<"$listing" ||
		die "sensorlab-offline/$svc:$TAG: the build context's Dockerfile is in the image"
}

echo "offline images (tag $TAG): ${images[*]}"
if wants minio; then
	timed "busybox-static" install_busybox
	timed "minio $MINIO_VERSION" build_tool "github.com/minio/minio@$MINIO_VERSION" "$MINIO_BIN"
	timed "mc $MC_VERSION" build_tool "github.com/minio/mc@$MC_VERSION" "$MC_BIN"
fi
mkdir -p "$OUT/bin"
if wants devbroker; then
	timed "go build devbroker" build_bin tools/devbroker devbroker
fi
for svc in "${SERVICES[@]}"; do
	if wants "$svc"; then
		timed "go build $svc" build_bin "services/$svc" "$svc"
	fi
done
for i in "${images[@]}"; do
	case $i in
	devbroker) timed "docker build sensorlab-offline/devbroker" image_devbroker ;;
	minio) timed "docker build sensorlab-offline/minio" image_minio ;;
	*) timed "docker build sensorlab-offline/$i" image_service "$i" ;;
	esac
done
secs total "$START"
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep "^sensorlab-offline/[^:]*:$TAG " | sed 's/^/  /' || true
