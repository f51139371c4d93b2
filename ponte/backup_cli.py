"""``ponte hub backup|restore`` and ``ponte node backup|restore``: one pair of commands, made
for each service (the work is in ponte.backup; docs/backup.md)."""

from __future__ import annotations

from pathlib import Path

import click

from ponte.options import BadInput, data_dir_option, examples
from ponte.progress import steps

# What a backup of each service holds besides its sealed keys: why it must be kept safe.
CONTENTS = {
    "hub": "the directory, the member nodes, the secretariat's accounts and publications",
    "node": "the organisation's cases (referrals, their files and history) and accounts",
}
PASSPHRASE = {"hub": "PONTE_HUB_PASSPHRASE", "node": "PONTE_PASSPHRASE"}

BACKUP_HELP = """Back up the {service}'s database and key files into one archive.

The archive (tar.gz, mode 0600) holds the database and the key files as they are on disk:
the keys stay sealed with {passphrase}, but the database holds {contents}. Keep it encrypted
and where only the {service}'s admins can read it (docs/backup.md). It is safe to run while
the {service} runs; on PostgreSQL (DATABASE_URL) it uses pg_dump. `ponte {service} restore`
puts it back.
"""

RESTORE_HELP = """Restore a backup made by `ponte {service} backup` into a data dir.

Checks the archive (its manifest and every checksum) and the target first. The data dir
must be empty, and so must the database when DATABASE_URL names a PostgreSQL one: --force
replaces the {service}'s database and key files in a data dir that is not, --force --clean
also a PostgreSQL database that is not. Stop the {service} first, and start it afterwards
with the same {passphrase} as before.
"""


class BackupRefused(BadInput):
    """Bad input (a damaged archive, a wrong target): exit code 2, nothing was changed."""


def backup_commands(service: str) -> list[click.Command]:
    """The ``backup`` and ``restore`` commands of ``service`` ("hub" or "node")."""
    texts = {"service": service, "passphrase": PASSPHRASE[service], "contents": CONTENTS[service]}
    directory = f"/var/lib/ponte/{service}"  # in the examples

    @examples(
        f"ponte {service} backup --data-dir {directory} \\\n"
        f'  --output "/var/backups/ponte/{service}-$(date +%F).tar.gz"'
    )
    @click.command("backup", help=BACKUP_HELP.format(**texts))
    @data_dir_option
    @click.option(
        "--output",
        "-o",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="The archive to write (replaced if it exists).",
    )
    def backup(data_dir: Path, output: Path) -> None:
        from ponte.backup import BackupError, create_backup

        try:
            with steps(f"Backing up the {service}") as report:
                manifest = create_backup(service, data_dir, output, report)
        except BackupError as error:
            raise BackupRefused(str(error)) from error
        files = ", ".join(Path(name).name for name in manifest.files)
        click.echo(f"Backed up the {service} to {output}: {files}.")

    @examples(
        f"ponte {service} restore --data-dir {directory} \\\n"
        f"  /var/backups/ponte/{service}-2026-11-30.tar.gz",
        "# into a used data dir (--clean: and a PostgreSQL database that holds tables):",
        f"ponte {service} restore --force --clean --data-dir {directory} \\\n"
        f"  /var/backups/ponte/{service}-2026-11-30.tar.gz",
    )
    @click.command("restore", help=RESTORE_HELP.format(**texts))
    @data_dir_option
    @click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--force", is_flag=True, help="Replace the database and keys of a used data dir.")
    @click.option(
        "--clean", is_flag=True, help="With --force: drop what a PostgreSQL database holds first."
    )
    def restore(data_dir: Path, archive: Path, force: bool, clean: bool) -> None:
        from ponte.backup import BackupError, restore_backup

        try:
            with steps(f"Restoring the {service}") as report:
                restored = restore_backup(
                    service, data_dir, archive, force=force, clean=clean, report=report
                )
        except BackupError as error:
            raise BackupRefused(f"{error} Nothing was changed.") from error
        manifest = restored.manifest
        keys = ", ".join(restored.key_files) or "no key files"
        click.echo(
            f"Restored the {service} from {archive} (made {manifest.created} by Ponte "
            f"{manifest.ponte_version}): its {manifest.database} database and {keys}."
        )
        if restored.indexed is not None:
            click.echo(f"Search index rebuilt: {restored.indexed} organisations.")
        if restored.not_ready:
            click.echo(f"The {service} cannot start on it yet. {restored.not_ready}", err=True)
        click.echo(
            f"Start the {service} with the same {PASSPHRASE[service]} as before: "
            "its keys are still sealed with it."
        )

    return [backup, restore]
