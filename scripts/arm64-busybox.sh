#!/usr/bin/env bash
# The test suite's offline arm64 base: Debian's busybox-static for arm64, extracted to
# var/foreign/arm64/busybox (tests of multi-platform builds build FROM scratch with it).
# Idempotent; needs root the first time (dpkg --add-architecture arm64, apt-get update).
set -euo pipefail

cd "$(dirname "$0")/.."
TARGET=var/foreign/arm64/busybox
log() { printf 'setup: %s\n' "$*"; }

[ -x "$TARGET" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    log "no arm64 busybox for the multi-platform tests; run as root: scripts/arm64-busybox.sh"
    exit 0
fi
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
    apt-get update -qq
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! (cd "$work" && apt-get download -qq busybox-static:arm64 >/dev/null 2>&1); then
    apt-get update -qq
    (cd "$work" && apt-get download -qq busybox-static:arm64)
fi
dpkg-deb -x "$work"/busybox-static_*_arm64.deb "$work/root"
mkdir -p "$(dirname "$TARGET")"
cp "$work/root/bin/busybox" "$TARGET"
log "arm64 busybox for the tests: $TARGET"
