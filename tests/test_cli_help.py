"""The command line helps: every command's --help has a description and examples that really
run (their command exists, their options are its own), progress shows only at a terminal,
errors exit with the documented code and say what to do next, docs/cli.md lists everything."""

from __future__ import annotations

import io
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ponte.cli import main
from ponte.progress import progress_bar, spinner, steps
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
SETTING = re.compile(r"[A-Z][A-Z0-9_]*=")  # PONTE_PASSPHRASE=... before the command
SHELL_OPERATORS = {">", ">>", "|", "&&", ";"}  # what follows is the shell's, not ponte's
BAR_TEXT = ("━", "Importing organisations", "Indexing organisations")


CommandPath = tuple[str, ...]


def walk(
    command: click.Command, path: CommandPath = ("ponte",)
) -> Iterator[tuple[CommandPath, click.Command]]:
    """Every command under ``command`` (hidden ones too), as (path, command)."""
    yield path, command
    if isinstance(command, click.Group):
        for name, child in sorted(command.commands.items()):
            yield from walk(child, (*path, name))


TREE = dict(walk(main))
PATHS = [" ".join(path) for path in TREE]


def help_of(path: str) -> str:
    result = CliRunner().invoke(main, [*path.split()[1:], "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def examples_in(help_text: str) -> list[str]:
    """The example command lines under "Example:"/"Examples:", continuation lines joined,
    comment lines left out."""
    lines = help_text.splitlines()
    headings = [i for i, line in enumerate(lines) if re.fullmatch(r"\s*Examples?:", line)]
    if not headings:
        return []
    start, block = headings[0], []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        block.append(line.strip())
    joined = "\n".join(block).replace("\\\n", " ")
    return [line for line in joined.splitlines() if not line.startswith("#")]


def resolve(example: str) -> tuple[tuple[str, ...], click.Command, click.Context, list[str]]:
    """The command an example runs (its path, the command, a context) and its arguments."""
    words = shlex.split(example)
    while words and SETTING.match(words[0]):
        words.pop(0)
    for position, word in enumerate(words):
        if word in SHELL_OPERATORS:
            words = words[:position]
            break
    assert words[:1] == ["ponte"], f"an example must run ponte: {example}"
    command: click.Command = main
    context = click.Context(main, info_name="ponte", **main.context_settings)
    path, args = ("ponte",), words[1:]
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        child = command.get_command(context, args[0])
        assert child is not None, f"no command {args[0]!r} in {' '.join(path)}: {example}"
        command, path, args = child, (*path, args[0]), args[1:]
        context = click.Context(command, info_name=path[-1], parent=context)
    return path, command, context, args


def check_arguments(command: click.Command, context: click.Context, args: list[str]) -> None:
    """Parse ``args`` as ``command`` would: no unknown option, no option without its value,
    no extra argument, every required parameter given, every value of its type (paths are
    not checked: the example's files are not here)."""
    parser = command.make_parser(context)
    try:
        values, extra, _ = parser.parse_args(list(args))  # it consumes the list it is given
    except click.UsageError as error:
        raise AssertionError(f"{error.format_message()} in: ponte ... {' '.join(args)}") from None
    params = command.get_params(context)
    if any(param.is_eager and param.name in values for param in params):
        return  # --help, --version: nothing else is needed
    assert not extra or isinstance(command, click.Group), f"extra arguments {extra}"
    for param in params:
        given = values.get(param.name)
        if param.required:
            assert given not in (None, ()), f"{param.name} is required: {args}"
        if given not in (None, ()) and not isinstance(param.type, click.Path):
            try:
                param.type_cast_value(context, given)
            except click.BadParameter as error:  # a wrong --role, --port...
                raise AssertionError(f"{param.name}: {error.format_message()}") from None


@pytest.mark.parametrize("path", PATHS)
def test_every_command_has_a_description_and_an_example(path):
    command = TREE[tuple(path.split())]
    assert command.get_short_help_str().strip(), f"{path} has no description"
    shown = help_of(path)
    assert examples_in(shown), f"{path} --help shows no example"


@pytest.mark.parametrize("path", PATHS)
def test_every_example_runs_a_real_command_with_its_own_options(path):
    ran = []
    for example in examples_in(help_of(path)):
        command_path, command, context, args = resolve(example)
        check_arguments(command, context, args)
        ran.append(" ".join(command_path))
    # A command's examples show that command; a group's show it or commands in it.
    assert any(name == path or name.startswith(path + " ") for name in ran), ran


@pytest.mark.parametrize(
    "example",
    [
        "ponte hub seed --dta-dir /srv/hub",  # a misspelt option
        "ponte hub reindex",  # --data-dir is required
        "ponte node add-user --data-dir /srv/node --email a@b.example --role root",
        "ponte hub serve --data-dir /srv/hub --port 0",
        "ponte hub reindex --data-dir /srv/hub extra",
        "ponte hub refer --data-dir /srv/hub",  # refer is a node command
        "PONTE_PASSPHRASE=... ponte-node sync --data-dir /srv/node",
    ],
)
def test_the_example_check_refuses_what_would_not_run(example):
    with pytest.raises(AssertionError):
        _, command, context, args = resolve(example)
        check_arguments(command, context, args)


def test_the_tree_has_every_command_family():
    families = ["hub seed", "node sync", "hub backup", "node restore", "hub new-migration"]
    assert {f"ponte {name}" for name in [*families, "node decline", "demo"]} <= set(PATHS)


def test_the_root_help_documents_the_exit_codes():
    shown = help_of("ponte")
    codes = shown[shown.index("Exit codes:") :]
    for code, meaning in (("0", "success"), ("1", "failed while running"), ("2", "bad usage")):
        assert re.search(rf"^\s+{code}\s+.*{meaning}", codes, re.MULTILINE), codes


# --- progress ------------------------------------------------------------------------------


def test_off_a_terminal_there_are_no_bars_and_the_summary_line_stays(tmp_path):
    partners = tmp_path / "partners.csv"
    partners.write_text("name,country\nAtina,GR\nPayoke,BE\n", encoding="utf-8")
    data_dir = str(tmp_path / "hub")
    runner = CliRunner()  # its stderr is no terminal, as in CI or a timer's log
    seeded = runner.invoke(main, ["hub", "seed", "--data-dir", data_dir, str(partners)])
    assert seeded.exit_code == 0, seeded.output
    assert seeded.stdout.startswith("Imported 2 organisations: 2 new")
    reindexed = runner.invoke(main, ["hub", "reindex", "--data-dir", data_dir])
    assert reindexed.stdout == "Indexed 2 organisations.\n"
    written = tmp_path / "directory.json"
    exported = runner.invoke(main, ["hub", "export-hsds", "--data-dir", data_dir, "-o", written])
    assert f"Exported 2 organisations to {written}." in exported.stderr
    names = {org["name"] for org in json.loads(written.read_text(encoding="utf-8"))}
    assert names == {"Atina", "Payoke"}
    for result in (seeded, reindexed, exported):  # (stderr may hold the app's log lines)
        assert not any(text in result.output for text in BAR_TEXT), result.output


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_steps_are_plain_lines():
    log = io.StringIO()
    with steps("Backing up the hub", log) as report, spinner("Syncing", log) as show:
        report("Copying the database")
        show("Receiving")
    assert log.getvalue() == "Copying the database...\n"


def test_at_a_terminal_bars_and_spinners_draw_on_the_stream(monkeypatch):
    monkeypatch.delenv("TERM", raising=False)
    terminal = Terminal()
    with progress_bar("Indexing organisations", terminal) as progress:
        progress(500, 1000)
    with spinner("Syncing with the hub", terminal) as show:
        show("Receiving")
    with steps("Backing up the hub", terminal) as report:
        report("Copying the database [hub.sqlite3]")
    drawn = terminal.getvalue()
    assert "Indexing organisations" in drawn and "500/1000" in drawn
    assert "Syncing with the hub" in drawn or "Receiving" in drawn
    assert "Copying the database [hub.sqlite3]...\n" in drawn  # the step stays as a line
    dumb = Terminal()
    monkeypatch.setenv("TERM", "dumb")
    with progress_bar("Indexing organisations", dumb) as progress:
        progress(1, 2)
    assert dumb.getvalue() == ""


# --- errors: the exit code, and what to do next ----------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["hub", "reindex"],
        ["hub", "export-hsds"],
        ["hub", "publish-due"],
        ["hub", "invite", "--org", "x"],
    ],
    ids=lambda args: " ".join(args),
)
def test_a_missing_hub_data_dir_exits_2_and_says_how_to_make_one(tmp_path, args):
    missing = tmp_path / "no-such-hub"
    result = CliRunner().invoke(main, [*args, "--data-dir", str(missing)])
    assert result.exit_code == 2, result.output
    assert f"No hub data dir at {missing}" in result.output
    assert f"run `ponte hub seed --data-dir {missing}` first" in result.output
    assert not missing.exists()  # a mistyped --data-dir does not start an empty hub


