"""A migrated, empty MLflow store that every throwaway server starts from.

A fresh `mlflow server` runs ~140 database migrations before it answers (~1.5 s of CPU,
the larger part of its start); the student's kernel waits for it at its first request.
The first grading on a machine saves the store its server has just migrated, before any
client connects, as a template in the grader's cache; later servers start from a copy.

A copy is used only if it holds what a freshly migrated store holds: one `Default`
experiment, the default workspace, its schema revision, nothing else, no views, and no
trigger but MLflow's own kind (on its secrets table, never writing). Anything else (an
older, damaged or altered template) is discarded and the server migrates its own store, as
it would with no template. A warm process takes one copy and checks each further copy
against that copy's digest.

The cache is the grader's user's (`$LABGRADE_CACHE_DIR`, else `$XDG_CACHE_HOME/labgrade`
or `~/.cache/labgrade`): under full isolation a submission can neither see nor write it.
Under process isolation it can, as it can the grader's own files: these checks refuse a
template that plants rows or acts on what the lab writes (a view, a trigger), not every
change (a rewritten table's constraints, say).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import sqlite3
import tempfile
from pathlib import Path

CACHE_VAR = "LABGRADE_CACHE_DIR"
# Tables a fresh store fills, and how many rows each holds; every other table is empty.
SEEDED_ROWS = {"alembic_version": 1, "experiments": 1, "workspaces": 1}
# MLflow's migrations create one trigger, which keeps secrets' ids immutable; the lab never
# writes secrets. A trigger on any other table could refuse what a grading logs.
TRIGGER_TABLES = {"secrets"}
_WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def cache_dir() -> Path:
    if os.environ.get(CACHE_VAR):
        return Path(os.environ[CACHE_VAR])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "labgrade"


def cached_path() -> Path:
    """Where this MLflow's template lives: its version and migrations name it."""
    spec = importlib.util.find_spec("mlflow")
    origin = Path(spec.origin).parent if spec and spec.origin else None
    versions = origin / "store" / "db_migrations" / "versions" if origin else None
    names = sorted(os.listdir(versions)) if versions and versions.is_dir() else []
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
    return cache_dir() / f"store-{importlib.metadata.version('mlflow')}-{digest}.db"


def sqlite_store(server_args: list[str]) -> Path | None:
    """The SQLite file an `mlflow server` command line stores in, if it stores in one."""
    if "--backend-store-uri" not in server_args:
        return None
    uri = server_args[server_args.index("--backend-store-uri") + 1]
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def seed(store_db: Path, template: Path, digest: str | None = None) -> bool:
    """Copy TEMPLATE to STORE_DB if the copy is pristine (and has DIGEST, when given)."""
    try:
        shutil.copyfile(template, store_db)
    except OSError:
        return False
    if (digest is None or file_digest(store_db) == digest) and pristine(store_db):
        return True
    store_db.unlink()
    return False


def save(store_db: Path, template: Path) -> None:
    """Keep STORE_DB (just migrated, never served) as TEMPLATE; replace older templates."""
    if not pristine(store_db):
        return
    template.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=template.parent, prefix=".store-", suffix=".db")
    os.close(fd)
    shutil.copyfile(store_db, tmp)
    os.replace(tmp, template)  # atomic: a concurrent grading sees the old file or the new
    for old in template.parent.glob("store-*.db"):
        if old != template:
            with contextlib.suppress(OSError):
                old.unlink()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pristine(db: Path) -> bool:
    """Whether DB holds exactly what a freshly migrated MLflow store holds."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            return _pristine(con)
    except sqlite3.Error:
        return False


def _pristine(con: sqlite3.Connection) -> bool:
    if con.execute("PRAGMA integrity_check").fetchone() != ("ok",):
        return False
    objects = con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    if any(kind == "view" for kind, _, _, _ in objects):
        return False
    for kind, _, table, sql in objects:
        if kind == "trigger" and (
            table not in TRIGGER_TABLES or _WRITES.search(str(sql).split("BEGIN", 1)[-1])
        ):
            return False
    tables = {name for kind, name, _, _ in objects if kind == "table"}
    if not set(SEEDED_ROWS) <= tables:
        return False
    for table in tables - {"sqlite_sequence"}:
        rows = con.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
        if rows != SEEDED_ROWS.get(table, 0):
            return False
    default = con.execute("SELECT experiment_id, name, lifecycle_stage FROM experiments")
    return default.fetchall() == [(0, "Default", "active")]
