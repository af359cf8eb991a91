"""Deployment commands read the way the ``m3e`` command reads them (its own argparse parser)."""

from __future__ import annotations

import argparse

from m3e.cli import build_parser

# Flags a deployment file already passes that another branch adds to the command line: the
# relay's control token by file (robust-cli, issue 18; docker-compose.yml shares it). Each takes
# one value. Once that branch is merged the parser knows them and this allowance is unused.
PENDING = {"--control-token-file"}


def parse(argv: list[str]) -> argparse.Namespace:
    """``argv`` (without the leading ``m3e``) as the CLI parses it; an error for any flag the CLI
    does not accept (SystemExit from argparse), or a pending flag without its value."""
    args, unknown = build_parser().parse_known_args(argv)
    while unknown:
        flag = unknown.pop(0)
        assert flag in PENDING, f"m3e {argv[0]}: unknown argument {flag!r}"
        assert unknown and not unknown.pop(0).startswith("-"), f"{flag} needs a value"
    return args


def port_of(address: str) -> int:
    """The port of ``HOST:PORT``."""
    return int(address.rsplit(":", 1)[1])
