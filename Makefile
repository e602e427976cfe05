# IOP Screening — every target sets up what it needs on a fresh machine that has python3.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
CHROMIUM ?= /usr/bin/chromium
# Git-ignored development settings that settings.py reads; see "Configuration" in the README.
ENVFILE := .env
# make test E2E=0 leaves the browser tests out (CI runs them once, on PostgreSQL); PYTEST_ARGS go to pytest.
E2E ?= 1
PYTEST_ARGS ?=
SCREENSHOTS_OUT := var/screenshots
# make bench-data: database:screenings pairs on the PostgreSQL server at BENCH_PG (see bench/README.md).
BENCH_PG ?= postgres://postgres@127.0.0.1:5432
BENCH_DATA ?= iop_bench_100k:100000 iop_bench:1000000
# make backup-drill: the PostgreSQL server at DRILL_PG; its databases DRILL_DB_src, _new, _old are made and dropped.
DRILL_PG ?= postgres://postgres@127.0.0.1:5432
DRILL_DB ?= iop_drill

.DEFAULT_GOAL := help
.PHONY: help run test lint fmt check screenshots bench bench-data backup-drill demo-data chromium clean lock \
	release serve stack stack-stop stack-smoke stack-packages load pdf-libs

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# requirements.txt and requirements-dev.txt are lock files (every package pinned, with hashes), compiled by
# `make lock` from requirements.in and requirements-dev.in; pip checks every download against its hash.
$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.txt
	touch $@

LOCK_VENV := var/lock-venv
PIP_COMPILE := $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-find-links --no-emit-index-url
lock: ## compile the lock files requirements.txt and requirements-dev.txt (with hashes) from the .in files
	test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install --quiet pip-tools==7.6.2; }
	$(PIP_COMPILE) --output-file requirements.txt requirements.in
	$(PIP_COMPILE) --output-file requirements-dev.txt requirements-dev.in

# Random development keys for the secrets settings.py will not start without (its REQUIRED_SECRETS),
# added for each name .env lacks: an existing .env keeps every line it has, and a secret added to
# settings.py later gets a development key at the next make.
define WRITE_DEV_KEYS
import ast, base64, os, pathlib, secrets
tree = ast.parse(pathlib.Path("iop_screening/settings.py").read_text())
names = next(
    ast.literal_eval(node.value) for node in tree.body
    if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["REQUIRED_SECRETS"]
)
path = pathlib.Path("$(ENVFILE)")
text = path.read_text() if path.exists() else "# Random development keys written by make; never use them in production.\n"
have = {line.split("=", 1)[0].strip() for line in text.splitlines() if "=" in line and not line.lstrip().startswith("#")}
# The audit signing key is an Ed25519 private key: the base64 of 32 random bytes; the others are long tokens.
make = {"AUDIT_SIGNING_KEY": lambda: base64.b64encode(secrets.token_bytes(32)).decode()}
added = [f"{name}={make.get(name, lambda: secrets.token_urlsafe(50))()}\n" for name in names if name not in have]
if added:
    path.write_text(text + ("" if text.endswith("\n") else "\n") + "".join(added))
    print(f"$(ENVFILE): development keys for {', '.join(a.split('=')[0] for a in added)}")
os.utime(path)
endef
export WRITE_DEV_KEYS

$(ENVFILE): iop_screening/settings.py
	@umask 077 && $(PYTHON) -c "$$WRITE_DEV_KEYS"

run: $(VENV)/.runtime $(ENVFILE) pdf-libs ## set up SQLite with roles and demo data, and serve on http://127.0.0.1:$(PORT)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py load_demo
	@echo "Demo: the second factor is off (MFA_REQUIRED=false); the sign-in page says so. Emails print here."
	MFA_REQUIRED=false $(PY) manage.py runserver 127.0.0.1:$(PORT)

