"""Deployment commands read the way the ``m3e`` command reads them (its own argparse parser)."""

from __future__ import annotations

import argparse

from m3e.cli import build_parser


def parse(argv: list[str]) -> argparse.Namespace:
    """``argv`` (without the leading ``m3e``) as the CLI parses it; SystemExit from argparse for
    any flag the CLI does not accept."""
    return build_parser().parse_args(argv)


def port_of(address: str) -> int:
    """The port of ``HOST:PORT``."""
    return int(address.rsplit(":", 1)[1])
