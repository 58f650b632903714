#!/usr/bin/env bash
# make services: Redis, a Docker daemon and a registry, each started only when it does not answer.
#
#   scripts/services.sh [start]   make sure all three answer (idempotent; the default)
#   scripts/services.sh status    say which answer; exit 1 when one does not
#   scripts/services.sh stop      stop what this script started (by the PIDs in var/run/)
#
# Everything lives under var/ in the project: var/redis (Redis data, AOF), var/registry (config and
# image data), var/log (one log per service), var/run (PID files). Started processes are detached
# (their own session, stdin closed) and outlive this script.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"

VAR="$ROOT/var"
RUN_DIR="$VAR/run"
LOG_DIR="$VAR/log"
REDIS_DIR="$VAR/redis"
REGISTRY_DIR="$VAR/registry"

REDIS_HOST=127.0.0.1
REDIS_PORT=6379
REGISTRY_ADDR=127.0.0.1:5000
POLL=0.2
REDIS_DEADLINE=15
DOCKER_DEADLINE=120
REGISTRY_DEADLINE=20

log() { printf 'services: %s\n' "$*"; }
fail() {
    # fail NAME MESSAGE [LOGFILE]: one line naming the service, then the end of its log.
    printf 'services: error: %s could not start: %s\n' "$1" "$2" >&2
    if [ -n "${3:-}" ] && [ -s "$3" ]; then
        printf 'services: last lines of %s:\n' "${3#"$ROOT"/}" >&2
        tail -n 15 "$3" | sed 's/^/    /' >&2
    fi
    exit 1
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
read_pid() { [ -f "$1" ] && tr -dc '0-9' <"$1" || true; }

# wait_for NAME DEADLINE CHECK_FN [PID]: poll CHECK_FN until it succeeds, the deadline passes or
# the process we started dies.
wait_for() {
    local name=$1 deadline=$2 check=$3 pid=${4:-}
    local end=$((SECONDS + deadline))
    while ! "$check"; do
        if [ -n "$pid" ] && ! pid_alive "$pid"; then
            return 2
        fi
        if [ "$SECONDS" -ge "$end" ]; then
            return 1
        fi
        sleep "$POLL"
    done
    log "$name is up"
}

# --- Redis ------------------------------------------------------------------------------------
redis_cli() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"; }
redis_answers() { [ "$(redis_cli ping 2>/dev/null)" = PONG ]; }

redis_config_get() { redis_cli config get "$1" 2>/dev/null | sed -n 2p; }

ensure_redis() {
    if redis_answers; then
        # A Redis we did not start still has to keep its promises: AOF on, nothing evicted.
        if [ "$(redis_config_get appendonly)" != yes ]; then
            log "redis on $REDIS_HOST:$REDIS_PORT has AOF off; turning it on (CONFIG SET appendonly yes)"
            redis_cli config set appendonly yes >/dev/null 2>&1 \
                || log "warning: could not turn AOF on; Redis data may be lost on a crash"
        fi
        if [ "$(redis_config_get maxmemory-policy)" != noeviction ]; then
            log "redis on $REDIS_HOST:$REDIS_PORT evicts keys; setting maxmemory-policy noeviction"
            redis_cli config set maxmemory-policy noeviction >/dev/null 2>&1 \
                || log "warning: could not set maxmemory-policy noeviction"
        fi
        log "redis already answers on $REDIS_HOST:$REDIS_PORT"
        return
    fi
    command -v redis-server >/dev/null || fail redis "redis-server is not installed (run make setup)"
    mkdir -p "$REDIS_DIR" "$RUN_DIR" "$LOG_DIR"
    log "starting redis on $REDIS_HOST:$REDIS_PORT (data in var/redis)"
    # daemonize: redis forks into its own session and writes the PID file itself.
    if ! redis-server \
        --bind "$REDIS_HOST" --port "$REDIS_PORT" --protected-mode yes \
        --dir "$REDIS_DIR" --dbfilename dump.rdb \
        --appendonly yes --appendfsync everysec \
        --maxmemory-policy noeviction \
        --daemonize yes --pidfile "$RUN_DIR/redis.pid" \
        --logfile "$LOG_DIR/redis.log" </dev/null 9>&-; then
        fail redis "redis-server exited at start" "$LOG_DIR/redis.log"
    fi
    wait_for redis "$REDIS_DEADLINE" redis_answers \
        || fail redis "no answer on $REDIS_HOST:$REDIS_PORT within ${REDIS_DEADLINE}s" "$LOG_DIR/redis.log"
}

# --- Docker daemon ----------------------------------------------------------------------------
docker_answers() { timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

ensure_docker() {
    if docker_answers; then
        log "docker daemon already answers"
        return
    fi
    case "${DOCKER_HOST:-unix:///var/run/docker.sock}" in
        unix:///var/run/docker.sock | unix:///run/docker.sock) ;;
        *) fail docker "DOCKER_HOST=$DOCKER_HOST does not answer, and this script only starts a local daemon" ;;
    esac
    command -v dockerd >/dev/null || fail docker "dockerd is not installed (run make setup)"
    command -v docker >/dev/null || fail docker "the docker client is not installed (run make setup)"
    mkdir -p "$RUN_DIR" "$LOG_DIR"
    local old
    old="$(read_pid "$RUN_DIR/dockerd.pid")"
    if pid_alive "$old"; then
        fail docker "dockerd (PID $old) runs but does not answer; see var/log/dockerd.log or run scripts/services.sh stop" \
            "$LOG_DIR/dockerd.log"
    fi
    log "starting dockerd (--bridge=none --iptables=false; log in var/log/dockerd.log)"
    # Without --containerd, dockerd starts and supervises its own containerd
    # (/var/run/docker/containerd); the system containerd is used instead when it already runs.
    local extra=()
    if [ -S /run/containerd/containerd.sock ] && timeout 5 ctr --address /run/containerd/containerd.sock version >/dev/null 2>&1; then
        extra+=(--containerd=/run/containerd/containerd.sock)
    fi
    {
        printf '\n=== %s: started by scripts/services.sh ===\n' "$(date -u +%FT%TZ)"
    } >>"$LOG_DIR/dockerd.log"
    setsid nohup dockerd \
        --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
        --pidfile "$RUN_DIR/dockerd.pid" "${extra[@]}" \
        >>"$LOG_DIR/dockerd.log" 2>&1 </dev/null 9>&- &
    local pid=$!
    local rc=0
    wait_for docker "$DOCKER_DEADLINE" docker_answers "$pid" || rc=$?
    case $rc in
        0) ;;
        2) fail docker "dockerd exited at start" "$LOG_DIR/dockerd.log" ;;
        *) fail docker "no answer from dockerd within ${DOCKER_DEADLINE}s" "$LOG_DIR/dockerd.log" ;;
    esac
}

