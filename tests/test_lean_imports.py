"""The modules the lean command paths (`new` without an agent, `squash -m`, `merge`) import, and the
functions of theirs those paths call, load none of the standard library's costlier modules (issue
17: `pathlib`, `re`, `enum`, `functools`, `collections`, `contextlib`, `signal`, `datetime`, `sqlite3`
and `typing` were together as much as the git work of such a command). Each is checked in a fresh
interpreter; the git layer (engine/git) is left out here and checked by the tests/test_lean_*.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: Each of them, or a module that imports it, was on the lean paths.
HEAVY = (
    "re",
    "enum",
    "functools",
    "collections",
    "contextlib",
    "pathlib",
    "signal",
    "datetime",
    "sqlite3",
    "typing",
    "bisect",
    "operator",
    "keyword",
    "reprlib",
    "itertools",
)

LEAN_CALLS = """
import os, sys
tmp = sys.argv[1]
os.environ["AMPSM_CONFIG_DIR"] = os.path.join(tmp, "cfg")
os.environ.pop("AMPSM_DB_PATH", None)
os.environ["AMP_API_KEY"] = "sk-ant-abcdefghijklmnopqrstuvwxyz012345"  # a known value to scrub
import ampsm_tui.cli
from ampsm_tui.commands import load_for

load_for("new")
import ampsm_tui.commands.session_lean
from ampsm_tui.commands.context import Context
from ampsm_tui.engine import clock, logfile, paths, secrets
from ampsm_tui.engine.errors import AmpsmError, ErrorCode
from ampsm_tui.engine.fsperm import private_dir
from ampsm_tui.engine.store import quick

