"""Scale-out: several hub instances, each with its own data dir, on one PostgreSQL database.

First the change-log follower (hub/search_follower.py) in process: two apps on two data dirs
sharing one database, and an app alone on its database, where the follower only meets its own
writes. Then two real hub processes under gunicorn: a directory change made through one is
found through the other within 5 seconds, the relay works across them, sign-ins and the hub
key are shared, and the second instance catches up after a stop and rebuilds a lost index.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from whoosh import index as whoosh_index
from whoosh.util.filelock import FileLock

from directory.catalogue import import_directory, organisations_with_details
from directory.changes import latest_seq, record_changes
from directory.importer import import_records
from directory.models import DirectoryChange, Organization
from directory.profile import apply_profile_update
from directory.search import INDEX_NAME, IndexBusy, SearchQuery
from hub import create_app
from hub.extensions import db
from hub.search_follower import (
    CURSOR_FILE,
    LOCK_FILE,
    CatchUp,
    FollowerBusy,
    follow_search_index,
    search_follower,
)
from hub.search_index import INDEX_DIR, search_index
from node.enrolment import init_node
from node.hub_client import HubClient
from ponte.cli import main
from protocol import MemorySeenIds, b64url_decode, open_envelope, profile_update, seal
from protocol.keystore import INTERACTIVE
from tests.conftest import free_port, wait_for
from tests.test_relay import referral

HUB_PASSPHRASE = "hub passphrase for the scale-out tests"
NODE_PASSPHRASE = "node passphrase for the scale-out tests"
ADMIN, ADMIN_PASSWORD = "ana@secretariat.example", "a long enough password"
MAX_DELAY = 5.0  # seconds from a change's commit to finding it through the other instance


def record(name: str, notes: str = "", country: str = "IT") -> dict[str, object]:
    return {
        "name": name,
        "country": country,
        "kind": "ngo",
        "services": ["Shelter"],
        "notes": notes,
    }


# --- in process: two apps, two data dirs, one database ----------------------------------------


@pytest.fixture
def apps() -> Iterator[list[Flask]]:
    """Apps to close after the test: PostgreSQL counts connections."""
    made: list[Flask] = []
    yield made
    for app in made:
        with app.app_context():
            search_follower().stop()
            search_index().close()
            db.engine.dispose()


@pytest.fixture
def instance(postgres, tmp_path, apps):
    """``instance(name)``: a hub app on data dir ``name``, every one on the same database."""
    url = postgres.database(f"so_{uuid.uuid4().hex[:16]}")

    def make(name: str, **settings: object) -> Flask:
        config = {"SQLALCHEMY_DATABASE_URI": url, "SEARCH_FOLLOW_INTERVAL": 0, **settings}
        app = create_app(tmp_path / name, config)
        apps.append(app)
        return app

    return make


def names(app: Flask, text: str) -> list[str]:
    with app.app_context():
        result = search_index().search(SearchQuery(text=text, per_page=100))
    return [hit.organisation["name"] for hit in result.hits]


def indexed(app: Flask) -> int:
    with app.app_context():
        return search_index().count()


def catch_up(app: Flask, **kwargs: float) -> CatchUp:
    with app.app_context():
        return search_follower().catch_up(db.session, **kwargs)


def cursor(app: Flask) -> int | None:
    with app.app_context():
        return search_follower().applied_seq()


def latest(app: Flask) -> int:
    with app.app_context():
        return latest_seq(db.session)


def write(app: Flask, *records: dict[str, object]) -> list[str]:
    """Import records through ``app`` as the CSV and HSDS imports do, indexing them there."""
    with app.app_context():
        report = import_records(db.session, list(records))
        search_index().update(organisations_with_details(db.session, report.organisation_ids))
        return report.organisation_ids


def test_a_change_through_one_instance_reaches_the_others_index(instance):
    one, two = instance("one"), instance("two")
    with one.app_context():
        import_directory(db.session, search_index())  # the seed
    assert names(two, "ADPARE") == [] and indexed(two) == 0
    caught = catch_up(two)  # an empty index is filled by a rebuild: only what changed would not
    assert caught.rebuilt and indexed(two) == 225 and cursor(two) == caught.seq == latest(one)
    adpare = names(one, "ADPARE")[0]
    assert names(two, "ADPARE")[0] == adpare
    with one.app_context():
        import_directory(db.session, search_index())  # again: 225 entries more
    caught = catch_up(two)
    assert (caught.applied, caught.rebuilt) == (225, False) and indexed(two) == 225
    with one.app_context():  # a self-service update, as the profile API applies it
        [org] = db.session.scalars(select(Organization).where(Organization.name == adpare))
        apply_profile_update(db.session, org, {"description": "Quillwort garden."}, "test")
        db.session.commit()
    assert names(two, "Quillwort") == []
    assert catch_up(two).applied == 1
    assert names(two, "Quillwort") == [adpare]


def test_applying_entries_again_changes_nothing(instance):
    one, two = instance("one"), instance("two")
    write(one, record("Kingfisher Refuge", "Heron"), record("Heron House", "Kingfisher"))
    assert catch_up(two).rebuilt  # entries 1-2, into an empty index
    write(one, record("Kingfisher Refuge", "Heron, egret"))  # entry 3
    assert catch_up(two).applied == 1
    before = names(two, "kingfisher heron egret")
    assert before == ["Kingfisher Refuge", "Heron House"]
    assert catch_up(two).applied == 0  # nothing new
    (two.config["DATA_DIR"] / INDEX_DIR / CURSOR_FILE).write_text("0\n")  # as after a crash
    assert catch_up(two).applied == 3
    assert names(two, "kingfisher heron egret") == before and indexed(two) == 2
    assert names(one, "kingfisher heron egret") == before  # the writer's own index agrees


def test_an_organisation_removed_from_the_database_leaves_every_index(instance):
    one, two = instance("one"), instance("two")
    [gone] = write(one, record("Kingfisher Refuge"))
    write(one, record("Heron House"))
    catch_up(two)
    assert names(two, "Kingfisher") == ["Kingfisher Refuge"]
    with one.app_context():  # no command removes an organisation yet: as an admin would
        db.session.delete(db.session.get(Organization, gone))
        record_changes(db.session, [gone], "delete")
        db.session.commit()
    assert catch_up(two).applied == 1
    assert names(two, "Kingfisher") == [] and indexed(two) == 1


def test_the_cursor_is_kept_and_a_restarted_instance_catches_up_at_start(instance):
    one, two = instance("one"), instance("two")
    write(one, record("Kingfisher Refuge"))
    catch_up(two)
    assert cursor(two) == latest(one) == 1
    del two  # stopped; meanwhile, through one:
    write(one, record("Heron House"))
    again = instance("two")  # the same data dir: starting brings it up to date
    assert names(again, "Heron") == ["Heron House"] and cursor(again) == 2
    assert catch_up(again).applied == 0


def test_an_index_that_cannot_be_trusted_is_rebuilt(instance):
    one, two = instance("one"), instance("two")
    write(one, record("Kingfisher Refuge"), record("Heron House"))
    catch_up(two)
    index_dir = two.config["DATA_DIR"] / INDEX_DIR
    with two.app_context():
        search_index().close()
    shutil.rmtree(index_dir)  # lost, or deleted to recover from damage
    rebuilt = instance("two")
    assert indexed(rebuilt) == 2 and cursor(rebuilt) == 2
    (index_dir / CURSOR_FILE).write_text("99\n")  # ahead: the database was restored
    caught = catch_up(rebuilt)
    assert caught.rebuilt and caught.seq == 2 and cursor(rebuilt) == 2 and indexed(rebuilt) == 2


def test_a_busy_index_is_left_for_the_next_look(instance):
    one, two = instance("one"), instance("two")
    write(one, record("Kingfisher Refuge"))
    catch_up(two)
    write(one, record("Heron House"))
    index_dir = two.config["DATA_DIR"] / INDEX_DIR
    other_worker = FileLock(str(index_dir / LOCK_FILE))
    assert other_worker.acquire()
    try:
        with pytest.raises(FollowerBusy):
            catch_up(two)
        assert search_follower(two)._tick(two)  # the thread shrugs and tries again later
    finally:
        other_worker.release()
    import_writer = whoosh_index.open_dir(str(index_dir), indexname=INDEX_NAME).writer()
    try:
        with pytest.raises(IndexBusy):
            catch_up(two)
    finally:
        import_writer.cancel()
    assert cursor(two) == 1 and names(two, "Heron") == []
    assert catch_up(two).applied == 1 and names(two, "Heron") == ["Heron House"]


def test_the_follower_thread_keeps_the_index_current(instance):
    one, two = instance("one"), instance("two", SEARCH_FOLLOW_INTERVAL=0.2)
    follow_search_index(two)
    write(one, record("Kingfisher Refuge"))
    deadline = time.monotonic() + MAX_DELAY
    while names(two, "Kingfisher") != ["Kingfisher Refuge"]:
        assert time.monotonic() < deadline, "the follower thread did not apply the change"
        time.sleep(0.05)


def test_writers_of_the_log_commit_in_the_order_of_their_seqs(instance):
    """A follower keeps one number, so seq 12 must never be visible before seq 11."""
    app = instance("one")
    write(app, record("Kingfisher Refuge"), record("Heron House"))
    with app.app_context():
        engine = db.engine
        first, second = db.session.scalars(select(Organization.id)).all()
    done = threading.Event()

    def later_writer() -> None:
        with Session(engine) as session:
            record_changes(session, [second])  # waits for the first writer's commit
            session.commit()
        done.set()

    with Session(engine) as session:
        record_changes(session, [first])
        session.flush()  # its seq is taken
        thread = threading.Thread(target=later_writer)
        thread.start()
        assert not done.wait(0.5)
        session.commit()
    thread.join(10)
    assert done.is_set()
    with Session(engine) as session:
        rows = session.execute(select(DirectoryChange.seq, DirectoryChange.organization_id))
        order = [org_id for _, org_id in sorted(rows)][-2:]
    assert order == [first, second]


# --- in process: an app alone on its database (SQLite by default) ----------------------------


def test_alone_the_follower_only_meets_its_own_writes(tmp_path, apps):
    data_dir = tmp_path / "hub"
    app = create_app(data_dir, {"SEARCH_FOLLOW_INTERVAL": 0})
    apps.append(app)
    write(app, record("Kingfisher Refuge", "Heron"), record("Heron House"))
    before = names(app, "Heron")
    caught = catch_up(app)
    assert (caught.applied, caught.rebuilt) == (2, False)  # its own two, once more
    assert names(app, "Heron") == before and indexed(app) == 2
    assert catch_up(app).applied == 0
    result = CliRunner().invoke(main, ["hub", "reindex", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert "Indexed 2 organisations." in result.output and cursor(app) == 2
    restarted = create_app(data_dir, {"SEARCH_FOLLOW_INTERVAL": 0})
    apps.append(restarted)
    assert names(restarted, "Heron") == before and catch_up(restarted).applied == 0


# --- two real hub processes -------------------------------------------------------------------


@contextmanager
def hub_instance(data_dir: Path, port: int, env: dict[str, str], log: Path) -> Iterator[str]:
    """``ponte hub serve --production`` (gunicorn, two workers sharing the index dir)."""
    command = [
        sys.executable,
        "-m",
        "ponte.cli",
        "hub",
        "serve",
        "--production",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
    ]
    with log.open("a") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(f"{url}/readyz", timeout=60) == 200, log.read_text()
        yield url
    finally:
        process.terminate()  # gunicorn's graceful stop, workers included
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def ponte(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ponte.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def search(url: str, text: str) -> list[dict[str, str]]:
    response = requests.get(f"{url}/api/v1/search", params={"q": text}, timeout=10)
    assert response.status_code == 200, response.text
    return [result["organisation"] for result in response.json()["results"]]


def seconds_until_found(url: str, text: str, database_url: str) -> float:
    """Seconds from the newest change log entry's commit time to the first search through
    ``url`` that finds ``text``."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            committed = connection.scalar(select(func.max(DirectoryChange.changed_at)))
    finally:
        engine.dispose()
    deadline = time.monotonic() + 2 * MAX_DELAY
    while not search(url, text):
        assert time.monotonic() < deadline, f"{text!r} was never found through {url}"
        time.sleep(0.05)
    return (dt.datetime.now(dt.UTC) - committed).total_seconds()


