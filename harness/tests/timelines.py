"""Comparing the event timelines of repeated runs (the determinism tests of
test_race.py and test_snapshot.py).

A timeline is a run's ``race-report.json`` events (dicts with ``t_ns``), cut
where the test wants.  Runs agree when their events are equal, times
included; a run that differs may only differ in times (the rare host-timing
race docs/race.md §4 describes), by at most a bound.
"""
import json


def untimed(events: list) -> list:
    """``events`` without their ``t_ns``."""
    return [{k: v for k, v in e.items() if k != "t_ns"} for e in events]


def majority(timelines: list) -> tuple:
    """``(same, odd)``: the indexes of the runs whose timeline is the most
    common one (times included), and of the others, each in run order."""
    keys = [json.dumps(t, sort_keys=True) for t in timelines]
    ref = max(keys, key=keys.count)
    return ([i for i, k in enumerate(keys) if k == ref],
            [i for i, k in enumerate(keys) if k != ref])


def time_only_jitter(base: list, other: list, relative_to_els=None) -> int:
    """The largest difference in ns between the times of ``other``'s and
    ``base``'s events, which must be the same events but for their times.

    With ``relative_to_els`` (an ELS command code, e.g. 0x03 PLOGI), times
    count from each timeline's first event of that ELS, so a run that
    started later but ran the same is not counted as different.

    Raises:
        AssertionError: the timelines differ in more than times (the first
            such event is named).
    """
    diff = next((j for j, (a, b) in enumerate(zip(untimed(base),
                                                  untimed(other)))
                 if a != b), None)
    if diff is None and len(base) != len(other):
        diff = min(len(base), len(other))
    assert diff is None, "differs in more than times at event %d: %r / %r" % (
        diff, base[diff:diff + 1], other[diff:diff + 1])

    def origin(t):
        if relative_to_els is None:
            return 0
        return next(e["t_ns"] for e in t if e.get("els") == relative_to_els)
    ob, oo = origin(base), origin(other)
    return max((abs((a["t_ns"] - ob) - (b["t_ns"] - oo))
                for a, b in zip(base, other)), default=0)
