#!/usr/bin/env bash
# Backup drill (DESIGN.md §12, docs/operations.md "Backups"): `make backup-drill`.
#
#   1. a fresh database, migrated, with synthetic screenings, an export and a verification (audit events), and a
#      signed checkpoint appended to an anchor file kept outside the database;
#   2. an encrypted dump (pg_dump -Fc | gpg --symmetric AES256): the OLD backup;
#   3. more events and a second checkpoint appended to the same file; the NEW backup;
#   4. the NEW backup restored into a new database: verify_audit --anchor FILE must pass;
#   5. the OLD backup restored into another: verify_audit --anchor FILE must fail, naming the second checkpoint
#      (the events after the OLD backup are not in the restored chain);
#   6. the drill's databases dropped, a summary printed; exit 1 when any expectation failed.
#
# DRILL_PG: the PostgreSQL server (a URL without a database name; the role must be allowed to create databases).
# DRILL_DB: prefix of the drill's three databases (<prefix>_src, _new, _old), dropped at the end.
# DRILL_DIR: where the anchor file, the passphrase and the encrypted dumps go (git-ignored var/; kept after the
# drill for a look, made afresh by the next one). Decrypted dumps never touch the disk: they go through pipes.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PY:-.venv/bin/python}"
DRILL_PG="${DRILL_PG:-postgres://postgres@127.0.0.1:5432}"
DRILL_PG="${DRILL_PG%/}"
DRILL_DB="${DRILL_DB:-iop_drill}"
DRILL_DIR="${DRILL_DIR:-var/backup-drill}"

if [[ ! "$DRILL_DB" =~ ^[a-z_][a-z0-9_]{0,50}$ ]]; then
  echo "DRILL_DB=$DRILL_DB: use lower-case letters, digits and _" >&2
  exit 2
fi
for tool in pg_dump pg_restore psql gpg gpgconf; do
  command -v "$tool" >/dev/null || { echo "The drill needs $tool (Debian: postgresql-client, gnupg)" >&2; exit 2; }
done

SRC="${DRILL_DB}_src"
NEW="${DRILL_DB}_new"
OLD="${DRILL_DB}_old"
ANCHORS="$DRILL_DIR/anchors.jsonl"
PASSPHRASE="$DRILL_DIR/passphrase"
OLD_DUMP="$DRILL_DIR/old.dump.gpg"
NEW_DUMP="$DRILL_DIR/new.dump.gpg"
# A keyring of the drill's own, so the drill never touches the user's (symmetric encryption needs no key).
export GNUPGHOME="$DRILL_DIR/gnupg"
export PGOPTIONS="--client-min-messages=warning"
GPG=(gpg --batch --quiet --yes --no-symkey-cache --pinentry-mode loopback --passphrase-file "$PASSPHRASE")

admin() { psql "$DRILL_PG/postgres" -q -v ON_ERROR_STOP=1 "$@"; }
manage() { local db=$1; shift; DATABASE_URL="$DRILL_PG/$db" "$PY" manage.py "$@"; }
count() { psql "$DRILL_PG/$1" -tAc "SELECT count(*) FROM $2"; }
fresh_db() { admin -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" -c "CREATE DATABASE \"$1\""; }
step() { echo "== $*"; }

cleanup() {
  for db in "$SRC" "$NEW" "$OLD"; do
    admin -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" || true
  done
  # gpg starts an agent for the drill's keyring; end it with the drill.
  gpgconf --kill gpg-agent 2>/dev/null || true
}
trap cleanup EXIT

failures=0
summary=()
expect() { # expect <true|false> <what>
  if [ "$1" = true ]; then summary+=("  ok    $2"); else summary+=("  FAIL  $2"); failures=$((failures + 1)); fi
}

backup() { # backup <database> <file>: an encrypted custom-format dump
  pg_dump -Fc "$DRILL_PG/$1" | "${GPG[@]}" --symmetric --cipher-algo AES256 --output "$2"
}

restore() { # restore <file> <database>: decrypt and restore into a new database, in one transaction
  fresh_db "$2"
  "${GPG[@]}" --decrypt "$1" | pg_restore --exit-on-error --single-transaction --dbname "$DRILL_PG/$2"
}