@pytest.mark.parametrize("args", [["referrals"], ["sync"], ["news"], ["rotate-keys"]])
def test_a_node_that_is_not_enrolled_exits_2_and_names_init(tmp_path, args):
    missing = tmp_path / "no-such-node"
    result = CliRunner().invoke(main, ["node", *args, "--data-dir", str(missing)])
    assert result.exit_code == 2, result.output
    assert f"No enrolled node in {missing}" in result.output
    assert f"ponte node init --data-dir {missing} --hub URL --invite TOKEN" in result.output
    assert not missing.exists()


def test_an_unknown_option_is_a_usage_error():
    result = CliRunner().invoke(main, ["hub", "reindex", "--data-dri", "x"])
    assert result.exit_code == 2 and "No such option" in result.output


def test_joining_a_hub_that_does_not_answer_exits_1_and_changes_nothing(tmp_path):
    data_dir = tmp_path / "node"
    hub_url = f"http://127.0.0.1:{free_port()}"
    args = ["node", "init", "--data-dir", str(data_dir), "--hub", hub_url, "--invite", "x"]
    result = CliRunner().invoke(main, args, env={"PONTE_PASSPHRASE": "a long test passphrase"})
    assert result.exit_code == 1, result.output
    assert f"Cannot reach the hub at {hub_url}" in result.output
    assert "No keys were written." in result.output
    assert "run the command again" in result.output
    assert not (data_dir / "keystore.json").exists()


