"""The ``ponte`` command line: ``ponte hub ...``, ``ponte node ...``, ``ponte demo``."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from hub.cli import hub
from node.cli import node
from ponte.demo import run_demo


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ponte")
def main() -> None:
    """Ponte: a federated hub for cross-border cooperation between anti-trafficking NGOs.

    Exit codes: 0 success, 1 failure while running, 2 bad usage or bad input.
    """


@main.command()
@click.option(
    "--data-dir",
    default=Path(".ponte-demo"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory holding the hub's and the nodes' data.",
)
@click.option(
    "--base-port",
    default=5080,
    show_default=True,
    type=click.IntRange(1, 65533),
    help="The hub listens here, the nodes on the next two ports.",
)
def demo(data_dir: Path, base_port: int) -> None:
    """Start a hub and two NGO nodes on this machine, on embedded defaults.

    \b
    Example:
      ponte demo --data-dir /tmp/ponte-demo
    """
    # SIGTERM ends the demo as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    run_demo(data_dir, base_port)


main.add_command(hub)
main.add_command(node)

if __name__ == "__main__":
    main()
