"""The whole run: the closed-form estimate, the plan search, the SimPy simulation on top of it, and sweeps."""
