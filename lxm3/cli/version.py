"""`lxm3 version`."""

from __future__ import annotations

import argparse


def add_parser(parser: argparse.ArgumentParser) -> None:
    del parser


def run(namespace: argparse.Namespace) -> int:
    from lxm3 import __version__

    print(f"lxm3 {__version__}")
    return 0
