"""What `migfleet measure` measures: per profile, model and Triton setting, a rising concurrency
ladder, stopped once the p99 passes the model's target or the rate stops rising; and how long that
takes (at most: every ladder climbed to its top).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from migfleet.inventory.model_files import setting_problems

LADDER = (1, 2, 4, 8, 16, 32, 64, 128)
RISING = 1.03           # a point must beat the best rate before it by 3% for the ladder to go on
LOAD_S = 10.0           # a model load with its setting (repository API), about
LAYOUT_S = 30.0         # a layout placed and one Triton ready, about
START_S = 2.0           # perf_analyzer's start and its first connection, about


@dataclass(frozen=True, order=True)
class Setting:
    profile: str
    model: str
    max_batch_size: int     # 0: no batching; N: dynamic batching up to N
    instance_count: int

    def key(self) -> tuple:
        return (self.profile, self.model, self.max_batch_size, self.instance_count)

    def words(self) -> str:
        batch = f"dynamic batching up to {self.max_batch_size}" if self.max_batch_size else "no batching"
        return f"{self.profile} {self.model}, {batch}, {self.instance_count} instance(s)"


@dataclass(frozen=True)
class Grid:
    settings: tuple[Setting, ...]
    ladder: tuple[int, ...]
    window_ms: int
    targets: Mapping[str, float | None]       # model -> p99 target (ms); None: climb until the rate stops rising
    skipped: tuple[tuple[Setting, str], ...] = ()     # settings their model cannot take, and why

    @property
    def profiles(self) -> list[str]:
        return list(dict.fromkeys(s.profile for s in self.settings))

    def target(self, model: str) -> float | None:
        return self.targets.get(model)

    def point_s(self) -> float:
        """One point: perf_analyzer's three windows and its start."""
        return 3 * self.window_ms / 1000 + START_S

    def most_points(self) -> int:
        return len(self.settings) * len(self.ladder)

    def estimate_s(self, points: int | None = None, settings: int | None = None, profiles: int | None = None) -> float:
        """Seconds for `points` points of `settings` settings over `profiles` layouts (all of them by default)."""
        points = self.most_points() if points is None else points
        settings = len(self.settings) if settings is None else settings
        profiles = len(self.profiles) if profiles is None else profiles
        return points * self.point_s() + settings * LOAD_S + profiles * LAYOUT_S


def make(profiles: Sequence[str], models: Sequence[str], batches: Sequence[int], counts: Sequence[int],
         ladder: Sequence[int], window_ms: int, targets: Mapping[str, float | None],
         own_batch: Mapping[str, int] | None = None) -> Grid:
    """The grid; `own_batch` (model -> its config.pbtxt's max_batch_size): settings a model cannot take
    (model_files.setting_problems, validate's check) are skipped, not measured: no inventory could use them."""
    every = [Setting(p, m, b, c) for p in profiles for m in models for b in batches for c in counts]
    why = {s: setting_problems(s.model, own_batch.get(s.model, 0), s.max_batch_size) if own_batch is not None else []
           for s in every}
    return Grid(tuple(s for s in every if not why[s]), tuple(sorted(set(ladder))), window_ms,
                {m: targets.get(m) for m in models}, tuple((s, why[s][0]) for s in every if why[s]))


def skipped_lines(grid: Grid) -> list[str]:
    return [f"  skipped: {s.words()}: {why}" for s, why in grid.skipped]


def next_concurrency(grid: Grid, setting: Setting, done: Sequence[Mapping]) -> int | None:
    """The next concurrency to measure for `setting`, given its points so far (by concurrency); None
    when its ladder is climbed: the last point's p99 passed the target, the rate stopped rising, or
    the top of the ladder was reached."""
    done = sorted(done, key=lambda p: p["concurrency"])
    target = grid.target(setting.model)
    best = 0.0
    for p in done:
        if target is not None and p["p99_ms"] > target:
            return None
        if best and p["rate"] < best * RISING:
            return None
        best = max(best, p["rate"])
    measured = {p["concurrency"] for p in done}
    top = max(measured, default=0)
    return next((c for c in grid.ladder if c > top and c not in measured), None)


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def describe(grid: Grid, gpu: str, host: str) -> str:
    """What `--dry` prints: the grid and the time it takes at most."""
    lines = [f"measure {host} {gpu}: {len(grid.profiles)} profile(s), {len(grid.settings)} setting(s), "
             f"concurrency {', '.join(map(str, grid.ladder))}, {grid.window_ms} ms windows x 3"
             + (f"; {len(grid.skipped)} setting(s) skipped: their model cannot take them" if grid.skipped else "")]
    for s in grid.settings:
        target = grid.target(s.model)
        lines.append(f"  {s.words()}; until p99 > {target:g} ms or the rate stops rising" if target is not None
                     else f"  {s.words()}; until the rate stops rising")
    lines += skipped_lines(grid)
    lines.append(f"at most {grid.most_points()} point(s), about {duration(grid.estimate_s())} "
                 f"({grid.point_s():g} s a point, {duration(grid.estimate_s(0))} of layouts and model loads); a ladder "
                 "stops at its target or when the rate stops rising, so most runs take less")
    return "\n".join(lines)
