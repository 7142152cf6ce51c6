#!/usr/bin/env bash
# BEDS bootstrap: bring a (possibly fresh) Debian/Ubuntu machine to the point
# where `make run` / `make test` work:
#   1. RabbitMQ installed and listening on 127.0.0.1:5672
#   2. MariaDB installed and listening on 127.0.0.1:3306
#   3. MariaDB account beds/beds with the beds and beds_test databases
#   4. .venv with the project installed in editable mode (with [dev] extras)
#   5. config/env_dev.toml created from its .example
#
# Idempotent: every step first checks whether there is anything to do, so a
# second run only does a few cheap probes (well under 2 s).
# It never stops or restarts a running service.
#
# Usage: cluster/bootstrap.sh [--no-services]
#   --no-services          skip steps 1-3 (services live elsewhere)
#   BEDS_BOOTSTRAP_QUIET=1 print nothing unless something fails
set -euo pipefail

readonly RABBIT_HOST=127.0.0.1 RABBIT_PORT=5672
readonly DB_HOST=127.0.0.1 DB_PORT=3306
readonly DB_USER=beds DB_PASS=beds DB_NAME=beds DB_TEST_NAME=beds_test
readonly SERVICE_WAIT_SECONDS=60
readonly MIN_PY_MAJOR=3 MIN_PY_MINOR=11
readonly VENV=.venv
readonly STAMP="$VENV/.beds-stamp"
readonly DEV_CONFIG=config/env_dev.toml
readonly DEV_CONFIG_EXAMPLE=config/env_dev.toml.example

QUIET="${BEDS_BOOTSTRAP_QUIET:-0}"
WITH_SERVICES=1

# ---------------------------------------------------------------- helpers

say() {
    # Progress/success output; silenced by BEDS_BOOTSTRAP_QUIET=1.
    if [[ "$QUIET" != 1 ]]; then
        echo "bootstrap: $*"
    fi
}

warn() {
    # Warnings always go to stderr: they need attention even in quiet mode.
    echo "bootstrap: WARNING: $*" >&2
}

die() {
    # Errors always print (stderr), whatever the quiet setting.
    echo "bootstrap: ERROR: $*" >&2
    exit 1
}

usage() {
    cat <<'USAGE'
Usage: cluster/bootstrap.sh [--no-services]
  --no-services          skip RabbitMQ/MariaDB setup (services live elsewhere)
  BEDS_BOOTSTRAP_QUIET=1 print nothing unless something fails
USAGE
}

