"""A sensor that starts the pipeline when new or changed files land.

Its cursor maps each landing file to "size:mtime"; a file not seen before, or seen with another
size or mtime, triggers one run (the loader itself skips files whose content it already holds).
"""

from __future__ import annotations

import hashlib
import json

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor

from orchestration import settings
from orchestration.defs.jobs import full_pipeline_job
from orchestration.ingestion import contracts, landing, loaders


def _landing_state() -> dict[str, str]:
    root = settings.landing_dir()
    state = {}
    for contract in contracts.all_contracts():
        try:
            paths = loaders.landing_files(contract, root)
        except landing.FolderError:  # the run's load reports it; the other folders still count
            continue
        for path in paths:
            stat = path.stat()
            state[path.relative_to(root).as_posix()] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return state


@sensor(
    job=full_pipeline_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description="Runs the full pipeline when files land or change in the landing directory.",
)
def new_landing_files(context: SensorEvaluationContext):
    previous = json.loads(context.cursor) if context.cursor else {}
    current = _landing_state()
    changed = sorted(p for p, sig in current.items() if previous.get(p) != sig)
    if not changed:
        return SkipReason(f"no new files among {len(current)} in {settings.landing_dir()}")
    context.update_cursor(json.dumps(current))
    digest = hashlib.sha256("\n".join(f"{p}={current[p]}" for p in changed).encode()).hexdigest()[:16]
    return RunRequest(run_key=f"landing-{digest}", tags={"new_files": str(len(changed))})
