#!/usr/bin/env bash
# The local production stack (docs/operations.md, "The local production stack"):
#   nginx on 127.0.0.1:STACK_PORT → two gunicorn app servers (STACK_APP_PORTS) → PgBouncer in transaction mode
#   (PGBOUNCER_PORT) → the machine's PostgreSQL (STACK_PG), database STACK_DB.
# `deploy/stack.sh start` sets it up (once: the database, its two roles; every time: the release step) and starts
# it in the background, returning when nginx answers /readyz; `deploy/stack.sh stop` stops it. Loopback only;
# everything it writes is under STACK_DIR (default var/stack, git-ignored). Keys come from the environment or
# .env (make writes development keys), the same for both app servers, so a session works on either.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PY:-.venv/bin/python}"
STACK_PORT="${STACK_PORT:-8080}"
STACK_APP_PORTS="${STACK_APP_PORTS:-8101,8102}"
PGBOUNCER_PORT="${PGBOUNCER_PORT:-6432}"
STACK_PG="${STACK_PG:-postgres://postgres@127.0.0.1:5432}"   # a superuser of the PostgreSQL server, for set-up
STACK_DB="${STACK_DB:-iop_stack}"
STACK_DIR="${STACK_DIR:-var/stack}"
STACK_WORKERS="${STACK_WORKERS:-2}"        # gunicorn workers per app server
STACK_THREADS="${STACK_THREADS:-4}"        # threads per worker
STACK_POOL_SIZE="${STACK_POOL_SIZE:-20}"   # PgBouncer server connections per database and user
STACK_MFA_REQUIRED="${STACK_MFA_REQUIRED:-true}"
OWNER="${STACK_DB}_owner"
APP="${STACK_DB}_app"
IFS=, read -r -a APP_PORTS <<<"$STACK_APP_PORTS"

pg_host_port() {  # host and port of STACK_PG, for PgBouncer's [databases] line
  "$PY" -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or 5432)' "$STACK_PG"
}

owner_url() {  # STACK_PG's server, as the owner role, database STACK_DB
  "$PY" -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(f"{p.scheme}://{sys.argv[2]}@{p.hostname}:{p.port or 5432}/{sys.argv[3]}")' "$STACK_PG" "$OWNER" "$STACK_DB"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # wait_for URL SECONDS
  for _ in $(seq "$(($2 * 5))"); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "stack: $1 did not answer within $2 s; logs in $STACK_DIR" >&2
  return 1
}

stop_pidfile() {  # stop_pidfile FILE: TERM the process, wait up to 10 s, then KILL
  local file=$1 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

setup_database() {
  # Once: the owner role and its database, the application role (db_roles grants it, below). Trust
  # authentication on loopback, as this machine's PostgreSQL has; a real deployment gives both passwords.
  local psql=(psql "$STACK_PG/postgres" -qtA -v ON_ERROR_STOP=1)
  if [ -z "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = '$OWNER'")" ]; then
    "${psql[@]}" -c "CREATE ROLE \"$OWNER\" LOGIN CREATEROLE"
  fi
  if [ -z "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$STACK_DB'")" ]; then
    "${psql[@]}" -c "CREATE DATABASE \"$STACK_DB\" OWNER \"$OWNER\""
    # Sessions through PgBouncer must not depend on a SET: the database's own time zone is UTC.
    "${psql[@]}" -c "ALTER DATABASE \"$STACK_DB\" SET timezone TO 'UTC'"
  fi
}

write_configs() {
  local host port run_as="" tmp
  read -r host port < <(pg_host_port)
  mkdir -p "$STACK_DIR"/{nginx,pgbouncer,app}
  for tmp in client_body proxy fastcgi uwsgi scgi; do mkdir -p "$STACK_DIR/nginx/$tmp"; done
  if [ "$(id -u)" = 0 ]; then
    # PgBouncer refuses to run as root and nginx's workers should not: both run as nobody.
    run_as=nobody
    chown -R nobody "$STACK_DIR/pgbouncer" "$STACK_DIR/nginx"
  fi
  cat >"$STACK_DIR/pgbouncer/pgbouncer.ini" <<EOF
; Written by deploy/stack.sh. Transaction pooling: a server connection belongs to a client only for one
; transaction, so the app uses no session state (no server-side cursors, no session advisory locks, no
; prepared statements, no SET outside a transaction).
[databases]
$STACK_DB = host=$host port=$port dbname=$STACK_DB
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $PWD/$STACK_DIR/pgbouncer/userlist.txt
pool_mode = transaction
default_pool_size = $STACK_POOL_SIZE
max_client_conn = 400
server_lifetime = 3600
server_idle_timeout = 60
logfile = $PWD/$STACK_DIR/pgbouncer/pgbouncer.log
pidfile = $PWD/$STACK_DIR/pgbouncer/pgbouncer.pid
log_connections = 0
log_disconnections = 0
EOF
  printf '"%s" ""\n' "$APP" >"$STACK_DIR/pgbouncer/userlist.txt"
  local servers="" p
  for p in "${APP_PORTS[@]}"; do servers+="    server 127.0.0.1:$p max_fails=1 fail_timeout=5s;"$'\n'; done
  cat >"$STACK_DIR/nginx/nginx.conf" <<EOF
# Written by deploy/stack.sh: plain HTTP on loopback. docs/operations.md shows the TLS server block for real use.
${run_as:+user $run_as nogroup;}
worker_processes auto;
pid $PWD/$STACK_DIR/nginx/nginx.pid;
error_log $PWD/$STACK_DIR/nginx/error.log warn;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    server_tokens off;
    client_body_temp_path $PWD/$STACK_DIR/nginx/client_body;
    proxy_temp_path $PWD/$STACK_DIR/nginx/proxy;
    fastcgi_temp_path $PWD/$STACK_DIR/nginx/fastcgi;
    uwsgi_temp_path $PWD/$STACK_DIR/nginx/uwsgi;
    scgi_temp_path $PWD/$STACK_DIR/nginx/scgi;
    # The access log holds no query string (a search or a filter could name a person): \$uri only.
    log_format main '\$time_iso8601 \$request_id \$status \$request_method \$uri \$request_time \$upstream_addr';
    access_log $PWD/$STACK_DIR/nginx/access.log main;
    upstream app {
$servers        keepalive 16;
        # nginx reuses an idle connection to an app server for up to 60 s; gunicorn keeps one open for 75 s
        # (--keep-alive), so nginx never sends a request on a connection the server is closing (a 502).
        keepalive_timeout 60s;
    }
    server {
        listen 127.0.0.1:$STACK_PORT;
        server_name _;
        client_max_body_size 2m;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            # The app trusts one proxy (TRUSTED_PROXY_COUNT=1): the last address is the one nginx saw.
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            # nginx makes every request's id; a client's own X-Request-ID is replaced, never trusted.
            proxy_set_header X-Request-ID \$request_id;
            # A server that refuses the connection or fails before answering is skipped (POSTs only when nothing
            # was sent, so no write is made twice).
            proxy_next_upstream error timeout http_502 http_503;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
            # Large exports stream: nginx relays them through its memory buffers, never a temporary file.
            proxy_max_temp_file_size 0;
        }
    }
}
EOF
}