# Production on one machine (docs/operations.md). The keys come from the environment (or a .env you wrote):
# nothing here makes development keys or demo data.
RELEASE_DATABASE_URL ?= $(DATABASE_URL)
BIND ?= 127.0.0.1
WORKERS ?= 2
THREADS ?= 4
release: $(VENV)/.runtime ## migrate once (straight to PostgreSQL as the owner: RELEASE_DATABASE_URL), then collect static files
	DATABASE_URL="$(RELEASE_DATABASE_URL)" STATIC_MANIFEST=true $(PY) manage.py release

serve: $(VENV)/.runtime pdf-libs ## production mode: gunicorn (gthread) on PORT, DEBUG off, hashed static files by WhiteNoise; run make release first
	DEBUG=false STATIC_MANIFEST=true $(VENV)/bin/gunicorn iop_screening.wsgi --worker-class gthread \
	  --workers $(WORKERS) --threads $(THREADS) --bind $(BIND):$(PORT) --keep-alive 75 --error-logfile -

# The local production stack (docs/operations.md): nginx → two gunicorn app servers → PgBouncer → PostgreSQL.
STACK_PORT ?= 8080
STACK_APP_PORTS ?= 8101,8102
PGBOUNCER_PORT ?= 6432
STACK_PG ?= postgres://postgres@127.0.0.1:5432
STACK_DB ?= iop_stack
STACK_ENV = STACK_PORT=$(STACK_PORT) STACK_APP_PORTS=$(STACK_APP_PORTS) PGBOUNCER_PORT=$(PGBOUNCER_PORT) \
	STACK_PG=$(STACK_PG) STACK_DB=$(STACK_DB) PY=$(PY)
stack-packages: ## make sure Debian's nginx and pgbouncer are there (installed as root)
	@command -v nginx >/dev/null && command -v pgbouncer >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's nginx and pgbouncer for the stack"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx pgbouncer >/dev/null; \
	  else echo "The stack needs nginx and pgbouncer: sudo apt-get install nginx pgbouncer" >&2; exit 1; fi; }

stack: $(VENV)/.runtime $(ENVFILE) stack-packages pdf-libs ## start nginx on 127.0.0.1:STACK_PORT → two gunicorn servers → PgBouncer → PostgreSQL, in the background
	$(STACK_ENV) deploy/stack.sh start

stack-stop: ## stop the stack
	$(STACK_ENV) deploy/stack.sh stop

stack-smoke: $(VENV)/.dev $(ENVFILE) stack-packages pdf-libs ## start the stack, drive a clinician's journey and an auditor's export through nginx, verify the audit trail, stop it
	$(STACK_ENV) deploy/stack.sh start
	$(STACK_ENV) $(PY) deploy/stack_smoke.py; status=$$?; $(STACK_ENV) deploy/stack.sh stop; exit $$status

LOAD_ENV = STACK_DB=iop_load STACK_MFA_REQUIRED=false STACK_PORT=$(STACK_PORT) STACK_APP_PORTS=$(STACK_APP_PORTS) \
	PGBOUNCER_PORT=$(PGBOUNCER_PORT) STACK_PG=$(STACK_PG) PY=$(PY)
load: $(VENV)/.dev $(ENVFILE) stack-packages ## load and fault runs through the stack (Locust; bench/README.md), on a fresh database iop_load
	psql "$(STACK_PG)/postgres" -q -c "DROP DATABASE IF EXISTS iop_load WITH (FORCE)"
	$(LOAD_ENV) deploy/stack.sh start
	$(LOAD_ENV) $(PY) bench/load/run.py; status=$$?; $(LOAD_ENV) deploy/stack.sh stop; exit $$status

chromium: ## make sure the machine's Chromium is there for the browser tests
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "The browser tests need Chromium at $(CHROMIUM): sudo apt-get install chromium" >&2; exit 1; fi; }