ctx = Context(None)
lean = paths.lean_config()
assert lean is not None and isinstance(lean.db_path, str), lean
logfile.prepare(lean.log_path, lean.log_level)
assert os.path.isfile(lean.log_path)
private_dir(os.path.join(tmp, "a", "b"))
assert secrets.scrub("fix the login page") == "fix the login page"
assert secrets.scrub("refactor: the parser (api keys)") == "refactor: the parser (api keys)"
assert clock.now_iso().endswith("Z") and len(clock.stamp()) == 15
err = AmpsmError(ErrorCode.DATABASE, "broken")
assert err.exit_status == 13 and err.one_line() == "E003: broken" and ErrorCode("E001") is ErrorCode.GIT
assert f"{ErrorCode.GIT}" == "E001" and ErrorCode.GIT.name == "GIT" and list(ErrorCode)[0] is ErrorCode.GIT
db = os.path.join(tmp, "db.sqlite")
assert quick.ready(db) is False and quick.resolve_session_dict(db, "x") is None
assert quick.list_session_dicts(db) is None
heavy = sys.argv[2].split(",")
print(" ".join(sorted(m for m in heavy if m in sys.modules)))
# what needs the heavy modules still works once they are loaded
import pickle
assert "[REDACTED]" in secrets.scrub("key sk-ant-abcdefghijklmnopqrstuvwxyz012345 here")
assert pickle.loads(pickle.dumps(err)).code is ErrorCode.DATABASE
"""


def test_the_lean_modules_load_nothing_heavy(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPSM_")}
    out = subprocess.run(
        [sys.executable, "-c", LEAN_CALLS, str(tmp_path), ",".join(HEAVY)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"loaded: {out.stdout.strip()}"


def test_the_lean_database_calls_load_nothing_heavy(tmp_path: Path) -> None:
    """The readers and the writer of store/quick.py on a real, fully migrated database."""
    import sqlite3

    from ampsm_tui.engine.store.migrations import MIGRATIONS

    db = tmp_path / "s.db"
    conn = sqlite3.connect(db)
    conn.executescript("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT);")
    for version, _, sql in MIGRATIONS:
        conn.executescript(sql)
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
    conn.commit()
    conn.close()
    code = (
        "import sys\n"
        "from ampsm_tui.engine.clock import now_iso\n"
        "from ampsm_tui.engine.store import quick\n"
        "db = sys.argv[1]\n"
        "now = now_iso()\n"
        "values = {'id': 'sess-1', 'name': 'n', 'prompt': '', 'repo_path': '/r', 'base_branch': 'main',\n"
        "          'branch': 'amp/n/1', 'worktree_path': '/r/w', 'agent': 'amp', 'status': 'idle',\n"
        "          'created_at': now, 'updated_at': now}\n"
        "row = {field: values.get(field) for field, _ in quick.SESSION_FIELDS}\n"
        "assert quick.ready(db)\n"
        "assert quick.insert_session(db, row, ports=(41000, 41999, 4), probe=lambda port: True) == (41000, 4)\n"
        "assert quick.resolve_session_dict(db, 'sess-1')['name'] == 'n'\n"
        "assert [s['id'] for s in quick.list_session_dicts(db)] == ['sess-1']\n"
        "quick.mark_merged(db, 'sess-1', release_ports=True)\n"
        "assert quick.resolve_session_dict(db, '1')['status'] == 'done'\n"
        "print(' '.join(sorted(m for m in sys.argv[2].split(',') if m in sys.modules)))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPSM_")}
    out = subprocess.run(
        [sys.executable, "-c", code, str(db), ",".join(HEAVY)], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"loaded: {out.stdout.strip()}"


def test_the_sqlite_module_imported_without_functools_is_the_usual_one(tmp_path: Path) -> None:
    """`_sqlite3` imported by store/quick.py with functools' cache but not functools: statements
    are cached and evicted as usual, and `functools` and `sqlite3` come later as themselves."""
    code = (
        "import sys\n"
        "from ampsm_tui.engine.store import quick\n"
        "assert 'functools' not in sys.modules and 'sqlite3' not in sys.modules\n"
        "conn = quick._sqlite3.connect(':memory:', cached_statements=4)\n"
        "for i in range(50):\n"
        "    assert conn.execute(f'SELECT {i % 9}, ?', (i,)).fetchone() == (i % 9, i)\n"
        "import functools, sqlite3\n"
        "assert functools.lru_cache(2)(len).cache_info().maxsize == 2 and functools.reduce\n"
        "assert sqlite3.connect(':memory:').execute('SELECT 1').fetchone() == (1,)\n"
        "assert sqlite3.Row is quick._sqlite3.Row and sqlite3.Error is quick._sqlite3.Error\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == "ok\n", out.stderr


PATH_TEXTS = (
    "",
    ".",
    "./",
    "/",
    "//",
    "///",
    "////x",
    "//x/y/",
    "a",
    "a/",
    "a//b",
    "a/./b/.",
    "./a/../b",
    "/x/../y",
    "~/.ampsm",
    "/home/u/.ampsm/",
    "..",
    "../a",
    "a/b c/d",
)


def test_path_texts_are_pathlibs() -> None:
    from pathlib import Path, PurePosixPath

    from ampsm_tui.engine.paths import as_path_text, join_path_text

    for text in PATH_TEXTS:
        assert as_path_text(text) == str(PurePosixPath(text)), text
        base = as_path_text(text)
        assert join_path_text(base, "logs", "ampsm.log") == str(Path(base) / "logs" / "ampsm.log"), text
        assert join_path_text(base, "sessions.db") == str(Path(base, "sessions.db")), text


def test_path_exists_is_pathlibs(tmp_path: Path) -> None:
    from ampsm_tui.engine.paths import path_exists

    (tmp_path / "file").write_text("x")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    for name in ("file", "missing", "file/under", "loop", "loop/x", "a\0b", ""):
        assert path_exists(str(tmp_path / name)) is (tmp_path / name).exists(), name
    assert path_exists(str(tmp_path)) and not path_exists(str(tmp_path / "missing" / "x"))


def test_the_lean_config_paths_are_the_full_configs(tmp_path: Path, monkeypatch: object) -> None:
    from ampsm_tui.engine.config import load_config
    from ampsm_tui.engine.paths import config_dir, config_dir_str, lean_config

    mp = monkeypatch  # pytest's MonkeyPatch
    for cdir in (str(tmp_path) + "//cfg/", str(tmp_path / "cfg"), "rel/./cfg"):
        mp.chdir(tmp_path)  # type: ignore[attr-defined]
        mp.setenv("AMPSM_CONFIG_DIR", cdir)  # type: ignore[attr-defined]
        for db in (None, "~/x//y.db", str(tmp_path) + "/./d.db"):
            if db is None:
                mp.delenv("AMPSM_DB_PATH", raising=False)  # type: ignore[attr-defined]
            else:
                mp.setenv("AMPSM_DB_PATH", db)  # type: ignore[attr-defined]
            cfg, lean = load_config(), lean_config()
            assert lean is not None and str(config_dir()) == config_dir_str()
            assert (lean.db_path, lean.log_path) == (str(cfg.db_path), str(cfg.log_path)), (cdir, db)


def test_now_iso_and_stamp_are_the_datetime_ones(monkeypatch: object) -> None:
    import re
    from datetime import UTC, datetime

    from ampsm_tui.engine import clock

    mp = monkeypatch
    mp.delenv("AMPSM_FIXED_NOW", raising=False)  # type: ignore[attr-defined]
    for _ in range(200):
        before = clock.to_iso(datetime.now(UTC))
        now, stamp = clock.now_iso(), clock.stamp()
        after = datetime.now(UTC)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", now) and before <= now <= clock.to_iso(after)
        assert re.fullmatch(r"\d{8}-\d{6}", stamp) and stamp <= after.strftime("%Y%m%d-%H%M%S")
        assert clock.parse_iso(now) <= after
    mp.setenv("AMPSM_FIXED_NOW", "2025-01-02T03:04:05.678912+01:00")  # type: ignore[attr-defined]
    assert clock.now_iso() == clock.to_iso(clock.utcnow()) == "2025-01-02T02:04:05.678Z"
    assert clock.stamp() == clock.utcnow().strftime("%Y%m%d-%H%M%S") == "20250102-020405"


def test_private_dir_takes_a_path_or_its_text(tmp_path: Path, monkeypatch: object) -> None:
    import stat

    from ampsm_tui.engine.fsperm import private_dir

    monkeypatch.chdir(tmp_path)  # type: ignore[attr-defined]
    mode = os.stat(tmp_path).st_mode
    (tmp_path / "open").mkdir(mode=0o755)
    os.chmod(tmp_path / "open", 0o755)
    given = ("rel/a/b", str(tmp_path / "abs" / "c"), tmp_path / "p" / "q", "open", "rel")
    for path in given:
        assert private_dir(path) is path
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700, path
    for made in ("rel/a", "abs", "p"):
        assert stat.S_IMODE(os.stat(tmp_path / made).st_mode) == 0o700, made
    assert os.stat(tmp_path).st_mode == mode  # a folder that was there above is the user's
