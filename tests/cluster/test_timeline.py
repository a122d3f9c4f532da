"""The pipeline timeline: the makespans of GPipe, 1F1B and interleaved 1F1B on equal stages, no stage running
two passes at once, every dependency kept, every pass run once, and bad arguments refused."""
import itertools
import math

import pytest

from simulator.cluster.timeline import bubble_fraction, chunk_times, makespan, schedule

CASES = [(pp, vp, m, kind) for pp, m in ((2, 2), (4, 4), (4, 8), (8, 16), (3, 9))
         for vp, kind in ((1, "1f1b"), (1, "gpipe"), (1, "zb-h1"), (2, "1f1b"), (3, "1f1b"))
         if vp == 1 or m % pp == 0] + [(3, 1, 1, "1f1b"), (5, 1, 2, "1f1b"), (5, 1, 2, "gpipe")]


def _equal(pp, vp, m, kind):
    return schedule(pp, vp, m, [1.0 / vp] * pp, [2.0 / vp] * pp, kind)


@pytest.mark.parametrize("kind", ["1f1b", "gpipe", "zb-h1"])
@pytest.mark.parametrize("pp,m", [(2, 1), (4, 4), (4, 8), (8, 3), (8, 64)])
def test_equal_stages_take_m_plus_pp_minus_one_passes(pp, m, kind):
    assert makespan(_equal(pp, 1, m, kind)) == pytest.approx((m + pp - 1) * 3)


@pytest.mark.parametrize("pp,vp,m", [(2, 2, 2), (4, 2, 8), (4, 4, 4), (8, 2, 64), (8, 4, 16), (3, 3, 9)])
def test_interleaving_shortens_the_bubble_by_vp(pp, vp, m):
    passes = _equal(pp, vp, m, "1f1b")
    assert makespan(passes) == pytest.approx(m * 3 + (pp - 1) * 3 / vp)
    assert bubble_fraction(passes, pp) == pytest.approx(1 - m * 3 / (m * 3 + (pp - 1) * 3 / vp))


@pytest.mark.parametrize("pp,vp,m,kind", CASES)
def test_every_pass_once_no_overlap_and_busy_time(pp, vp, m, kind):
    passes = _equal(pp, vp, m, kind)
    keys = [(p.phase, p.stage, p.chunk, p.micro_batch) for p in passes]
    assert sorted(keys) == sorted(itertools.product("FB", range(pp), range(vp), range(m)))
    for i in range(pp):
        mine = sorted((p for p in passes if p.stage == i), key=lambda p: p.start_s)
        for a, b in itertools.pairwise(mine):
            assert a.end_s <= b.start_s + 1e-12
        assert math.fsum(p.end_s - p.start_s for p in mine) == pytest.approx(m * vp * (1.0 / vp + 2.0 / vp))


@pytest.mark.parametrize("pp,vp,m,kind", CASES)
def test_every_dependency_holds(pp, vp, m, kind):
    passes = _equal(pp, vp, m, kind)
    at = {(p.phase, p.stage, p.chunk, p.micro_batch): p for p in passes}
    for (phase, i, c, j), p in at.items():
        if phase == "F":
            dep = ("F", i - 1, c, j) if i > 0 else ("F", pp - 1, c - 1, j) if c > 0 else None
        else:
            dep = (("B", i + 1, c, j) if i < pp - 1 else ("B", 0, c + 1, j) if c < vp - 1
                   else ("F", pp - 1, vp - 1, j))
        if dep is not None:
            assert at[dep].end_s <= p.start_s + 1e-12, (phase, i, c, j)


def test_the_first_stage_warms_up_as_megatron_orders_it():
    first = [(p.phase, p.chunk, p.micro_batch) for p in _equal(4, 2, 8, "1f1b") if p.stage == 0]
    warm = (4 - 1) * 2 + (2 - 1) * 4
    assert first[:warm] == [("F", 0, 0), ("F", 0, 1), ("F", 0, 2), ("F", 0, 3), ("F", 1, 0), ("F", 1, 1),
                            ("F", 1, 2), ("F", 1, 3), ("F", 0, 4), ("F", 0, 5)]
    assert first[warm] == ("F", 0, 6) and first[warm + 1] == ("B", 1, 0)


@pytest.mark.parametrize("kind,forward", [("gpipe", [1, 1, 2, 1]), ("gpipe", [2, 1, 1, 1]), ("1f1b", [1, 1, 1, 2])])
def test_a_slow_stage_sets_the_pace(kind, forward):
    passes = schedule(4, 1, 8, forward, [2 * f for f in forward], kind)
    assert makespan(passes) == pytest.approx(7 * 6 + 3 + 3 + 3 + 6)  # (m - 1) x slowest + the sum of the stages


def test_chunk_times_split_a_pass_one_third_forward():
    forward, backward = chunk_times([3.0, 6.0], 2)
    assert forward == pytest.approx([0.5, 1.0]) and backward == pytest.approx([1.0, 2.0])


@pytest.mark.parametrize("args", [
    (0, 1, 4, [], [], "1f1b"), (2, 1, 0, [1, 1], [2, 2], "1f1b"), (2, 1, 4, [1], [2, 2], "1f1b"),
    (2, 1, 4, [1, -1], [2, 2], "1f1b"), (2, 1, 4, [1, math.nan], [2, 2], "1f1b"),
    (2, 1, 4, [1, 1], [2, 2], "dualpipe"), (2, 2, 3, [1, 1], [2, 2], "1f1b"), (2, 2, 4, [1, 1], [2, 2], "gpipe"),
    (2, 1.5, 4, [1, 1], [2, 2], "1f1b"),
])
def test_bad_arguments_are_refused(args):
    with pytest.raises(ValueError):
        schedule(*args)
