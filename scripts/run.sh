#!/usr/bin/env bash
# make run: start every process of the Procfile (web and one worker) in the foreground.
#
# Each Procfile line `name: command` runs under bash with its output prefixed by `name | `.
# Ctrl-C (or TERM) stops all of them; when one exits on its own, the others are stopped too and
# this script exits with its status. AUTOBUILD_CONFIG, REDIS_URL, PORT, ... pass through.
set -euo pipefail

cd "$(dirname "$0")/.."

PROCFILE="${PROCFILE:-Procfile}"
export PORT="${PORT:-8000}"
if [ -z "${AUTOBUILD_CONFIG:-}" ]; then
    # The bundled demo configuration names this variable for its webhook secret; `make demo-push`
    # signs with the same default.
    export AUTOBUILD_DEMO_WEBHOOK_SECRET="${AUTOBUILD_DEMO_WEBHOOK_SECRET:-demo-webhook-secret-change-me}"
fi

pids=()
names=()

alive() {
    local pid
    for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then return 0; fi
    done
    return 1
}

# TERM every child; a second TERM after 10 s (an rq worker's first TERM waits for the running
# build, the second one stops it); KILL after 15 s.
stop_all() {
    local pid step signal grace end
    for step in "TERM 10" "TERM 5" "KILL 1"; do
        signal="${step% *}"
        grace="${step#* }"
        for pid in "${pids[@]}"; do
            kill -"$signal" "$pid" 2>/dev/null || true
        done
        end=$((SECONDS + grace))
        while alive && [ "$SECONDS" -lt "$end" ]; do
            sleep 0.2
        done
        alive || break
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}

on_signal() {
    trap - INT TERM
    printf '\nrun: stopping %s\n' "${names[*]}"
    stop_all
    exit 130
}
trap on_signal INT TERM

while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in '' | '#'*) continue ;; esac
    name="${line%%:*}"
    command="${line#*:}"
    command="${command#"${command%%[![:space:]]*}"}"
    # setsid: a session of its own, so Ctrl-C in the terminal reaches only this script, which then
    # stops the children in order (a single TERM first: graceful shutdown).
    setsid bash -c "$command" \
        > >(sed -u "s/^/$name | /") 2> >(sed -u "s/^/$name | /" >&2) </dev/null &
    pids+=("$!")
    names+=("$name")
    printf 'run: started %s (PID %s): %s\n' "$name" "$!" "$command"
done <"$PROCFILE"

if [ "${#pids[@]}" -eq 0 ]; then
    echo "run: no processes in $PROCFILE" >&2
    exit 1
fi

cat <<MSG

  Autobuild web UI:   http://127.0.0.1:${PORT}/
  Configuration:      ${AUTOBUILD_CONFIG:-demo/autobuild.yml (the bundled demo)}
  First build:        in another terminal, run  make demo-push
                      (commits to the demo repository and sends the signed webhook)
  Stop:               Ctrl-C

MSG

status=0
wait -n "${pids[@]}" || status=$?
trap - INT TERM
echo "run: a process exited (status $status); stopping the others" >&2
stop_all
exit "$status"
