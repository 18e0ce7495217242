# shellcheck shell=bash
# Shared helpers of the marketsync scripts (scripts/test, scripts/quickstart,
# scripts/validate-deploy). Source it; do not run it.
#
# Every ensure_* function is idempotent: it uses what already runs or is
# installed, installs or starts only what is missing, prints nothing on
# success and a clear message on stderr on failure (then returns 1). The
# callers run under `set -euo pipefail`, but the functions check each step
# themselves so they behave the same when called in an `if` or with `||`.
# Everything the scripts install for themselves lives under <root>/.tools.

# The repository root: this file is <root>/scripts/lib/common.sh.
ms_root() {
    (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
}

ms_log() { printf 'marketsync: %s\n' "$*" >&2; }
ms_err() { printf 'marketsync: error: %s\n' "$*" >&2; }

# Run a command as root: directly when we are root, else through sudo.
_ms_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        ms_err "need root (or sudo) to run: $*"
        return 1
    fi
}

# apt-get install, with one `apt-get update` per shell first. Output goes to a
# log that is shown only on failure.
_ms_apt_install() {
    local log
    log="$(mktemp)"
    ms_log "installing $* with apt-get"
    if [ -z "${_MS_APT_UPDATED:-}" ]; then
        if ! _ms_as_root apt-get update >"$log" 2>&1; then
            cat "$log" >&2; rm -f "$log"
            ms_err "apt-get update failed"
            return 1
        fi
        _MS_APT_UPDATED=1
    fi
    if ! _ms_as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y --no-install-recommends "$@" >"$log" 2>&1; then
        cat "$log" >&2; rm -f "$log"
        ms_err "apt-get install $* failed"
        return 1
    fi
    rm -f "$log"
}

# True when host:port accepts a TCP connection (bash's /dev/tcp, bounded by
# `timeout` so a black-holed address cannot hang us).
_ms_tcp_open() {
    # shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# wait_tcp HOST PORT SECONDS: poll until HOST:PORT accepts connections.
wait_tcp() {
    local host="$1" port="$2" secs="${3:-30}"
    local deadline=$((SECONDS + secs))
    until _ms_tcp_open "$host" "$port"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            ms_err "$host:$port did not accept connections within ${secs}s"
            return 1
        fi
        sleep 0.5
    done
}

# --- PostgreSQL -------------------------------------------------------------

# The first cluster of Debian's postgresql-common on port 5432 (else the first
# one at all), as "VERSION NAME"; empty when there is none.
_ms_pg_cluster() {
    command -v pg_lsclusters >/dev/null 2>&1 || return 0
    local c
    c="$(pg_lsclusters -h 2>/dev/null | awk '$3 == 5432 {print $1, $2; exit}')"
    [ -n "$c" ] || c="$(pg_lsclusters -h 2>/dev/null | awk '{print $1, $2; exit}')"
    printf '%s' "$c"
}

# Make the cluster trust TCP connections from the loopback addresses, so that
# postgres://postgres@127.0.0.1:5432/... works without a password. The lines
# go first because the first matching pg_hba.conf line wins. Prints "changed"
# when it edited the file.
_ms_pg_trust_loopback() {
    local hba="/etc/postgresql/$1/$2/pg_hba.conf" tmp
    [ -f "$hba" ] || { ms_err "no $hba"; return 1; }
    if grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba" &&
       grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+::1/128[[:space:]]+trust' "$hba"; then
        return 0
    fi
    tmp="$(mktemp)"
    {
        echo '# added by marketsync scripts/lib/common.sh: local development only'
        echo 'host    all    all    127.0.0.1/32    trust'
        echo 'host    all    all    ::1/128         trust'
        cat "$hba"
    } >"$tmp"
    _ms_as_root cp "$tmp" "$hba" || { rm -f "$tmp"; return 1; }
    rm -f "$tmp"
    echo changed
}

_ms_pg_ready() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1
    else
        _ms_tcp_open 127.0.0.1 5432
    fi
}

# ensure_postgres: a PostgreSQL server on 127.0.0.1:5432 that user postgres
# reaches over TCP with trust auth.
ensure_postgres() {
    _ms_pg_ready && return 0

    if ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
        _ms_apt_install postgresql || return 1
    fi

    local cluster ver name
    cluster="$(_ms_pg_cluster)"
    if [ -z "$cluster" ]; then
        # Newest installed server version.
        ver="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -n | tail -n 1)"
        [ -n "$ver" ] || { ms_err "no PostgreSQL server under /usr/lib/postgresql"; return 1; }
        ms_log "creating PostgreSQL cluster $ver/main"
        _ms_as_root pg_createcluster --port 5432 "$ver" main >/dev/null ||
            { ms_err "pg_createcluster $ver main failed"; return 1; }
        cluster="$ver main"
    fi
    read -r ver name <<<"$cluster"

    local changed
    changed="$(_ms_pg_trust_loopback "$ver" "$name")" || return 1

    if pg_lsclusters -h | awk -v v="$ver" -v n="$name" '$1 == v && $2 == n && $4 == "online" {f = 1} END {exit !f}'; then
        # Running, yet not answering on 127.0.0.1:5432 (other port or
        # listen_addresses): a reload picks up pg_hba.conf at least.
        if [ -n "$changed" ]; then
            _ms_as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload >/dev/null 2>&1 || true
        fi
    else
        ms_log "starting PostgreSQL cluster $ver/$name"
        _ms_as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start ||
            { ms_err "pg_ctlcluster $ver $name start failed (see /var/log/postgresql/postgresql-$ver-$name.log)"; return 1; }
    fi

    local deadline=$((SECONDS + 30))
    until _ms_pg_ready; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            ms_err "PostgreSQL cluster $ver/$name is not ready on 127.0.0.1:5432 after 30s (check its port and listen_addresses in /etc/postgresql/$ver/$name/postgresql.conf)"
            return 1
        fi
        sleep 0.5
    done
}

