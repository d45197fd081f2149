"""How a preset's recipe follows `--num_envs`: which section serves a requested env count, and
the batch, updates, buffer and warm-up derived from it.

A preset section is a recipe set for its own `num_envs`. Asked for another count, the rule
keeps what makes the recipe learn per env step and per update:
- the section nearest the requested count (by ratio) is the base: a 16-env recipe does not
  become a 2048-env one by scaling alone, so `--num_envs=2048` takes the section set for
  thousands of envs, on any device;
- the replay ratio (samples drawn per new transition, `batch_size * updates_per_step /
  num_envs`) and the updates per vectorised step are held, so the batch grows with the envs;
- the buffer holds the same number of vectorised steps of history, but never more than the
  run's env steps (rows that can never be filled) unless the section itself asks for more;
- warm-up holds the same number of vectorised steps of random actions, and at least a batch.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

SCALED = ("batch_size", "updates_per_step", "buffer_size", "warmup_steps")
"""The settings the rule derives; each one given by a flag or a file is kept as given."""
DERIVED = "derived from num_envs"
WARN_RATIO = 4.0
"""A resolved replay ratio this many times above or below its preset's is warned about."""


@dataclasses.dataclass(frozen=True)
class Recipe:
    """The scale of a preset section (or of a resolved run)."""

    num_envs: int
    batch_size: int
    updates_per_step: int
    buffer_size: int
    warmup_steps: int

    @classmethod
    def of(cls, values: dict[str, Any]) -> Recipe | None:
        """The section's scale, or None when it does not state all of it."""
        names = ("num_envs", *SCALED)
        if not all(isinstance(values.get(n), int) and values[n] >= 1 for n in names[:3]):
            return None
        if not all(isinstance(values.get(n), int) for n in names[3:]):
            return None
        return cls(**{n: values[n] for n in names})

    @property
    def replay_ratio(self) -> float:
        """Samples drawn per new transition."""
        return self.batch_size * self.updates_per_step / self.num_envs


def nearest_section(sections: dict[str, dict[str, Any]], default: str, num_envs: int) -> str:
    """The name of the section whose own `num_envs` is nearest `num_envs` by ratio; `default`
    (the device's section) on a tie or when a section states no env count."""
    best, best_distance = default, math.inf
    for name in sorted(sections, key=lambda n: n != default):
        own = sections[name].get("num_envs")
        if not isinstance(own, int) or own < 1:
            return default
        distance = abs(math.log(num_envs / own))
        if distance < best_distance - 1e-12:
            best, best_distance = name, distance
    return best


def derive(base: Recipe, num_envs: int, total_steps: int) -> dict[str, int]:
    """The section `base` scaled to `num_envs` by the rule in this module's docstring."""
    scale = num_envs / base.num_envs
    batch = max(1, round(base.replay_ratio * num_envs / base.updates_per_step))
    history = base.buffer_size / base.num_envs
    buffer = min(round(history * num_envs), max(base.buffer_size, total_steps))
    buffer = max(buffer, batch, num_envs)
    warmup = max(round(base.warmup_steps * scale), batch)
    return {
        "batch_size": batch,
        "updates_per_step": base.updates_per_step,
        "buffer_size": buffer,
        "warmup_steps": min(warmup, buffer),
    }


def ratio_warning(preset: Recipe, resolved: Recipe) -> str | None:
    """A line when the resolved replay ratio is more than `WARN_RATIO` times off the preset's."""
    ratio, own = resolved.replay_ratio, preset.replay_ratio
    if own <= 0 or max(ratio / own, own / ratio) <= WARN_RATIO:
        return None
    return (
        f"warning: replay ratio {ratio:g} samples per new transition (batch_size "
        f"{resolved.batch_size} x updates_per_step {resolved.updates_per_step} / num_envs "
        f"{resolved.num_envs}) is more than {WARN_RATIO:g}x from its preset's {own:g} "
        f"(set for {preset.num_envs} envs)"
    )
