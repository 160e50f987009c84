"""Random ``kill -9`` of schedulers and workers, and their restart.

Every few seconds one action is picked at random: kill a scheduler, kill a worker, or
kill one of each at the same moment. A kill is SIGKILL to the process's whole group
(the Dramatiq worker's forked processes die with it), and the process is started again
with its Procfile command after a short random delay. The API is never killed, and a
process is only killed while another of its kind is up (and has been for a moment), so
there is always a scheduler and a worker: never everything at once.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.soak_e2e import StackView

# Process names, by kind (the kind is also the Procfile line that starts them).
NAMES: dict[str, tuple[str, ...]] = {
    "scheduler": ("scheduler", "scheduler2"),
    "worker": ("worker", "worker2"),
}
ACTIONS = ("scheduler", "worker", "both")
ACTION_WEIGHTS = (4, 4, 1)
# A process killed sooner than this after its start would die before doing anything.
MIN_AGE_SECONDS = 3.0
# The survivor of a kind must have been up this long: a worker that just started may
# not be consuming yet.
SURVIVOR_AGE_SECONDS = 6.0


def kind_of(name: str) -> str:
    return next(kind for kind, names in NAMES.items() if name in names)


@dataclass
class Exit:
    """A process that died without being killed by the soak."""

    name: str
    returncode: int | None
    log_path: str


@dataclass
class Chaos:
    stack: StackView
    rng: random.Random
    min_gap: float = 2.0
    max_gap: float = 6.0
    min_down: float = 0.5
    max_down: float = 4.0
    kills: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    skipped_actions: int = 0
    restarts: int = 0
    unexpected: list[Exit] = field(default_factory=list)
    down: dict[str, float] = field(default_factory=dict)  # name -> when to restart it
    next_action: float = 0.0

    def start(self, now: float) -> None:
        self.next_action = now + self.rng.uniform(self.min_gap, self.max_gap)

    def step(self, now: float) -> None:
        """Restart what is due, notice unexpected exits, act when it is time."""
        self.watch()
        for name, when in sorted(self.down.items()):
            if when <= now:
                self.restart(name)
        if now >= self.next_action:
            self.act(now)
            self.next_action = now + self.rng.uniform(self.min_gap, self.max_gap)

    def act(self, now: float) -> None:
        """The action drawn, or if it cannot be done now (its kind has no survivor up
        yet) the one that can; nothing if neither kind can lose a process."""
        chosen = {kind: self.victim(kind) for kind in NAMES}
        possible = [kind for kind, name in chosen.items() if name is not None]
        action = self.rng.choices(ACTIONS, ACTION_WEIGHTS)[0]
        feasible = len(possible) == len(NAMES) if action == "both" else action in possible
        if not feasible and possible:
            action = self.rng.choice(possible)
        kinds = tuple(NAMES) if action == "both" else (action,)
        if any(chosen[kind] is None for kind in kinds):
            self.skipped_actions += 1
            return
        self.actions[action] += 1
        for kind in kinds:
            name = chosen[kind]
            assert name is not None
            self.kill(name, now)

    def victim(self, kind: str) -> str | None:
        """A process of ``kind`` that may be killed now, at random; None if none may."""
        wall = time.time()
        up = {
            name: wall - process.started_at
            for name in NAMES[kind]
            if (process := self.stack.processes.get(name)) is not None and process.alive()
        }
        candidates = [
            name
            for name, age in up.items()
            if age >= MIN_AGE_SECONDS
            and any(
                other != name and other_age >= SURVIVOR_AGE_SECONDS
                for other, other_age in up.items()
            )
        ]
        return self.rng.choice(candidates) if candidates else None

    def kill(self, name: str, now: float) -> None:
        process = self.stack.processes.pop(name)
        process.kill()
        self.kills[kind_of(name)] += 1
        self.down[name] = now + self.rng.uniform(self.min_down, self.max_down)

    def restart(self, name: str) -> None:
        self.down.pop(name, None)
        self.stack.spawn(name, kind_of(name))
        self.restarts += 1

    def watch(self) -> None:
        """A scheduler or worker that exited on its own is recorded and started again;
        the API exiting ends the soak."""
        for name, process in list(self.stack.processes.items()):
            if process.alive():
                continue
            if name == "api":
                self.stack.check_alive()  # raises, with the API's log
            self.stack.processes.pop(name)
            process.stop()  # reaps it and closes its log
            self.unexpected.append(Exit(name, process.popen.returncode, str(process.log_path)))
            self.restart(name)

    def finish(self) -> None:
        """Stop killing: start again whatever is down, now."""
        for name in sorted(self.down):
            self.restart(name)
        self.watch()

    @property
    def total_kills(self) -> int:
        return sum(self.kills.values())