# WeasyPrint (the payer summary, screening/pdf.py) draws text with Pango and HarfBuzz, which pip cannot install.
PDF_LIBS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
pdf-libs: ## make sure the Debian libraries WeasyPrint needs (Pango, HarfBuzz, a font) are there (installed as root)
	@{ ldconfig -p | grep -q libpangoft2-1.0.so.0 && ldconfig -p | grep -q libharfbuzz-subset.so.0 \
	  && test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's $(PDF_LIBS) for WeasyPrint"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PDF_LIBS) >/dev/null; \
	  else echo "The payer summary (WeasyPrint) needs: sudo apt-get install $(PDF_LIBS)" >&2; exit 1; fi; }

test: $(VENV)/.dev $(ENVFILE) pdf-libs $(if $(filter 0,$(E2E)),,chromium) ## run every test (SQLite; PostgreSQL when DATABASE_URL is set), browser tests included unless E2E=0
	$(PY) -m pytest $(if $(filter 0,$(E2E)),-m "not e2e") $(PYTEST_ARGS)

screenshots: $(VENV)/.dev $(ENVFILE) chromium ## run the browser tests and copy their screenshots into docs/screenshots
	rm -rf $(SCREENSHOTS_OUT)
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)
	cp $(SCREENSHOTS_OUT)/*.png docs/screenshots/

lint: $(VENV)/.dev $(ENVFILE) ## ruff lint and format check; bandit (medium and high; each `# nosec` says why)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/bandit -q -r screening iop_screening -x screening/migrations -ll

fmt: $(VENV)/.dev ## format and fix with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check: $(VENV)/.dev $(ENVFILE) ## Django system checks and a missing-migration check
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

bench: $(VENV)/.dev $(ENVFILE) ## run the benchmarks (see bench/README.md)
	$(PY) bench/rules_bench.py

# A database counts as built only once its comment says so (written last), so a build cut short is
# dropped and made again; a built one is kept and only has new migrations applied.
bench-data: $(VENV)/.runtime $(ENVFILE) ## build the PostgreSQL databases the benchmarks use (BENCH_DATA), keeping built ones
	@set -e; export PGOPTIONS=--client-min-messages=warning; for pair in $(BENCH_DATA); do \
	  db=$${pair%%:*}; n=$${pair##*:}; done_mark="iop bench data: $$n screenings, seed 4, 730 days"; \
	  mark=$$(psql "$(BENCH_PG)/postgres" -tAc "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$$db'"); \
	  if [ "$$mark" = "$$done_mark" ]; then \
	    echo "== $$db: built ($$mark); applying any new migrations"; \
	    DATABASE_URL="$(BENCH_PG)/$$db" $(PY) manage.py migrate --noinput -v0; \
	    continue; \
	  fi; \
	  echo "== $$db: building $$n screenings"; \
	  psql "$(BENCH_PG)/postgres" -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$$db\" WITH (FORCE)" -c "CREATE DATABASE \"$$db\""; \
	  DATABASE_URL="$(BENCH_PG)/$$db" $(PY) manage.py migrate --noinput -v0; \
	  DATABASE_URL="$(BENCH_PG)/$$db" $(PY) manage.py generate_screenings $$n --seed 4 --days 730; \
	  psql "$(BENCH_PG)/$$db" -q -v ON_ERROR_STOP=1 -c "VACUUM ANALYZE" -c "COMMENT ON DATABASE \"$$db\" IS '$$done_mark'"; \
	done

backup-drill: $(VENV)/.runtime $(ENVFILE) ## encrypted pg_dump, restore, verify_audit --anchor passes; an older backup fails naming its missing checkpoint
	DRILL_PG="$(DRILL_PG)" DRILL_DB="$(DRILL_DB)" PY="$(PY)" deploy/backup_drill.sh

clean: ## remove the virtualenv, the SQLite database and the browser tests' screenshots (keeps .env)
	rm -rf $(VENV) db.sqlite3 var