as_root() {
    # Run a command with root privileges: directly when we are root, via sudo
    # otherwise. Only called when something really needs root (apt, starting
    # daemons), so unprivileged users are fine on an already set-up machine.
    if [[ "$EUID" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root for '$*' but not running as root and sudo is not installed; run this script as root or install sudo"
    fi
}

port_open() {
    # True if host:port accepts a TCP connection. Uses bash's /dev/tcp because
    # nc/ss may be missing on a minimal machine; timeout guards against a
    # connect that hangs instead of being refused.
    local host="$1" port="$2"
    # shellcheck disable=SC2016  # $1/$2 are expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null
}

wait_for_port() {
    # Poll host:port until it accepts connections or the deadline passes.
    local host="$1" port="$2" deadline=$((SECONDS + SERVICE_WAIT_SECONDS))
    while ((SECONDS < deadline)); do
        if port_open "$host" "$port"; then
            return 0
        fi
        sleep 0.5
    done
    return 1
}

new_log() {
    # Daemon starts and apt are noisy: send their output to a private log file
    # that we point to if something goes wrong.
    mktemp "${TMPDIR:-/tmp}/beds-bootstrap-$1.XXXXXX.log"
}

apt_install() {
    # Install Debian packages non-interactively. Only refresh the package
    # index when the first attempt fails: it is slow and usually unnecessary.
    command -v apt-get >/dev/null 2>&1 ||
        die "apt-get not found: install $* by hand (this script only knows Debian/Ubuntu)"
    local log
    log="$(new_log apt)"
    say "installing $* (apt, log: $log)"
    if as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >"$log" 2>&1; then
        return 0
    fi
    if as_root apt-get update >>"$log" 2>&1 &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >>"$log" 2>&1; then
        return 0
    fi
    tail -n 20 "$log" >&2
    die "apt-get install $* failed; see $log"
}

find_sbin() {
    # Print the path of an admin binary. /usr/sbin is often not on a normal
    # user's PATH, so look there explicitly as well.
    local name="$1" dir
    if command -v "$name" 2>/dev/null; then
        return 0
    fi
    for dir in /usr/sbin /sbin /usr/local/sbin; do
        if [[ -x "$dir/$name" ]]; then
            echo "$dir/$name"
            return 0
        fi
    done
    return 1
}

# ---------------------------------------------------------------- 1. RabbitMQ

ensure_rabbitmq() {
    local server log
    if port_open "$RABBIT_HOST" "$RABBIT_PORT"; then
        # Already running: never touch it (no restart, no config changes).
        say "rabbitmq ok ($RABBIT_HOST:$RABBIT_PORT)"
        return 0
    fi
    if ! server="$(find_sbin rabbitmq-server)"; then
        apt_install rabbitmq-server
        server="$(find_sbin rabbitmq-server)" || die "rabbitmq-server still not found after apt install"
        # The package's postinst may already have started it (systemd hosts).
        if port_open "$RABBIT_HOST" "$RABBIT_PORT"; then
            say "rabbitmq ok ($RABBIT_HOST:$RABBIT_PORT)"
            return 0
        fi
    fi
    log="$(new_log rabbitmq)"
    say "starting rabbitmq ($server -detached, log: $log)"
    # </dev/null and the log redirect keep the detached Erlang VM from holding
    # our stdout open (which would hang callers that capture our output).
    as_root "$server" -detached </dev/null >"$log" 2>&1 ||
        die "'$server -detached' failed; see $log and /var/log/rabbitmq/"
    if ! wait_for_port "$RABBIT_HOST" "$RABBIT_PORT"; then
        die "rabbitmq started but $RABBIT_HOST:$RABBIT_PORT did not accept connections within ${SERVICE_WAIT_SECONDS}s; look at $log and /var/log/rabbitmq/, then rerun this script"
    fi
    say "rabbitmq ok ($RABBIT_HOST:$RABBIT_PORT, started)"
}

# ---------------------------------------------------------------- 2. MariaDB

ensure_mariadb() {
    local server log
    # The mariadb client is needed in step 3 even when the server is running.
    if ! server="$(find_sbin mariadbd)" || ! command -v mariadb >/dev/null 2>&1; then
        apt_install mariadb-server mariadb-client
        server="$(find_sbin mariadbd)" || die "mariadbd still not found after apt install"
    fi
    if port_open "$DB_HOST" "$DB_PORT"; then
        # Already running: never touch it.
        say "mariadb ok ($DB_HOST:$DB_PORT)"
        return 0
    fi
    # /run is a tmpfs on most systems, so the socket/pid directory vanishes on
    # reboot when mariadb is not managed by systemd.
    as_root install -d -o mysql -g mysql -m 755 /run/mysqld
    log="$(new_log mariadb)"
    say "starting mariadb ($server, log: $log)"
    # --oknodo: succeed if a mariadbd is already running (e.g. still starting).
    # --user=mysql: mariadbd refuses to run as root; passed on the command line
    # so we don't depend on (or change) the server config.
    as_root start-stop-daemon --start --oknodo --background --exec "$server" -- --user=mysql \
        </dev/null >"$log" 2>&1 ||
        die "start-stop-daemon could not start $server; see $log"
    if ! wait_for_port "$DB_HOST" "$DB_PORT"; then
        die "mariadb started but $DB_HOST:$DB_PORT did not accept connections within ${SERVICE_WAIT_SECONDS}s; look at $log, /var/log/mysql/ and 'journalctl -u mariadb', then rerun this script"
    fi
    say "mariadb ok ($DB_HOST:$DB_PORT, started)"
}

# ---------------------------------------------------------------- 3. DB account

beds_can_connect() {
    # True if the beds account works over TCP and the unix socket, and can see
    # both databases. This is the fast path on every run after the first, and
    # it means we only need DB root access once.
    mariadb -h"$DB_HOST" -P"$DB_PORT" -u"$DB_USER" -p"$DB_PASS" \
        -e "USE \`$DB_TEST_NAME\`; SELECT 1" "$DB_NAME" >/dev/null 2>&1 &&
        mariadb -u"$DB_USER" -p"$DB_PASS" -e 'SELECT 1' "$DB_NAME" >/dev/null 2>&1
}

run_as_db_root() {
    # Feed SQL (stdin) to MariaDB as its root account. Try, in order:
    #  - the unix socket as the current OS user (Debian unix_socket auth when
    #    we are root, or an empty root password),
    #  - TCP with an empty root password,
    #  - the unix socket via sudo (fresh Debian as a non-root user; last
    #    because it may prompt for a password).
    local sql
    sql="$(cat)"
    if mariadb -uroot <<<"$sql" 2>/dev/null; then
        return 0
    fi
    if mariadb -h"$DB_HOST" -P"$DB_PORT" -uroot <<<"$sql" 2>/dev/null; then
        return 0
    fi
    if [[ "$EUID" -ne 0 ]] && command -v sudo >/dev/null 2>&1; then
        if sudo mariadb -uroot <<<"$sql"; then
            return 0
        fi
    fi
    return 1
}

ensure_db_account() {
    if beds_can_connect; then
        say "database ok ($DB_USER@$DB_HOST:$DB_PORT, $DB_NAME + $DB_TEST_NAME)"
        return 0
    fi
    # `beds%` is a LIKE pattern: covers beds, beds_test and any beds_* scratch
    # database the tests create. All statements are idempotent.
    run_as_db_root <<SQL || die "could not log in to MariaDB as root (tried 'mariadb -uroot' over the unix socket and '-h$DB_HOST -P$DB_PORT -uroot'); create the account by hand: CREATE USER '$DB_USER'@'$DB_HOST' IDENTIFIED BY '$DB_PASS'; GRANT ALL PRIVILEGES ON \`beds%\`.* TO '$DB_USER'@'$DB_HOST'; (same for @'localhost'), then rerun"
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL PRIVILEGES ON \`beds%\`.* TO '$DB_USER'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`beds%\`.* TO '$DB_USER'@'localhost';
CREATE DATABASE IF NOT EXISTS \`$DB_NAME\`;
CREATE DATABASE IF NOT EXISTS \`$DB_TEST_NAME\`;
SQL
    local err
    if ! err="$(mariadb -h"$DB_HOST" -P"$DB_PORT" -u"$DB_USER" -p"$DB_PASS" -e 'SELECT 1' "$DB_NAME" 2>&1 >/dev/null)"; then
        die "account created but '$DB_USER' cannot connect to $DB_HOST:$DB_PORT/$DB_NAME: $err (if 'Access denied': an older '$DB_USER' account with another password? check with: mariadb -uroot -e \"SHOW GRANTS FOR '$DB_USER'@'$DB_HOST'\")"
    fi
    say "database ok ($DB_USER@$DB_HOST:$DB_PORT, $DB_NAME + $DB_TEST_NAME, provisioned)"
}

# ---------------------------------------------------------------- 4. Python env

py_ok() {
    # True if $1 runs, is new enough and can build a venv with pip.
    # Actually running it matters: pyenv installs shims (e.g. python3.12)
    # that exist on PATH but fail when that version is not selected.
    "$1" -c "import sys, venv, ensurepip
sys.exit(0 if sys.version_info >= ($MIN_PY_MAJOR, $MIN_PY_MINOR) else 1)" >/dev/null 2>&1
}

find_python() {
    # Print the first suitable interpreter, in order of preference.
    local py
    for py in python3 python3.13 python3.12 python3.11; do
        if command -v "$py" >/dev/null 2>&1 && py_ok "$py"; then
            command -v "$py"
            return 0
        fi
    done
    return 1
}

pick_python() {
    local py found
    if py="$(find_python)"; then
        echo "$py"
        return 0
    fi
    # On Debian python3-venv carries ensurepip; python3 may also be missing
    # or old. apt output goes to stderr so stdout stays the interpreter path.
    apt_install python3 python3-venv >&2
    if py="$(find_python)"; then
        echo "$py"
        return 0
    fi
    found="$(python3 --version 2>&1 || echo 'no python3')"
    die "need Python >= $MIN_PY_MAJOR.$MIN_PY_MINOR with the venv module (found: $found); install python3.$MIN_PY_MINOR (or newer) and its -venv package, then rerun"
}

create_venv() {
    local py
    py="$(pick_python)"
    say "creating $VENV with $py ($("$py" --version 2>&1))"
    if ! "$py" -m venv "$VENV"; then
        # Don't leave a half-built venv behind: the next run would trust it.
        rm -rf "$VENV"
        die "'$py -m venv $VENV' failed (on Debian/Ubuntu: apt-get install python3-venv)"
    fi
    "$VENV/bin/python" -m pip install -q --upgrade pip ||
        warn "could not upgrade pip in $VENV (offline?); continuing with the bundled one"
}

ensure_python_env() {
    local want have=""
    [[ -f pyproject.toml ]] || die "no pyproject.toml in $PWD; nothing to install"
    if [[ ! -e "$VENV" ]]; then
        create_venv
    elif ! "$VENV/bin/python" -c "import sys
sys.exit(0 if sys.version_info >= ($MIN_PY_MAJOR, $MIN_PY_MINOR) else 1)" >/dev/null 2>&1; then
        # Probably built with an interpreter that has since been removed or is
        # too old. Deleting it automatically could throw away someone's work,
        # so ask.
        die "$PWD/$VENV is broken or uses Python < $MIN_PY_MAJOR.$MIN_PY_MINOR; remove it (rm -rf $VENV) and rerun"
    fi

    # Reinstall only when pyproject.toml changed since the last good install:
    # pip resolving dependencies takes seconds even when nothing changes.
    want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [[ -f "$STAMP" ]]; then
        have="$(<"$STAMP")"
    fi
    if [[ "$want" == "$have" ]]; then
        say "python ok ($VENV, $("$VENV/bin/python" --version 2>&1), up to date)"
        return 0
    fi
    say "installing project into $VENV (pip install -e '.[dev]')"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install -q -e '.[dev]' ||
        die "pip install -e '.[dev]' failed (see the pip output above); fix it and rerun"
    # Written only after success, so a failed install is retried next time.
    echo "$want" >"$STAMP"
    say "python ok ($VENV, $("$VENV/bin/python" --version 2>&1), installed)"
}

# ---------------------------------------------------------------- 5. config

ensure_dev_config() {
    if [[ -f "$DEV_CONFIG" ]]; then
        # A file made before the logger store existed lacks its password: add it, keep the rest.
        if ! grep -q '^\[stores\.logs\.master\]' "$DEV_CONFIG"; then
            printf '\n[stores.logs.master]\npassword = "%s"\n' "$DB_PASS" >>"$DEV_CONFIG"
            say "config updated ($DEV_CONFIG: added [stores.logs.master], the logger store)"
        fi
        say "config ok ($DEV_CONFIG)"
        return 0
    fi
    if [[ ! -f "$DEV_CONFIG_EXAMPLE" ]]; then
        warn "$DEV_CONFIG_EXAMPLE not found; cannot create $DEV_CONFIG"
        return 0
    fi
    cp "$DEV_CONFIG_EXAMPLE" "$DEV_CONFIG"
    say "config created ($DEV_CONFIG from $DEV_CONFIG_EXAMPLE; edit it for local settings)"
}

# ---------------------------------------------------------------- main

parse_args() {
    while (($#)); do
        case "$1" in
            --no-services) WITH_SERVICES=0 ;;
            -h | --help)
                usage
                exit 0
                ;;
            *)
                usage >&2
                die "unknown argument: $1"
                ;;
        esac
        shift
    done
}

main() {
    parse_args "$@"
    # All relative paths (.venv, config/, pyproject.toml) are from the repo root.
    cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."
    if ((WITH_SERVICES)); then
        ensure_rabbitmq
        ensure_mariadb
        ensure_db_account
    else
        say "services skipped (--no-services)"
    fi
    ensure_python_env
    ensure_dev_config
}

main "$@"
