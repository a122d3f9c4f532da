"""Many devices in one step: collective communication over the links of a profile."""
