#!/bin/sh
# Builds the base images that docker/*.Dockerfile and compose.yml name, for a machine that cannot
# pull from a registry (see docs/deployment.md, "Containers"), from Debian's packages and this
# machine's CPython 3.10. Run as root from the repository root:  sh docker/local/build-bases.sh
# Makes: vecina-base:bookworm, vecina-python:3.10, vecina-rasa-sdk:3.6.2, their "-build" variants
# (with this machine's CA bundle, for pip in build stages only), vecina-postgres:15, vecina-redis:7.
set -eu
PYTHON_HOME=${PYTHON_HOME:-$(dirname "$(dirname "$(readlink -f "$(tools/find-python310)")")")}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! docker image inspect vecina-base:bookworm >/dev/null 2>&1; then
    debootstrap --variant=minbase --include=ca-certificates,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,libreadline8,libncursesw6,libuuid1,zlib1g,libgdbm6 \
        bookworm "$work/rootfs" >"$work/debootstrap.log"
    tar -C "$work/rootfs" -c . | docker import - vecina-base:bookworm
    rm -rf "$work/rootfs"
fi

mkdir -p "$work/python/bin" "$work/python/lib" "$work/python/include"
cp -a "$PYTHON_HOME/bin/python3.10" "$work/python/bin/"
cp -a "$PYTHON_HOME"/lib/libpython3.10.so* "$work/python/lib/"
cp -a "$PYTHON_HOME/include/python3.10" "$work/python/include/"
tar -C "$PYTHON_HOME/lib" --exclude=python3.10/site-packages --exclude=python3.10/test \
    --exclude='__pycache__' -c python3.10 | tar -C "$work/python/lib" -x
mkdir "$work/python/lib/python3.10/site-packages"
docker build --network host -f docker/local/python.Dockerfile -t vecina-python:3.10 "$work"

cp "$CA_BUNDLE" "$work/ca-certificates.crt"
docker build -f docker/local/build-ca.Dockerfile --build-arg BASE_IMAGE=vecina-python:3.10 \
    -t vecina-python:3.10-build "$work"
cp requirements.lock "$work/"
docker build --network host -f docker/local/rasa-sdk.Dockerfile --build-arg BASE_IMAGE=vecina-python:3.10 \
    --build-arg BUILD_IMAGE=vecina-python:3.10-build -t vecina-rasa-sdk:3.6.2 "$work"
docker build -f docker/local/build-ca.Dockerfile --build-arg BASE_IMAGE=vecina-rasa-sdk:3.6.2 \
    -t vecina-rasa-sdk:3.6.2-build "$work"

docker build --network host -f docker/local/postgres.Dockerfile -t vecina-postgres:15 docker/local
docker build --network host -f docker/local/redis.Dockerfile -t vecina-redis:7 docker/local
