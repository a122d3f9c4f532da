"""Run options: everything about a run that is neither the device nor the model (device count, plan,
grid, facility, pricing)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ..units import SECONDS_PER_YEAR, kg_co2_per_joule, usd_per_joule
from .hardware import Input, NonNegativeFloat, PositiveFloat, PositiveInt
from .plan import Plan
from .regions import (
    DEFAULT_ELECTRICITY_USD_PER_KWH,
    DEFAULT_LIFETIME_YEARS,
    DEFAULT_PUE,
    DEFAULT_REGION,
    GRID_G_CO2_PER_KWH,
)


class RunOptions(Input):
    """Everything about a run that is neither the device nor the model.

    Attributes:
        devices: devices in the run (``tp x pp x dp`` of the plan).
        plan: how the step is split over the devices; default: data parallel over all of them.
        region: a named grid of ``GRID_G_CO2_PER_KWH`` for the carbon intensity; default: ``world``.
        grid_kg_co2_per_joule: carbon intensity in kg CO2e per joule of the run's whole energy; overrides
            region.
        pue: power usage effectiveness, facility energy over IT (device and host) energy, at least 1.
        pricing: ``cloud`` (rental per device-hour), ``owned`` (purchase amortised over ``lifetime_s``
            plus electricity), or ``auto``: cloud where the profile has a cloud price, else owned.
        lifetime_s: owned pricing: seconds over which the purchase price is amortised.
        electricity_usd_per_joule: owned pricing: US dollars per joule of the run's whole energy (device,
            host and facility overhead).
    """

    devices: PositiveInt = 1
    plan: Plan | None = Field(default=None, description="how the step is split; default: data parallel")
    region: str | None = None
    grid_kg_co2_per_joule: PositiveFloat | None = Field(default=None, description="overrides region")
    pue: float = Field(default=DEFAULT_PUE, ge=1.0, allow_inf_nan=False, description="facility energy / IT energy")
    pricing: Literal["auto", "cloud", "owned"] = "auto"  # auto: cloud where the profile has a cloud price
    lifetime_s: PositiveFloat = DEFAULT_LIFETIME_YEARS * SECONDS_PER_YEAR
    electricity_usd_per_joule: NonNegativeFloat = usd_per_joule(DEFAULT_ELECTRICITY_USD_PER_KWH)

    @model_validator(mode="after")
    def _region_known(self):
        if self.region is not None and self.region not in GRID_G_CO2_PER_KWH:
            raise ValueError(f"unknown region '{self.region}'; known: {', '.join(GRID_G_CO2_PER_KWH)}")
        return self

    def grid(self) -> tuple[float, str]:
        """The grid's carbon intensity in kg CO2e per joule, and a note saying where it comes from."""
        if self.grid_kg_co2_per_joule is not None:
            return self.grid_kg_co2_per_joule, "grid intensity given by the user"
        name = self.region or DEFAULT_REGION
        g, source = GRID_G_CO2_PER_KWH[name]
        return kg_co2_per_joule(g), f"grid '{name}': {g:g} gCO2e/kWh ({source})"
