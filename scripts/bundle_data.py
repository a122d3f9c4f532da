#!/usr/bin/env python3
"""Refresh the data sets bundled in the package (``simulator/data/``) from the repository's shared
folder, the source of every bundled copy. ``--check`` only reports the files that differ (exit 1).

    python scripts/bundle_data.py [--shared ../shared] [--check]
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.files.bundled import DATASETS, bundled_root  # noqa: E402


def main() -> int:
    """Copy (or with --check, compare) every bundled file from its source: 0, 1 on a difference under --check,
    2 where a source is missing."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="the shared folder")
    ap.add_argument("--check", action="store_true", help="report differences, copy nothing")
    args = ap.parse_args()
    differ = []
    for ds in (d for d in DATASETS.values() if d.source):  # the others are compiled here: no copy to make
        folder = bundled_root() / ds.name
        folder.mkdir(parents=True, exist_ok=True)
        for name, source in ds.files.items():
            src, dst = args.shared / source, folder / name
            if not src.is_file():
                print(f"missing source: {src}", file=sys.stderr)
                return 2
            if dst.is_file() and dst.read_bytes() == src.read_bytes():
                continue
            differ.append(f"{ds.name}/{name}")
            if not args.check:
                shutil.copyfile(src, dst)
    for d in differ:
        print(("differs: " if args.check else "copied: ") + d)
    return 1 if (args.check and differ) else 0


if __name__ == "__main__":
    raise SystemExit(main())
