"""On-call schedules as policy data: rotation layers, when each is active, and their validation.

A role in a policy is either a fixed list of responders under `roles` (as it always was) or a
schedule under `schedules`:

    schedules:
      primary:
        layers:
          - name: days
            participants: [ana, bogdan]
            rotation: weekly          # daily, weekly, or "N hours" / "N days" / "N weeks"
            handoff: "09:00"          # wall-clock time in `timezone`, DST-safe
            timezone: Europe/Bucharest
            start: 2026-01-05         # the first shift starts at this date's handoff
            restrictions:             # optional: only active inside these windows
              - {days: [mon, tue, wed, thu, fri], starts: "07:00", ends: "18:00"}
          - name: nights              # a later layer wins wherever it is active
            ...

The resolver that turns a schedule into people at an instant is policies/oncall.py.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta

from pydantic import Field, field_validator, model_validator

from policies.calendar import Name, Strict, Weekday, known_zone

_ROTATION = re.compile(r"^(\d+) *(hour|day|week)s?$")
_ALIASES = {"daily": "1 day", "weekly": "1 week"}
MAX_ROTATION = timedelta(days=366)
_UNIT = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


def _wall_clock(value: time | None) -> time | None:
    # "09:00+02:00" would pin an offset and move the handoff by an hour at each DST change.
    if value is not None and value.tzinfo is not None:
        raise ValueError("give a wall-clock time like 09:00, without an offset")
    return value


class Restriction(Strict):
    """A window in which a layer is active: on `days`, from `starts` to `ends` (wall clock).

    `ends` before `starts` runs past midnight: {days: [mon], starts: "18:00",
    ends: "07:00"} is Monday 18:00 to Tuesday 07:00.
    """

    days: list[Weekday] = Field(default_factory=lambda: list(Weekday))
    starts: time
    ends: time

    @field_validator("starts", "ends")
    @classmethod
    def _local(cls, value: time) -> time | None:
        return _wall_clock(value)

    @model_validator(mode="after")
    def _sensible(self) -> Restriction:
        if not self.days:
            raise ValueError("days: a restriction needs at least one day")
        if len(set(self.days)) != len(self.days):
            raise ValueError("days: a day is listed twice")
        if self.starts == self.ends:
            raise ValueError(
                f"ends: a window from {self.starts:%H:%M} to {self.ends:%H:%M} is empty "
                "(leave restrictions out for all day)"
            )
        return self


class Layer(Strict):
    """Participants taking turns: each holds the role for one rotation, handing off in order."""

    name: Name
    participants: list[Name] = Field(default_factory=list)
    rotation: str
    handoff: time
    timezone: str
    start: date
    restrictions: list[Restriction] = Field(default_factory=list)

    @field_validator("handoff")
    @classmethod
    def _local(cls, value: time) -> time | None:
        return _wall_clock(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return known_zone(value)

    @field_validator("start")
    @classmethod
    def _start(cls, value: date) -> date:
        # Far from the ends of `datetime`, where reading a handoff in a zone overflows.
        if not date(2000, 1, 1) <= value <= date(2099, 12, 31):
            raise ValueError(f"start {value} must be between 2000 and 2099")
        return value

    @field_validator("rotation")
    @classmethod
    def _rotation(cls, value: str) -> str:
        text = " ".join(value.lower().split())
        match = _ROTATION.match(_ALIASES.get(text, text))
        if match is None:
            raise ValueError(
                f"unknown rotation {value!r} (use daily, weekly, or a length like "
                "'12 hours', '2 days' or '2 weeks')"
            )
        amount = int(match.group(1))
        if amount == 0:
            raise ValueError(f"rotation {value!r} has zero length")
        # Bounded, so shift arithmetic stays far inside what `datetime` can hold.
        if amount > MAX_ROTATION / _UNIT[match.group(2)]:
            raise ValueError(f"rotation {value!r} is longer than {MAX_ROTATION.days} days")
        return value

    @model_validator(mode="after")
    def _someone(self) -> Layer:
        if not self.participants:
            raise ValueError("participants: an empty layer; name at least one responder")
        return self

    @property
    def length(self) -> timedelta:
        """One shift, in wall-clock time of the layer's zone (a week is 7 local days)."""
        text = " ".join(self.rotation.lower().split())
        match = _ROTATION.match(_ALIASES.get(text, text))
        assert match is not None  # validated
        return int(match.group(1)) * _UNIT[match.group(2)]


class Schedule(Strict):
    """Rotation layers; where several are active, the one listed last decides."""

    layers: list[Layer] = Field(default_factory=list)

    @model_validator(mode="after")
    def _layers(self) -> Schedule:
        if not self.layers:
            raise ValueError("layers: a schedule needs at least one layer")
        names = [layer.name for layer in self.layers]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"layers[{i}].name: layer {name!r} is named twice")
        return self

    def participants(self) -> set[str]:
        return {p for layer in self.layers for p in layer.participants}
