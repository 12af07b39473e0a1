"""Hypothesis profiles: the same examples on every CI run, random exploration on purpose.

- `ci` (chosen by CI=true) and `dev` (the default, `make test`): derandomized, so a run
  explores exactly what the previous run explored and a red CI means the commit, not the dice.
  `ci` keeps no example database; `dev` keeps Hypothesis's (.hypothesis/, gitignored) so an
  example that failed locally is tried first next time.
- `fuzz` (`make fuzz`, HYPOTHESIS_PROFILE=fuzz): random, ten times the examples, the database
  on. A failing example it finds is printed as `@example(...)`-ready input: add it to the test
  as an explicit `@example`, so every later run, CI included, plays it.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", derandomize=True, print_blob=True)
settings.register_profile("fuzz", derandomize=False, print_blob=True)

PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or (
    "ci" if os.environ.get("CI", "").lower() == "true" else "dev"
)
# How many more examples the random exploration tries than a test's everyday count
# (HYPOTHESIS_FUZZ_FACTOR=1 explores new seeds at the everyday count).
FUZZ_FACTOR = int(os.environ.get("HYPOTHESIS_FUZZ_FACTOR", "10"))


def examples(count: int) -> int:
    """A test's example count: as written for ci/dev, FUZZ_FACTOR times more when fuzzing."""
    return count * FUZZ_FACTOR if PROFILE == "fuzz" else count


def load() -> None:
    settings.load_profile(PROFILE)
