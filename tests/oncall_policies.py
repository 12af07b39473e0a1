"""The seed policies with Prokuria's `primary` role as a rotation (days, weekly; nights, daily)."""

from __future__ import annotations

from pathlib import Path

from policies.loader import BUILTIN_DIR

SCHEDULE = """schedules:
  primary:
    layers:
      - name: days
        participants: [ana, bogdan]
        rotation: weekly
        handoff: "09:00"
        timezone: Europe/Bucharest
        start: 2026-01-05
      - name: nights
        participants: [carmen]
        rotation: daily
        handoff: "18:00"
        timezone: Europe/Bucharest
        start: 2026-01-05
        restrictions: [{days: [mon, tue, wed, thu, fri], starts: "20:00", ends: "07:00"}]
"""


def write_policies(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    seed = (BUILTIN_DIR / "prokuria.yaml").read_text(encoding="utf-8")
    assert "  primary: [ana]\n" in seed
    (folder / "prokuria.yaml").write_text(seed.replace("  primary: [ana]\n", "") + SCHEDULE)
    (folder / "cargotask.yaml").write_text((BUILTIN_DIR / "cargotask.yaml").read_text())
    return folder
