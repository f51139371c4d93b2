"""The ``ponte`` command line: ``ponte hub ...``, ``ponte node ...``, ``ponte demo``."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from hub.cli import hub
from node.cli import node
from ponte.demo import run_demo
from ponte.options import examples

# Every command keeps to these; docs/cli.md says the same. click exits 2 on a usage error.
EXIT_CODES = """\b
Exit codes:
  0  success
  1  the work failed while running: the hub or the mail server could not be
     reached, a sync pass failed. What was done is kept; run it again later.
  2  bad usage or bad input: an unknown option, a missing data dir, a bad file,
     setting or passphrase, a database not ready. Nothing was changed; the
     message says what to do next."""


@examples(
    "ponte demo",
    "ponte hub seed --data-dir /var/lib/ponte/hub",
    "ponte node --help",
)
@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_CODES,
)
@click.version_option(package_name="ponte")
def main() -> None:
    """Ponte: a federated hub for cross-border cooperation between anti-trafficking NGOs.

    `ponte hub` runs the secretariat's hub, `ponte node` an NGO's node; `ponte demo` starts
    both on this machine. Every command has --help with examples; docs/cli.md lists them all.
    """


@examples("ponte demo", "ponte demo --data-dir /tmp/ponte-demo --base-port 6080")
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

    Seeds the hub's directory, enrols both nodes, sends a referral and publishes two items,
    then runs until Ctrl-C; the addresses and the demo passphrases are printed once it runs.
    """
    # SIGTERM ends the demo as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    run_demo(data_dir, base_port)


main.add_command(hub)
main.add_command(node)

if __name__ == "__main__":
    main()
