"""costsim command line."""
