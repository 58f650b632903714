#!/usr/bin/env bash
# make setup: system packages, the virtualenv and the project with its test extras.
#
# Idempotent and fast the second time: apt runs only when a package is missing, pip only when
# setup.cfg/setup.py changed since the last install (stamp file in .venv/).
set -euo pipefail

cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
STAMP="$VENV/.autobuild-installed"
PYTHON="${PYTHON:-python3}"

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# --- system packages --------------------------------------------------------------------------
# redis-server: queue, records, logs (and, as `redis-server --sentinel`, the Sentinel test).
# docker.io: dockerd (+ containerd, runc). docker-registry:
# the local registry. git: mirrors. busybox-static: the test base image. apache2-utils: htpasswd
# (bcrypt entries for the authenticated test registry). qemu-user-static: RUN steps of foreign
# platforms (multi-platform images; scripts/binfmt.sh registers it with the kernel).
# openssh-server: a loopback sshd the deploy-key tests start themselves (never as a service).
# bubblewrap: the sandbox build hooks run in (worker/sandbox.py). docker-compose: autotest's
# `sut` service (worker/composerun.py).
PACKAGES=(redis-server docker.io docker-registry git busybox-static apache2-utils chromium qemu-user-static openssh-server bubblewrap docker-compose iproute2)

is_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    if is_installed "$pkg"; then
        continue
    fi
    # A Docker daemon from Docker's own packages (docker-ce) serves as well as docker.io.
    if [ "$pkg" = docker.io ] && { is_installed docker-ce || command -v dockerd >/dev/null 2>&1; }; then
        continue
    fi
    missing+=("$pkg")
done
# python3 -m venv needs ensurepip, which Debian ships separately in python3-venv.
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    install_cmd="apt-get install -y --no-install-recommends ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        printf 'setup: missing system packages: %s\n' "${missing[*]}" >&2
        printf 'setup: run as root:  apt-get update && %s\n' "$install_cmd" >&2
        exit 1
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- foreign platforms: QEMU's binfmt entries -------------------------------------------------
scripts/binfmt.sh
scripts/arm64-busybox.sh

# --- virtualenv and the project ---------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    "$PYTHON" -m venv "$VENV" || die "could not create $VENV with $PYTHON -m venv"
    rm -f "$STAMP"
fi

needs_install=0
if [ ! -f "$STAMP" ]; then
    needs_install=1
else
    for f in setup.cfg setup.py pyproject.toml; do
        if [ -f "$f" ] && [ "$f" -nt "$STAMP" ]; then
            needs_install=1
        fi
    done
fi
# The console script is what make run and the Procfile call; its absence means a broken install.
if [ ! -x "$VENV/bin/autobuild" ]; then
    needs_install=1
fi

if [ "$needs_install" -eq 1 ]; then
    log "installing the project into $VENV (pip install -e '.[test]')"
    mkdir -p var/log
    pip_log=var/log/setup-pip.log
    if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -e '.[test]' >"$pip_log" 2>&1; then
        tail -n 30 "$pip_log" >&2
        die "pip install -e '.[test]' failed; the whole output is in $pip_log"
    fi
    touch "$STAMP"
fi

log "ok"
