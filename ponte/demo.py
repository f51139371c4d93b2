"""``ponte demo``: a hub and two NGO nodes on this machine, on embedded defaults."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import click

from ponte.datadir import ensure_data_dir

READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class Service:
    label: str
    group: str
    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "ponte.cli",
            self.group,
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.port),
        ]


def demo_services(data_dir: Path, base_port: int) -> list[Service]:
    return [
        Service("hub", "hub", data_dir / "hub", base_port),
        Service("node A", "node", data_dir / "node-a", base_port + 1),
        Service("node B", "node", data_dir / "node-b", base_port + 2),
    ]


def wait_ready(service: Service, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException(f"the {service.label} stopped while starting")
        try:
            with urllib.request.urlopen(service.url + "healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise click.ClickException(f"the {service.label} did not become ready on {service.url}")


def seed_hub(hub_dir: Path) -> None:
    """Import the shipped directory into the demo hub (a no-op when it is already there)."""
    command = [sys.executable, "-m", "ponte.cli", "hub", "seed", "--data-dir", str(hub_dir)]
    if subprocess.run(command, check=False).returncode != 0:
        raise click.ClickException("the directory could not be imported; see the output above")


def run_demo(data_dir: Path, base_port: int) -> None:
    data_dir = ensure_data_dir(data_dir)
    services = demo_services(data_dir, base_port)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        seed_hub(services[0].data_dir)
        for service in services:
            processes.append(subprocess.Popen(service.command()))
        deadline = time.monotonic() + READY_TIMEOUT
        for service, process in zip(services, processes, strict=True):
            wait_ready(service, process, deadline)
        click.echo("\nPonte is running:")
        for service in services:
            click.echo(f"  {service.label:7} {service.url}   (data: {service.data_dir})")
        click.echo("Press Ctrl-C to stop.")
        sys.stdout.flush()
        _wait_any(processes)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM, at any moment: stop everything cleanly
        click.echo("\nStopping Ponte...")
    finally:
        _stop(processes)


def _wait_any(processes: list[subprocess.Popen[bytes]]) -> None:
    while all(process.poll() is None for process in processes):
        time.sleep(0.5)
    raise click.ClickException("a Ponte service stopped unexpectedly; see its output above")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
