"""Prompts that change along a job: step 1 "a cottage window", step 3 "a village in the
valley". Each prompt holds from its step until the next one's; before the first, the
job's own prompt holds.

    schedule = PromptSchedule.parse(["1:a cottage window", "3:a village in the valley"])
    schedule.at(2, "")   # "a cottage window"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from canvas.jobs.spec import JobError

MAX_ENTRIES = 64


@dataclass(frozen=True)
class PromptSchedule:
    entries: tuple[tuple[int, str], ...] = ()  # (first step, prompt), steps counted from 1, ascending

    def __post_init__(self) -> None:
        steps = [step for step, _ in self.entries]
        if len(steps) > MAX_ENTRIES:
            raise JobError(f"a prompt schedule holds at most {MAX_ENTRIES} entries, got {len(steps)}")
        if any(not isinstance(step, int) or isinstance(step, bool) or step < 1 for step in steps):
            raise JobError("a prompt schedule's steps are whole numbers from 1")
        if steps != sorted(set(steps)):
            raise JobError("a prompt schedule names each step once, in ascending order")

    @classmethod
    def parse(cls, items: Iterable[str]) -> PromptSchedule:
        """From "STEP:prompt" strings (the CLI's `--at-step`), in any order."""
        entries = []
        for item in items:
            step, sep, prompt = item.partition(":")
            if not sep or not step.strip().isdigit():
                raise JobError(f"a scheduled prompt is STEP:PROMPT, like '3:a village in the valley'; got {item!r}")
            entries.append((int(step), prompt.strip()))
        return cls(tuple(sorted(entries)))

    @classmethod
    def of(cls, mapping: dict[int, str]) -> PromptSchedule:
        return cls(tuple(sorted(mapping.items())))

    def at(self, step: int, default: str) -> str:
        """The prompt of `step` (from 1)."""
        prompt = default
        for first, text in self.entries:
            if first > step:
                break
            prompt = text
        return prompt

    def as_dict(self) -> dict[str, str]:
        return {str(step): prompt for step, prompt in self.entries}
