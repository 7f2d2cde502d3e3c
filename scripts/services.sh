#!/usr/bin/env bash
# Make PostgreSQL and Redis reachable on loopback for running and testing
# oncallbot on a Debian machine:
#
#   PostgreSQL on 127.0.0.1:5432, role "postgres", database "oncallbot"
#   Redis      on 127.0.0.1:6379
#
# A quick no-op when both already answer. Otherwise it installs what is
# missing (apt-get), starts the servers and waits until they answer.
# Trust authentication on 127.0.0.1 is configured only for a PostgreSQL this
# script installed itself: an existing server's authentication is never
# changed. Safe to run any number of times.
#
# PG_PORT and REDIS_PORT override the ports.
set -euo pipefail

PG_HOST=127.0.0.1
PG_PORT=${PG_PORT:-5432}
REDIS_HOST=127.0.0.1
REDIS_PORT=${REDIS_PORT:-6379}
APP_DB=oncallbot
WAIT_SECONDS=30

say() { printf 'services: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

# as_root runs a command as root, through sudo when we are not root.
as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root to run '$*' and sudo is not installed"
	fi
}

tcp_open() { timeout 1 bash -c ">/dev/tcp/$1/$2" 2>/dev/null; }

pg_up() {
	if command -v pg_isready >/dev/null 2>&1; then
		pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 1
	else
		tcp_open "$PG_HOST" "$PG_PORT"
	fi
}

redis_up() {
	if command -v redis-cli >/dev/null 2>&1; then
		[[ $(timeout 2 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
	else
		# Speak just enough RESP to get +PONG back.
		timeout 2 bash -c "exec 3<>/dev/tcp/$REDIS_HOST/$REDIS_PORT && printf 'PING\r\n' >&3 && head -c 5 <&3" 2>/dev/null | grep -q '+PONG'
	fi
}

apt_updated=0
apt_install() {
	command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* yourself (this script targets Debian)"
	if [[ $apt_updated -eq 0 ]]; then
		say "apt-get update"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
		apt_updated=1
	fi
	say "installing $*"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# wait_for polls a check function for up to WAIT_SECONDS.
wait_for() {
	local what=$1 check=$2 deadline=$((SECONDS + WAIT_SECONDS))
	until "$check"; do
		if ((SECONDS >= deadline)); then
			die "$what did not answer within ${WAIT_SECONDS}s"
		fi
		sleep 0.5
	done
	say "$what is up"
}

# latest_pg_version prints the highest installed PostgreSQL major version.
latest_pg_version() {
	local versions=()
	if [[ -d /usr/lib/postgresql ]]; then
		mapfile -t versions < <(ls /usr/lib/postgresql | sort -n)
	fi
	((${#versions[@]} > 0)) && printf '%s\n' "${versions[-1]}"
}

trust_loopback() {
	local version=$1 hba
	hba=/etc/postgresql/$version/main/pg_hba.conf
	[[ -f $hba ]] || die "$hba not found"
	if as_root grep -q '^# oncallbot services.sh' "$hba"; then
		return
	fi
	say "allowing role postgres over 127.0.0.1 without a password (local development only)"
	local tmp
	tmp=$(mktemp)
	{
		printf '# oncallbot services.sh: local development server, trust loopback TCP\n'
		printf 'host all all 127.0.0.1/32 trust\n'
		printf 'host all all ::1/128 trust\n'
		as_root cat "$hba"
	} >"$tmp"
	as_root install -m 0640 -o postgres -g postgres "$tmp" "$hba"
	rm -f "$tmp"
}

start_postgres() {
	local installed_here=0 version
	if [[ -z $(latest_pg_version) ]]; then
		apt_install postgresql postgresql-client
		installed_here=1
	fi
	version=$(latest_pg_version) || die "PostgreSQL is not installed under /usr/lib/postgresql"
	if [[ ! -d /etc/postgresql/$version/main ]]; then
		say "creating PostgreSQL $version cluster main"
		as_root pg_createcluster "$version" main --port "$PG_PORT" >/dev/null
		installed_here=1
	fi
	if ((installed_here)); then
		trust_loopback "$version"
	fi
	if as_root pg_ctlcluster "$version" main status >/dev/null 2>&1; then
		if ((installed_here)); then
			as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
		fi
	else
		say "starting PostgreSQL $version cluster main"
		as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
	fi
}

start_redis() {
	if ! command -v redis-server >/dev/null 2>&1; then
		apt_install redis-server redis-tools
	fi
	say "starting Redis on $REDIS_HOST:$REDIS_PORT"
	# No persistence: Redis only accelerates de-duplication here.
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
		--save "" --appendonly no --logfile "" >/dev/null
}

ensure_app_db() {
	command -v psql >/dev/null 2>&1 || return 0
	local psql=(psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA)
	local exists
	if ! exists=$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$APP_DB'" 2>/dev/null); then
		say "warning: cannot connect as role postgres on $PG_HOST:$PG_PORT; the bot creates database $APP_DB itself when its role may"
		return 0
	fi
	if [[ $exists != 1 ]]; then
		say "creating database $APP_DB"
		"${psql[@]}" -c "CREATE DATABASE $APP_DB" >/dev/null
	fi
}

main() {
	local pg_ok=0 redis_ok=0
	pg_up && pg_ok=1
	redis_up && redis_ok=1

	if ((!pg_ok)); then
		start_postgres
		wait_for "PostgreSQL on $PG_HOST:$PG_PORT" pg_up
	fi
	if ((!redis_ok)); then
		start_redis
		wait_for "Redis on $REDIS_HOST:$REDIS_PORT" redis_up
	fi
	ensure_app_db
	if ((pg_ok && redis_ok)); then
		say "PostgreSQL ($PG_HOST:$PG_PORT) and Redis ($REDIS_HOST:$REDIS_PORT) already answer"
	fi
}

main "$@"
