"""Named electricity grids (carbon intensity) and facility classes (PUE), each with its source."""
from __future__ import annotations

from types import MappingProxyType

# name -> (grams CO2e per kWh, source). Operational intensities where the source is Patterson et al.;
# Ember/OWID figures are lifecycle-based (they include upstream emissions).
GRID_G_CO2_PER_KWH = MappingProxyType({
    "world": (481.0, "Ember 2023 world average generation intensity (via Statista, Jul 2024)"),
    "us": (429.0, "Patterson et al. 2021, 'Carbon Emissions and Large Neural Network Training', US average 2020"),
    "us-central1": (394.0, "Luccioni et al. 2022, GCP us-central1 (Iowa)"),
    "france": (56.0, "Ember/OWID 2023"),
    "norway": (30.0, "Ember 2023 (via Statista)"),
    "sweden": (40.7, "Ember 2023 EU chart (via Statista)"),
    "finland": (79.0, "Ember/OWID 2023"),
    "brazil": (98.0, "Ember/OWID 2023"),
    "canada": (170.0, "Ember/OWID 2023"),
    "ireland": (291.0, "Ember/OWID 2023"),
    "germany": (381.0, "Ember/OWID 2023"),
    "australia": (549.0, "Ember/OWID 2023"),
    "china": (582.0, "Ember/OWID 2023"),
    "poland": (662.0, "Ember 2023 EU chart (via Statista)"),
    "india": (713.0, "Ember/OWID 2023"),
})
DEFAULT_REGION = "world"

PUE = MappingProxyType({
    "industry-average": (1.58, "Uptime Institute global survey 2023"),
    "hyperscale": (1.10, "Google fleet ~1.10 (2021); Azure 1.10 in Patterson et al. 2021"),
    "ideal": (1.0, "no facility overhead: the device and host energy alone"),
})
DEFAULT_PUE = PUE["industry-average"][0]

# Assumptions for owned hardware (used only with pricing='owned').
DEFAULT_LIFETIME_YEARS = 4.0  # typical accelerator depreciation schedule; an assumption, not a fact
DEFAULT_ELECTRICITY_USD_PER_KWH = 0.08  # assumption: roughly US industrial electricity prices 2023-24
