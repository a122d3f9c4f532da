"""What-if strategies (compression, placement, architecture search, pricing) as changes to an estimate,
with break-even figures."""