def enrolled_offline(data_dir: Path, hub_url: str, passphrase: str) -> None:
    """A node's keystore and enrolment as `ponte node init` leaves them, for a hub at
    ``hub_url`` that is not running (cheap Argon2id: unlocking is not what is tested)."""
    from dataclasses import asdict

    from node.enrolment import Enrolment, enrolment_path, keystore_path, new_node_id
    from protocol import NodeIdentity
    from protocol.keystore import INTERACTIVE, seal_keystore, write_keystore

    data_dir.mkdir()
    identity, hub = NodeIdentity.generate(new_node_id()), NodeIdentity.generate("hub")
    write_keystore(keystore_path(data_dir), seal_keystore([identity], passphrase, INTERACTIVE))
    enrolment = Enrolment(
        hub_url, identity.node_id, "org-1", "Atina", hub.public_record().to_dict()
    )
    enrolment_path(data_dir).write_text(json.dumps(asdict(enrolment)), encoding="utf-8")


def test_a_sync_that_cannot_reach_the_hub_exits_1_and_keeps_the_queue(tmp_path):
    data_dir, hub_url = tmp_path / "node", f"http://127.0.0.1:{free_port()}"
    enrolled_offline(data_dir, hub_url, "a long test passphrase")
    result = CliRunner().invoke(
        main,
        ["node", "sync", "--data-dir", str(data_dir)],
        env={"PONTE_PASSPHRASE": "a long test passphrase"},
    )
    assert result.exit_code == 1, result.output
    assert f"Cannot reach the hub at {hub_url}" in result.output
    assert "Queued messages stay queued" in result.output
    assert "a long test passphrase" not in result.output


# --- docs/cli.md ------------------------------------------------------------------------------


def test_docs_cli_md_lists_every_command_with_an_example_and_the_exit_codes():
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    parts = re.split(r"^#+ `(ponte[^`]*)`$", text, flags=re.MULTILINE)
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    assert set(sections) == set(PATHS), set(PATHS) ^ set(sections)
    for path, section in sections.items():
        blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
        lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
        ran = [" ".join(resolve(line)[0]) for line in lines if line and line[0] != "#"]
        assert any(name == path or name.startswith(path + " ") for name in ran), path
    assert re.search(r"^## Exit codes", text, re.MULTILINE)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/cli.md)" in readme
