"""Which store a chapter reads, in one sentence the chapter shows under its parameters."""

from __future__ import annotations

import json
from pathlib import Path

from pie_utils.manifest import load_manifest
from pie_utils.store import EVALUATIONS, RUNS
from pie_utils.studies import MAIN_STUDY, load_study, shown_path


def store_statement(profile: str) -> str:
    """A Markdown sentence naming the store the profile's chapters read: for a published store
    the profile, its runs and evaluations, CPU-hours and the manifest's sha256; for a training
    store its path relative to the project, the records it holds and their CPU-hours (wall
    time of each run times its threads)."""
    root = Path(load_study(profile, MAIN_STUDY).store)
    shown = shown_path(str(root))
    manifest = load_manifest(root)
    if manifest is not None:
        totals = manifest.content["totals"]
        missing = totals["needed"] - totals["published"]
        return (
            f"Read from the **published store** of profile `{manifest.content['profile']}` (`{shown}`): {totals['runs']} runs and {totals['evaluations']} evaluations, "
            f"{totals['cpu_hours']:.1f} CPU-hours of training, manifest sha256 `{manifest.digest[:16]}`"
            + (
                f"; {missing} records are not published yet."
                if missing
                else "; every record the profile needs is published."
            )
        )
    counts, seconds = {RUNS: 0, EVALUATIONS: 0}, 0.0
    for kind in counts:
        for meta in (root / kind).glob("*/meta.json") if (root / kind).is_dir() else ():
            record = json.loads(meta.read_text())
            counts[kind] += 1
            seconds += (record.get("wall_time_s") or 0.0) * (record.get("machine") or {}).get("threads", 1)
    return (
        f"Read from the **training store** of profile `{profile}` (`{shown}`), trained "
        f"by this build or an earlier one: {counts[RUNS]} runs and {counts[EVALUATIONS]} evaluations in it, "
        f"{seconds / 3600:.1f} CPU-hours of training."
    )
