"""`ampsm demo --screenshots DIR`: one SVG per main screen at a fixed size; the README shows them."""

from __future__ import annotations

import html
import re
from pathlib import Path

from tests.conftest import ROOT, run_cli

#: text that must be on each screen (proves the right screen was captured, with the demo's data)
EXPECTED = {
    "dashboard": ("slugify helper", "title case", "waiting"),
    "session": ("Session · title case", "awaiting-input", "E006"),
    "diff": ("Diff · slugify helper", "test_slugify.py"),
    "review": ("Review & merge · slugify helper", "Squash"),
    "batches": ("demo-batch", "succeeded"),
}


def svg_text(path: Path) -> str:
    raw = path.read_text(encoding="utf-8")
    return html.unescape(re.sub(r"<[^>]+>", "", raw)).replace("\xa0", " ")


def svg_size(path: Path) -> str:
    m = re.search(r'viewBox="([^"]+)"', path.read_text(encoding="utf-8"))
    assert m, path
    return m.group(1)


def test_screenshots_of_every_main_screen(tmp_path: Path) -> None:
    out = run_cli("demo", "--speed", "0", "--dir", str(tmp_path / "demo"), "--screenshots", str(tmp_path / "shots"))
    assert out.returncode == 0, out.stderr
    sizes = set()
    for name, words in EXPECTED.items():
        path = tmp_path / "shots" / f"{name}.svg"
        assert path.is_file(), name
        text = svg_text(path)
        for word in words:
            assert word in text, (name, word)
        sizes.add(svg_size(path))
    assert len(sizes) == 1  # every screen at the same fixed terminal size
    # the committed README pictures are the same screens at the same size (`make screenshots` remakes them)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in EXPECTED:
        committed = ROOT / "docs" / "screenshots" / f"{name}.svg"
        assert f"(docs/screenshots/{name}.svg)" in readme
        assert committed.is_file() and svg_size(committed) in sizes
        assert all(word in svg_text(committed) for word in EXPECTED[name])
