"""costsim's command line: parse, call the core, format. Bad input: one line on stderr, exit status 2.

This module holds the group and its one-line usage errors; the commands live by family in ``run``,
``sweeps``, ``limits`` and ``inputs``, what they share in ``options``."""
from __future__ import annotations

import signal
import sys

import click

from . import inputs, limits, run, sweeps
from .options import fail

# the shell's status for a command ended by Ctrl-C (128 + SIGINT)
INTERRUPTED_STATUS = 130


class OneLineErrors(click.Group):
    """Usage errors (a bad option value, a missing option) as one line too, not click's usage block; and
    Ctrl-C on any command as one line and exit status 130, not click's "Aborted!" and 1."""

    def main(self, *args, **kwargs):
        """Python's Ctrl-C handler back (the package's start-up one ends the process), then the command."""
        signal.signal(signal.SIGINT, signal.default_int_handler)
        return super().main(*args, **kwargs)

    def invoke(self, ctx):
        """Run the command line, turning a usage error into one line on stderr and exit status 2, and an
        interruption into one line and exit status 130 (files are written whole or not at all)."""
        try:
            return super().invoke(ctx)
        except click.UsageError as err:
            if isinstance(err, getattr(click.exceptions, "NoArgsIsHelpError", ())):
                raise  # a bare group: click prints its help
            hint = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
            fail(err.format_message() + hint)
        except KeyboardInterrupt:
            click.echo("costsim: interrupted", err=True)
            sys.exit(INTERRUPTED_STATUS)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="costsim")
def main():
    """costsim: what a training run costs in time, energy, dollars and CO2, on which hardware."""


main.add_command(run.estimate)
main.add_command(run.compare)
main.add_command(run.plan_command)
main.add_command(run.simulate)
main.add_command(run.strategies_group)
main.add_command(sweeps.sweep)
main.add_command(sweeps.report_command)
main.add_command(sweeps.plot_command)
main.add_command(limits.limits)
main.add_command(limits.project)
main.add_command(limits.quantum)
main.add_command(inputs.profiles)
main.add_command(inputs.workloads)
main.add_command(inputs.data_group)
main.add_command(inputs.calibrate)
main.add_command(inputs.validate)

if __name__ == "__main__":
    main()
