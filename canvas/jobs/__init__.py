"""Jobs: the one path every request takes (docs/architecture.md), from a target to committed windows.

`spec` says what is asked, `target` turns it into pixels, the tiler plans windows,
`window` paints one, `runner` drives them in order and commits each.
"""

from canvas.jobs.events import EventCallback, JobEvent, JobPlanned, ModelLoading, WindowCommitted, WindowProgress
from canvas.jobs.runner import JobResult, SelectCandidate, recorded_params, run_job, run_steps
from canvas.jobs.spec import (
    MAX_GROW,
    MAX_TARGET_PX,
    PREFILLS,
    Expand,
    Frame,
    Inpaint,
    JobError,
    JobSpec,
    Target,
    TilerSettings,
)

__all__ = [
    "EventCallback",
    "Expand",
    "Frame",
    "Inpaint",
    "JobError",
    "JobEvent",
    "JobPlanned",
    "JobResult",
    "JobSpec",
    "MAX_GROW",
    "MAX_TARGET_PX",
    "ModelLoading",
    "PREFILLS",
    "SelectCandidate",
    "Target",
    "TilerSettings",
    "WindowCommitted",
    "WindowProgress",
    "recorded_params",
    "run_job",
    "run_steps",
]
