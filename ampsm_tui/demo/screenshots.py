"""SVG screenshots of the main screens on the demo workspace, at a fixed terminal size.

`ampsm demo --screenshots DIR` (and `make screenshots`, which writes the README's `docs/screenshots/`)
builds the demo, then opens the real app headless (Textual's `run_test`) on it and saves one SVG per
screen: dashboard, session output, diff, review wizard, batch monitor.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .workspace import DemoWorkspace

if TYPE_CHECKING:
    from ..engine.config import Config

SIZE = (120, 36)
SCREENS = ("dashboard", "session", "diff", "review", "batches")


async def _settle(app: Any, pilot: Any) -> None:
    """Let the screen's loaders finish (workers, then a few refreshes)."""
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)


async def save_screenshots(
    config: Config, ws: DemoWorkspace, out_dir: Path, size: tuple[int, int] = SIZE
) -> list[Path]:
    from ..app import create_app
    from ..screens.batches import BatchesScreen
    from ..screens.diff import DiffScreen
    from ..screens.review import ReviewScreen
    from ..screens.session import SessionScreen

    roles = ws.roles()
    out_dir.mkdir(parents=True, exist_ok=True)
    config.ui.auto_update = False  # nothing else writes to the demo DB; no poll timer in the pictures
    config.ui.bell = False
    app = create_app(config, cursor_blink=False)
    app.workspace_label = "db ~/.ampsm/demo/sessions.db"  # type: ignore[attr-defined]  # not the throw-away path
    saved: list[Path] = []
    factories: dict[str, Any] = {
        "session": lambda: SessionScreen(roles["failing"]),
        "diff": lambda: DiffScreen(roles["green"]),
        "review": lambda: ReviewScreen(roles["green"]),
        "batches": lambda: BatchesScreen(),
    }
    async with app.run_test(size=size) as pilot:
        await _settle(app, pilot)
        for name in SCREENS:
            if name != "dashboard":
                await app.push_screen(factories[name]())
                await _settle(app, pilot)
            saved.append(Path(app.save_screenshot(filename=f"{name}.svg", path=str(out_dir))))
            if name != "dashboard":
                app.pop_screen()
                await _settle(app, pilot)
    return saved