def invite(env: dict[str, str], data_dir: Path, organisation_id: str) -> str:
    """An invitation token, made by ``ponte hub invite`` on that instance's data dir."""
    printed = ponte(env, "hub", "invite", "--data-dir", str(data_dir), "--org", organisation_id)
    return printed.strip().splitlines()[-1]


def sign_in(http: requests.Session, url: str) -> None:
    page = http.get(f"{url}/admin/login", timeout=10).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    data = {"csrf_token": token, "email": ADMIN, "password": ADMIN_PASSWORD}
    response = http.post(f"{url}/admin/login", data=data, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text


def test_two_hub_processes_share_one_database(postgres, tmp_path):
    database_url = postgres.database(f"so_{uuid.uuid4().hex[:16]}")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PONTE_HUB_PASSPHRASE": HUB_PASSPHRASE,
        "PONTE_WORKERS": "2",
        "PONTE_THREADS": "2",
        "PONTE_PASSWORD": ADMIN_PASSWORD,
    }
    d1, d2, log = tmp_path / "hub-1", tmp_path / "hub-2", tmp_path / "hubs.log"
    p1, p2 = free_port(), free_port()
    delays: dict[str, float] = {}
    with hub_instance(d1, p1, env, log) as one:
        hub_key = requests.get(f"{one}/api/v1/hub/key", timeout=30).json()  # made on first use
        d2.mkdir(mode=0o700)
        for name in ("hub-keystore.json", "secret_key"):  # what every instance must share
            shutil.copy2(d1 / name, d2 / name)
        with hub_instance(d2, p2, env, log) as two:
            assert requests.get(f"{two}/api/v1/hub/key", timeout=30).json() == hub_key

            # the seed, imported through instance 1's data dir, is found through instance 2
            ponte(env, "hub", "seed", "--data-dir", str(d1))
            delays["seed"] = seconds_until_found(two, "ADPARE", database_url)
            adpare = search(two, "ADPARE")[0]
            assert adpare["name"].startswith("ADPARE") and search(one, "ADPARE")[0] == adpare
            [atina] = [org for org in search(one, "Atina") if org["name"] == "Atina"]
            [payoke] = [org for org in search(one, "Payoke") if org["name"] == "Payoke"]

            # nodes enrol through either instance and pin the same hub key
            node_a, identity_a = init_node(
                tmp_path / "node-a",
                one,
                invite(env, d1, atina["id"]),
                NODE_PASSPHRASE,
                limits=INTERACTIVE,
            )
            node_b, identity_b = init_node(
                tmp_path / "node-b",
                two,
                invite(env, d2, payoke["id"]),
                NODE_PASSPHRASE,
                limits=INTERACTIVE,
            )
            assert node_a.hub_key == node_b.hub_key == hub_key["key_record"]

            # a self-service update through instance 1 is found through instance 2
            update = profile_update(
                identity_a,
                atina["id"],
                {"description": "Trains Zyzzogeton mentors."},
                int(time.time()),
            )
            HubClient(one).update_profile(identity_a, update)
            assert [org["id"] for org in search(one, "Zyzzogeton")] == [atina["id"]]
            delays["profile"] = seconds_until_found(two, "Zyzzogeton", database_url)
            assert [org["id"] for org in search(two, "Zyzzogeton")] == [atina["id"]]

            # the relay: posted to instance 1, fetched and acknowledged through instance 2
            # (B checks A's key, attested by instance 2, against the key it pinned there)
            [a_key] = HubClient(two).node_keys(identity_b, node_b.hub_record, node_a.node_id)
            assert a_key.active and a_key.record == identity_a.public_record()
            wire = seal(identity_a, identity_b.public_record(), "referral", referral()).to_wire()
            HubClient(one).post_envelope(identity_a, wire)
            [message] = HubClient(two).inbox(identity_b, 0)["messages"]
            opened = open_envelope(
                b64url_decode(message["wire"]),
                identity_b,
                lambda _: [a_key.record],
                MemorySeenIds(),
            )
            assert opened.payload == referral()
            acknowledged = HubClient(two).ack(identity_b, [message["id"]])
            assert acknowledged["acknowledged"] == [message["id"]]
            notices = HubClient(one).notices(identity_a, 0)["notices"]
            assert [(n["id"], n["status"]) for n in notices] == [(message["id"], "delivered")]

            # one sign-in for both: the same session secret, the same cookie
            ponte(env, "hub", "create-admin", "--data-dir", str(d1), "--email", ADMIN)
            http = requests.Session()
            sign_in(http, one)
            page = http.get(f"{two}/admin/", allow_redirects=False, timeout=10)
            assert page.status_code == 200 and ADMIN in page.text

        # instance 2 stopped; changes through instance 1; instance 2 catches up on start
        update = profile_update(
            identity_a,
            atina["id"],
            {"description": "Trains Quagswagging mentors."},
            int(time.time()) + 1,
        )
        HubClient(one).update_profile(identity_a, update)
        csv = tmp_path / "late.csv"
        csv.write_text("name,country,kind,services\nKingfisher Refuge,IT,ngo,Shelter\n")
        ponte(env, "hub", "seed", "--data-dir", str(d1), str(csv))
        with hub_instance(d2, p2, env, log) as two:
            assert [org["id"] for org in search(two, "Quagswagging")] == [atina["id"]]
            assert search(two, "Zyzzogeton") == []
            assert [org["name"] for org in search(two, "Kingfisher")] == ["Kingfisher Refuge"]

        # instance 2's index lost: rebuilt on start, and followed from there
        shutil.rmtree(d2 / INDEX_DIR)
        with hub_instance(d2, p2, env, log) as two:
            assert search(two, "ADPARE")[0] == adpare
            assert [org["name"] for org in search(two, "Kingfisher")] == ["Kingfisher Refuge"]
            update = profile_update(
                identity_a,
                atina["id"],
                {"description": "Trains Brobdingnagian mentors."},
                int(time.time()) + 2,
            )
            HubClient(one).update_profile(identity_a, update)
            delays["after rebuild"] = seconds_until_found(two, "Brobdingnagian", database_url)
    print(
        "propagation delays, instance 1 -> instance 2:",
        ", ".join(f"{what} {seconds:.2f} s" for what, seconds in delays.items()),
    )
    assert all(seconds < MAX_DELAY for seconds in delays.values()), delays