# ensure_database NAME: the database exists (after ensure_postgres).
ensure_database() {
    local db="$1" out
    out="$(psql -h 127.0.0.1 -U postgres -d postgres -Atqc \
        "SELECT 1 FROM pg_database WHERE datname = '$db'" 2>&1)" ||
        { ms_err "cannot connect to PostgreSQL as postgres on 127.0.0.1: $out"; return 1; }
    [ "$out" = 1 ] && return 0
    out="$(psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE \"$db\"" 2>&1)" ||
        { ms_err "cannot create database $db: $out"; return 1; }
}

# --- NATS -------------------------------------------------------------------

# ensure_nats: a NATS server with JetStream on 127.0.0.1:4222. An existing
# listener is trusted to have JetStream on (the monitoring port that would
# tell may be off); one we start ourselves always has it.
ensure_nats() {
    _ms_tcp_open 127.0.0.1 4222 && return 0

    local root bin
    root="$(ms_root)"
    bin="$(command -v nats-server 2>/dev/null || true)"
    if [ -z "$bin" ] && [ -x /usr/sbin/nats-server ]; then
        bin=/usr/sbin/nats-server # Debian's package; /usr/sbin may not be on PATH
    fi
    if [ -z "$bin" ]; then
        _ms_apt_install nats-server || return 1
        bin="$(command -v nats-server 2>/dev/null || echo /usr/sbin/nats-server)"
    fi

    mkdir -p "$root/.tools/nats-data"
    ms_log "starting $bin on 127.0.0.1:4222 (log: $root/.tools/nats.log)"
    # setsid: its own session, so a Ctrl-C of the calling script leaves it up.
    setsid "$bin" -js -a 127.0.0.1 -p 4222 -sd "$root/.tools/nats-data" \
        >>"$root/.tools/nats.log" 2>&1 </dev/null &
    echo $! >"$root/.tools/nats.pid"
    if ! wait_tcp 127.0.0.1 4222 20; then
        tail -n 20 "$root/.tools/nats.log" >&2 || true
        ms_err "nats-server did not start"
        return 1
    fi
}

# --- Node, Prism ------------------------------------------------------------

ensure_node() {
    if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
        return 0
    fi
    _ms_apt_install nodejs npm || return 1
}

# ensure_prism: Stoplight Prism under <root>/.tools; exports MARKETSYNC_PRISM.
ensure_prism() {
    ensure_node || return 1
    local root prism log
    root="$(ms_root)"
    prism="$root/.tools/node_modules/.bin/prism"
    if [ ! -x "$prism" ]; then
        mkdir -p "$root/.tools"
        log="$(mktemp)"
        ms_log "installing @stoplight/prism-cli@5 into $root/.tools"
        if ! npm install --prefix "$root/.tools" --no-audit --no-fund \
                @stoplight/prism-cli@5 >"$log" 2>&1; then
            cat "$log" >&2; rm -f "$log"
            ms_err "npm install @stoplight/prism-cli@5 failed"
            return 1
        fi
        rm -f "$log"
        [ -x "$prism" ] || { ms_err "npm installed no $prism"; return 1; }
    fi
    export MARKETSYNC_PRISM="$prism"
}

# --- Python -----------------------------------------------------------------

# ensure_python_venv: a virtualenv at <root>/.tools/venv; echoes its path
# (the only thing any function here prints on stdout).
ensure_python_venv() {
    local root venv
    root="$(ms_root)"
    venv="$root/.tools/venv"
    if [ ! -x "$venv/bin/python" ]; then
        command -v python3 >/dev/null 2>&1 || _ms_apt_install python3 || return 1
        if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
            _ms_apt_install python3-venv || return 1
        fi
        mkdir -p "$root/.tools"
        python3 -m venv "$venv" >&2 || { rm -rf "$venv"; ms_err "python3 -m venv $venv failed"; return 1; }
    fi
    echo "$venv"
}

# ensure_kubernetes_validate: kubernetes-validate and PyYAML in that venv
# (<venv>/bin/kubernetes-validate, <venv>/bin/python with yaml), pinned so
# that a new release cannot drop the Kubernetes version we validate against.
ensure_kubernetes_validate() {
    local venv log
    venv="$(ensure_python_venv)" || return 1
    if [ -x "$venv/bin/kubernetes-validate" ] &&
       "$venv/bin/python" -c 'import kubernetes_validate, yaml' >/dev/null 2>&1; then
        return 0
    fi
    log="$(mktemp)"
    ms_log "installing kubernetes-validate and PyYAML into $venv"
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            "kubernetes-validate==1.37.0" "PyYAML==6.0.3" >"$log" 2>&1; then
        cat "$log" >&2; rm -f "$log"
        ms_err "pip install kubernetes-validate PyYAML failed"
        return 1
    fi
    rm -f "$log"
}

# --- Rust -------------------------------------------------------------------

ensure_rust() {
    command -v cargo >/dev/null 2>&1 && return 0
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
        return 0
    fi
    ms_err "cargo not found. Install Rust with rustup:"
    ms_err "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y"
    ms_err "  . \"\$HOME/.cargo/env\""
    return 1
}
