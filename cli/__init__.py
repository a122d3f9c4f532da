"""costsim command line.

Run as a program (``costsim``, ``python -m cli.main``), Ctrl-C while the modules still load ends it at
once with the one line every interruption gets (exit status 130, nothing written yet); the command
group puts Python's own handler back before it parses the command line (``main.OneLineErrors``)."""
import os
import signal
import sys


def _interrupted_while_starting(signum, frame):  # pragma: no cover - exercised by a real SIGINT in the tests
    sys.stderr.write("costsim: interrupted\n")
    sys.stderr.flush()
    os._exit(130)


if sys.argv and (sys.argv[0] == "-m" or os.path.basename(sys.argv[0]) == "costsim"):
    signal.signal(signal.SIGINT, _interrupted_while_starting)
