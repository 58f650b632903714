#!/usr/bin/env bash
# Foreign-architecture RUN steps (platforms: [linux/arm64] ...): make sure the kernel runs
# foreign binaries through QEMU. Idempotent; called by scripts/setup.sh after qemu-user-static
# is installed.
#
# qemu-user-static ships its binfmt entries in /usr/lib/binfmt.d (with the F flag: the kernel
# opens the interpreter once, at registration, so it works inside containers too). Without
# systemd nothing registers them, and /proc/sys/fs/binfmt_misc may not even be mounted: mount
# it, then register every qemu entry that is not registered yet.
set -euo pipefail

BINFMT=/proc/sys/fs/binfmt_misc
log() { printf 'setup: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    if [ ! -e "$BINFMT/qemu-aarch64" ]; then
        log "binfmt entries for QEMU are not registered (foreign platforms cannot build);"
        log "run as root: scripts/binfmt.sh"
    fi
    exit 0
fi

if [ ! -e "$BINFMT/register" ]; then
    if ! mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null; then
        log "could not mount binfmt_misc on $BINFMT: foreign platforms cannot build"
        exit 0
    fi
fi

registered=()
for conf in /usr/lib/binfmt.d/qemu-*.conf; do
    [ -f "$conf" ] || continue
    name=$(basename "$conf" .conf)
    [ -e "$BINFMT/$name" ] && continue
    # One line, ':name:type:offset:magic:mask:interpreter:flags'; comments and blanks skipped.
    while IFS= read -r line; do
        case "$line" in ''|'#'*) continue ;; esac
        if printf '%s' "$line" > "$BINFMT/register" 2>/dev/null; then
            registered+=("$name")
        fi
    done < "$conf"
done
if [ "${#registered[@]}" -gt 0 ]; then
    log "registered binfmt entries: ${registered[*]}"
fi
