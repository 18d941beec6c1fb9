"""`python -m roles.postgres.tuning`: print the settings Timestack would write for some
hardware (json, or a table with each value's reason); see --help.

A package's __main__, not the tuning module itself, so the module is loaded once: running
it as __main__ after the postgres package imported it would make two copies.
"""

from __future__ import annotations

import argparse
import json
import sys

from roles.hardware import DISKS
from roles.postgres.tuning import Hardware, InvalidHardware, as_dict, compute, render_table
from roles.units import parse_size


def _option(field: str) -> str:
    """The CLI option for a Hardware field: reserve_bytes -> --reserve."""
    return "--" + field.removesuffix("_bytes").replace("_", "-")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)


def _size_arg(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _parser() -> _Parser:
    parser = _Parser(
        prog="python -m roles.postgres.tuning",
        description="Print the PostgreSQL/TimescaleDB settings Timestack would write.",
    )
    size_help = "e.g. 64GiB, 512MB (GB = GiB = 1024^3 bytes)"
    parser.add_argument("--memory", required=True, type=_size_arg, help=f"RAM, {size_help}")
    parser.add_argument("--cpus", required=True, type=int, help="usable CPUs")
    parser.add_argument("--disk", required=True, choices=DISKS, help="data disk type")
    parser.add_argument("--pg-version", required=True, type=int, help="PostgreSQL major, 13-18")
    parser.add_argument("--wal-disk", type=_size_arg, help=f"WAL disk size, {size_help}")
    parser.add_argument(
        "--reserve", type=_size_arg, default=0, help="memory of co-located services"
    )
    parser.add_argument("--max-connections", type=int, help="default: by memory")
    parser.add_argument("--format", choices=("json", "table"), default="json")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        hw = Hardware(
            memory_bytes=args.memory,
            cpus=args.cpus,
            disk=args.disk,
            pg_version=args.pg_version,
            wal_disk_bytes=args.wal_disk,
            reserve_bytes=args.reserve,
            max_connections=args.max_connections,
        )
        settings = compute(hw)
    except _UsageError as exc:
        print(parser.format_usage().rstrip(), file=sys.stderr)
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except InvalidHardware as exc:
        print(f"{parser.prog}: error: argument {_option(exc.field)}: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(as_dict(settings), indent=2))
    else:
        print(render_table(hw, settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