# --- registry ---------------------------------------------------------------------------------
# 0: a registry answers GET /v2/ with 200; 1: nothing listens; 3: something else answers.
registry_probe() {
    python3 - "$REGISTRY_ADDR" <<'PY'
import sys
import urllib.error
import urllib.request

try:
    with urllib.request.urlopen(f"http://{sys.argv[1]}/v2/", timeout=3) as response:
        ok = response.status == 200 and response.headers.get("Docker-Distribution-Api-Version")
        sys.exit(0 if ok else 3)
except urllib.error.HTTPError:
    sys.exit(3)
except OSError:
    sys.exit(1)
PY
}
registry_answers() { registry_probe; }

write_registry_config() {
    mkdir -p "$REGISTRY_DIR/data"
    cat >"$REGISTRY_DIR/config.yml" <<EOF
# Generated by scripts/services.sh; edits are overwritten on the next start.
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $REGISTRY_ADDR
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
EOF
}

ensure_registry() {
    local rc=0
    registry_probe || rc=$?
    case $rc in
        0) log "registry already answers on $REGISTRY_ADDR"; return ;;
        3) fail registry "something on $REGISTRY_ADDR answers, but not as a registry without auth (GET /v2/ is not 200)" ;;
    esac
    command -v docker-registry >/dev/null || fail registry "docker-registry is not installed (run make setup)"
    mkdir -p "$RUN_DIR" "$LOG_DIR"
    write_registry_config
    log "starting registry on $REGISTRY_ADDR (data in var/registry/data)"
    setsid nohup docker-registry serve "$REGISTRY_DIR/config.yml" \
        >>"$LOG_DIR/registry.log" 2>&1 </dev/null 9>&- &
    local pid=$!
    echo "$pid" >"$RUN_DIR/registry.pid"
    rc=0
    wait_for registry "$REGISTRY_DEADLINE" registry_answers "$pid" || rc=$?
    case $rc in
        0) ;;
        2) fail registry "docker-registry exited at start" "$LOG_DIR/registry.log" ;;
        *) fail registry "no answer on $REGISTRY_ADDR within ${REGISTRY_DEADLINE}s" "$LOG_DIR/registry.log" ;;
    esac
}

# --- stop / status ----------------------------------------------------------------------------
# stop_one NAME PIDFILE EXPECTED_COMM DEADLINE: TERM the process from PIDFILE if it is ours.
stop_one() {
    local name=$1 pidfile=$2 comm=$3 deadline=$4
    local pid
    pid="$(read_pid "$pidfile")"
    if ! pid_alive "$pid"; then
        log "$name: not running (no live PID in ${pidfile#"$ROOT"/})"
        rm -f "$pidfile"
        return 0
    fi
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$comm" ]; then
        log "$name: PID $pid is not $comm; leaving it alone"
        rm -f "$pidfile"
        return 0
    fi
    log "stopping $name (PID $pid)"
    kill -TERM "$pid"
    local end=$((SECONDS + deadline))
    while pid_alive "$pid"; do
        if [ "$SECONDS" -ge "$end" ]; then
            log "$name (PID $pid) did not stop within ${deadline}s; sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep "$POLL"
    done
    rm -f "$pidfile"
}

stop_all() {
    stop_one registry "$RUN_DIR/registry.pid" docker-registry 15
    stop_one docker "$RUN_DIR/dockerd.pid" dockerd 40
    stop_one redis "$RUN_DIR/redis.pid" redis-server 15
}

status_all() {
    local bad=0
    if redis_answers; then log "redis: up ($REDIS_HOST:$REDIS_PORT)"; else log "redis: DOWN"; bad=1; fi
    if docker_answers; then log "docker: up"; else log "docker: DOWN"; bad=1; fi
    if registry_answers; then log "registry: up ($REGISTRY_ADDR)"; else log "registry: DOWN"; bad=1; fi
    return "$bad"
}

# One start/stop at a time: two `make test` launched together must not both start a Redis.
# The daemons are started with fd 9 closed, so they do not hold the lock after this script ends.
lock_services() {
    mkdir -p "$RUN_DIR"
    exec 9>"$RUN_DIR/services.lock"
    if ! flock -w 120 9; then
        echo "services: error: another scripts/services.sh holds var/run/services.lock" >&2
        exit 1
    fi
}

case "${1:-start}" in
    start)
        lock_services
        ensure_redis
        ensure_docker
        ensure_registry
        ;;
    stop)
        lock_services
        stop_all
        ;;
    status) status_all ;;
    *)
        echo "usage: $0 [start|stop|status]" >&2
        exit 2
        ;;
esac
