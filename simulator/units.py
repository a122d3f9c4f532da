"""The one place where unit-conversion factors live.

Everything inside costsim is SI (seconds, bytes, FLOPs, watts, joules, kilograms, US dollars); the unit
is part of each field's name. These constants convert at the edges only: reading human figures such as
grams of CO2 per kWh, and formatting output.
"""

SECONDS_PER_MINUTE = 60.0
SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0
SECONDS_PER_YEAR = 365.25 * SECONDS_PER_DAY

JOULES_PER_WH = 3600.0
JOULES_PER_KWH = 3.6e6
JOULES_PER_MWH = 3.6e9
JOULES_PER_GWH = 3.6e12
JOULES_PER_TWH = 3.6e15
GRAMS_PER_KG = 1000.0
KG_PER_TONNE = 1000.0
KG_PER_POUND = 0.45359237

NANO = 1e-9
MICRO = 1e-6
MILLI = 1e-3
KILO = 1e3
MEGA = 1e6
GIGA = 1e9
TERA = 1e12
PETA = 1e15
EXA = 1e18
ZETTA = 1e21
YOTTA = 1e24
PERCENT = 0.01
GIB = float(1 << 30)

BITS_PER_BYTE = 8.0


def kg_co2_per_joule(grams_co2_per_kwh: float) -> float:
    """Convert a grid intensity in gCO2e/kWh (how it is published) to kg CO2e per joule."""
    return grams_co2_per_kwh / GRAMS_PER_KG / JOULES_PER_KWH


def usd_per_joule(usd_per_kwh: float) -> float:
    """Convert an electricity price in $/kWh to $/J."""
    return usd_per_kwh / JOULES_PER_KWH


def hours(seconds: float) -> float:
    """Seconds to hours."""
    return seconds / SECONDS_PER_HOUR


def days(seconds: float) -> float:
    """Seconds to days."""
    return seconds / SECONDS_PER_DAY


def kwh(joules: float) -> float:
    """Joules to kilowatt-hours."""
    return joules / JOULES_PER_KWH
