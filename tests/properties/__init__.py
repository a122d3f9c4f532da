"""Generated (property-based) tests: hostile and valid inputs through the command line, and the model's invariants."""
