"""What-if strategies (compression, placement, architecture search) as changes to a training run, priced
against the baseline with break-even figures: ``spec`` (the ``--strategy`` language and the declaration
type), ``scenario`` (phases), ``compression``, ``placement`` and ``architecture`` (the strategies, each
declared beside its function), ``pricing``, and ``catalogue`` (all of them by name, and the cost table)."""