checkpoint_field() { # checkpoint_field <line number> <field>: a field of a checkpoint in the anchor file
  "$PY" -c 'import json, sys; print(json.loads(open(sys.argv[1]).read().splitlines()[int(sys.argv[2]) - 1])[sys.argv[3]])' \
    "$ANCHORS" "$1" "$2"
}

rm -rf "$DRILL_DIR"
mkdir -p -m 700 "$DRILL_DIR" "$GNUPGHOME"
# A random passphrase for this drill only. In production it lives in the secrets manager, never beside the dumps.
(umask 077 && head -c 48 /dev/urandom | base64 -w0 >"$PASSPHRASE")

step "1. $SRC: migrate, 300 screenings, an export, a verification; checkpoint 1 appended to $ANCHORS"
fresh_db "$SRC"
manage "$SRC" migrate --noinput -v0
manage "$SRC" generate_screenings 300 --seed 7
manage "$SRC" export_records --format csv --output /dev/null
manage "$SRC" verify_audit
manage "$SRC" audit_anchor --append "$ANCHORS"
old_events=$(count "$SRC" screening_auditevent)

step "2. the OLD backup: pg_dump -Fc | gpg --symmetric --cipher-algo AES256 > $OLD_DUMP"
backup "$SRC" "$OLD_DUMP"

step "3. more events (100 screenings, an export), checkpoint 2 appended; the NEW backup > $NEW_DUMP"
manage "$SRC" generate_screenings 100 --seed 8
manage "$SRC" export_records --format jsonl --output /dev/null
manage "$SRC" audit_anchor --append "$ANCHORS"
new_events=$(count "$SRC" screening_auditevent)
backup "$SRC" "$NEW_DUMP"
second="checkpoint 2 ($(checkpoint_field 2 length) events up to #$(checkpoint_field 2 event))"

for dump in "$OLD_DUMP" "$NEW_DUMP"; do
  # A custom-format dump starts with PGDMP; an encrypted one must not, nor show a table's name anywhere.
  if [ "$(head -c 5 "$dump")" != PGDMP ] && ! grep -q screening_auditevent "$dump"; then sealed=true; else sealed=false; fi
  expect "$sealed" "$(basename "$dump") is encrypted (no dump header, no table name in the clear)"
done

step "4. restore the NEW backup into $NEW; verify_audit --anchor $ANCHORS must pass"
restore "$NEW_DUMP" "$NEW"
set +e
new_output=$(manage "$NEW" verify_audit --no-record --anchor "$ANCHORS" 2>&1)
new_status=$?
set -e
echo "$new_output"
expect "$([ "$new_status" = 0 ] && echo true || echo false)" \
  "NEW backup restored ($(count "$NEW" screening_auditevent) events): verify_audit --anchor must pass, exit $new_status"

step "5. restore the OLD backup into $OLD; verify_audit --anchor $ANCHORS must fail naming $second"
restore "$OLD_DUMP" "$OLD"
set +e
old_output=$(manage "$OLD" verify_audit --no-record --anchor "$ANCHORS" 2>&1)
old_status=$?
set -e
echo "$old_output"
expect "$([ "$old_status" = 1 ] && echo true || echo false)" \
  "OLD backup restored ($(count "$OLD" screening_auditevent) events): verify_audit --anchor must fail, exit $old_status"
named=false
if grep -qE "#$(checkpoint_field 2 event)([^0-9]|$)" <<<"$old_output"; then named=true; fi
expect "$named" "its message names the missing $second"

step "6. drop $SRC, $NEW and $OLD"
cleanup
trap - EXIT

echo
echo "Backup drill: $old_events audit events in the OLD backup, $new_events in the NEW; anchor file, encrypted dumps"
echo "and their passphrase in $DRILL_DIR (git-ignored)."
printf '%s\n' "${summary[@]}"
if [ "$failures" -gt 0 ]; then
  echo "Backup drill FAILED: $failures expectation(s) not met." >&2
  exit 1
fi
echo "Backup drill passed."
