"""The one human-unit formatter: unit by magnitude, 3-4 significant figures, never "nan"."""
import math

import pytest

from simulator.output import human
from simulator.units import JOULES_PER_KWH, SECONDS_PER_DAY, SECONDS_PER_HOUR, SECONDS_PER_YEAR


@pytest.mark.parametrize("seconds, text", [
    (0, "0 s"),
    (2.5e-6, "2.5 µs"),
    (4.2e-3, "4.2 ms"),
    (0.5, "500 ms"),
    (1, "1 s"),
    (59.9, "59.9 s"),
    (60, "1 min"),
    (90, "1.5 min"),
    (SECONDS_PER_HOUR * 1.5, "1.5 h"),
    (SECONDS_PER_DAY, "1 day"),
    (SECONDS_PER_DAY * 3.21, "3.21 days"),
    (SECONDS_PER_YEAR * 2, "2 years"),
    (SECONDS_PER_YEAR * 1234.4, "1,234 years"),
    (-5, "-5 s"),
])
def test_time_picks_the_unit_by_magnitude(seconds, text):
    assert human.time_s(seconds) == text


@pytest.mark.parametrize("seconds, text", [
    (0.9996e-3, "1 ms"),      # rounds up into the next unit rather than reading "1000 µs"
    (0.9994e-3, "999 µs"),
    (59.97, "1 min"),
    (59.94, "59.9 s"),
    (SECONDS_PER_DAY - 1, "1 day"),
])
def test_time_boundaries_round_into_the_larger_unit(seconds, text):
    assert human.time_s(seconds) == text


def test_three_significant_figures():
    assert human.time_s(1.23456) == "1.23 s"
    assert human.time_s(12.3456) == "12.3 s"
    assert human.time_s(123.456 * SECONDS_PER_HOUR / 60) == "2.06 h"
    assert human.number(0.00123456) == "0.00123"
    assert human.number(123.456) == "123"


def test_four_significant_figures_with_separators_from_a_thousand():
    assert human.number(1234.4) == "1,234"
    assert human.number(1_234_567) == "1,235,000"
    assert human.number(-98_766) == "-98,770"
    assert human.usd(1234) == "$1,234"


@pytest.mark.parametrize("joules, text", [
    (0, "0 J"),
    (0.5, "500 mJ"),
    (850, "850 J"),
    (2100, "2.1 kJ"),
    (3600, "1 Wh"),
    (12.3 * JOULES_PER_KWH, "12.3 kWh"),
    (1.29e6 * JOULES_PER_KWH, "1.29 GWh"),
    (-3.2 * JOULES_PER_KWH, "-3.2 kWh"),
])
def test_energy(joules, text):
    assert human.energy_joules(joules) == text


def test_co2_bytes_and_flops():
    assert human.co2_kg(0.45) == "450 g CO2"
    assert human.co2_kg(12.3) == "12.3 kg CO2"
    assert human.co2_kg(552_000) == "552 t CO2"
    assert human.co2_kg(0) == "0 kg CO2"
    assert human.bytes_(512) == "512 B"
    assert human.bytes_(80e9) == "80 GB"
    assert human.bytes_(1.2e12) == "1.2 TB"
    assert human.bytes_(999.6e9) == "1 TB"
    assert human.flops_per_s(989e12) == "989 TFLOP/s"
    assert human.flops_per_s(1.2e15) == "1.2 PFLOP/s"
    assert human.flops_per_s(3e18) == "3 EFLOP/s"
    assert human.flops(3.14e23) == "314 ZFLOP"
    assert human.flops(5e9) == "5 GFLOP"


def test_dollars():
    assert human.usd(12.34) == "$12.3"
    assert human.usd(0.0042) == "$0.0042"
    assert human.usd(0) == "$0"
    assert human.usd(-5) == "-$5"
    assert human.usd(4_600_000) == "$4,600,000"


def test_fraction_reads_as_percent():
    assert human.fraction(0.4213) == "42.1%"
    assert human.fraction(1) == "100%"
    assert human.fraction(0) == "0%"
    assert human.fraction(0.000123) == "0.0123%"


@pytest.mark.parametrize("fn", [human.time_s, human.energy_joules, human.co2_kg, human.bytes_,
                                human.flops_per_s, human.flops, human.usd, human.fraction, human.number])
def test_never_prints_nan(fn):
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError):
            fn(bad)
    assert fn(None) == "–"


def test_axis_unit_picks_one_unit_for_a_column():
    assert human.axis_unit("time", [SECONDS_PER_HOUR * 30, SECONDS_PER_DAY * 5]) == (SECONDS_PER_DAY, "days")
    assert human.axis_unit("time", [0.002, 0.5]) == (1e-3, "ms")
    scale, label = human.axis_unit("usd", [1e6, 3e7, None, math.nan])
    assert label == "million $" and 3e7 / scale == pytest.approx(30)
    assert human.axis_unit("energy", []) == (1.0, "J")
    assert human.axis_unit("co2", [12.0, 4000.0])[1] == "t CO2"
    assert human.axis_unit("bytes", [80e9])[1] == "GB"
    assert human.axis_unit("flops_per_s", [989e12])[1] == "TFLOP/s"
    with pytest.raises(ValueError):
        human.axis_unit("furlongs", [1])