start_app() {  # start_app PORT
  local port=$1 log="$STACK_DIR/app/app-$1.log"
  # Each app server: gthread workers, DEBUG off, hashed static files by WhiteNoise, the app's own database role
  # through PgBouncer, one trusted proxy (nginx).
  env DEBUG=false STATIC_MANIFEST=true TRUSTED_PROXY_COUNT=1 DISABLE_SERVER_SIDE_CURSORS=true \
    MFA_REQUIRED="$STACK_MFA_REQUIRED" DATABASE_URL="postgres://$APP@127.0.0.1:$PGBOUNCER_PORT/$STACK_DB" \
    setsid nohup .venv/bin/gunicorn iop_screening.wsgi --worker-class gthread --workers "$STACK_WORKERS" \
    --threads "$STACK_THREADS" --bind "127.0.0.1:$port" --pid "$STACK_DIR/app/app-$port.pid" \
    --graceful-timeout 20 --keep-alive 75 --control-socket "$PWD/$STACK_DIR/app/app-$port.ctl" \
    --error-logfile - >>"$log" 2>&1 </dev/null &
}

start() {
  local p
  if [ -f "$STACK_DIR/nginx/nginx.pid" ] && kill -0 "$(cat "$STACK_DIR/nginx/nginx.pid")" 2>/dev/null; then
    echo "stack: already running on http://127.0.0.1:$STACK_PORT (deploy/stack.sh stop first)" >&2
    exit 1
  fi
  for p in "$STACK_PORT" "${APP_PORTS[@]}" "$PGBOUNCER_PORT"; do
    port_free "$p" || { echo "stack: port $p is in use (set STACK_PORT, STACK_APP_PORTS or PGBOUNCER_PORT)" >&2; exit 1; }
  done
  setup_database
  echo "== release: migrate as $OWNER straight to PostgreSQL, grant $APP, collect static files"
  local owner
  owner=$(owner_url)
  DATABASE_URL="$owner" STATIC_MANIFEST=true "$PY" manage.py release -v0
  DATABASE_URL="$owner" "$PY" manage.py db_roles --app-role "$APP" --create
  write_configs
  echo "== PgBouncer (transaction mode) on 127.0.0.1:$PGBOUNCER_PORT"
  if [ "$(id -u)" = 0 ]; then
    pgbouncer -q -d -u nobody "$STACK_DIR/pgbouncer/pgbouncer.ini"
  else
    pgbouncer -q -d "$STACK_DIR/pgbouncer/pgbouncer.ini"
  fi
  for p in "${APP_PORTS[@]}"; do
    echo "== gunicorn on 127.0.0.1:$p"
    start_app "$p"
  done
  for p in "${APP_PORTS[@]}"; do wait_for "http://127.0.0.1:$p/readyz" 60; done
  echo "== nginx on http://127.0.0.1:$STACK_PORT"
  nginx -q -p "$PWD/$STACK_DIR/nginx" -c "$PWD/$STACK_DIR/nginx/nginx.conf" -e "$PWD/$STACK_DIR/nginx/error.log"
  wait_for "http://127.0.0.1:$STACK_PORT/readyz" 20
  echo "stack: up on http://127.0.0.1:$STACK_PORT (logs in $STACK_DIR; deploy/stack.sh stop)"
}

stop() {
  local p
  stop_pidfile "$STACK_DIR/nginx/nginx.pid"
  for p in "${APP_PORTS[@]}"; do stop_pidfile "$STACK_DIR/app/app-$p.pid"; done
  stop_pidfile "$STACK_DIR/pgbouncer/pgbouncer.pid"
  echo "stack: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: deploy/stack.sh start|stop" >&2; exit 2 ;;
esac
