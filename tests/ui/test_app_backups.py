"""After a restart on an empty disk, the Runs tab lists the runs backed up to the host's Hub repo and restores one
(issue 11, item 6): the app against a local fake Hub, through the same endpoints the Runs tab uses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from ft_app.backup import RunBackups
from ft_app.runs import RunStore
from tests.fixtures.fake_hub import FakeHub
from tests.test_backup import REPO, TOKEN, USER, files_of, finished_run
from tests.ui.conftest import AppServer, start_app, stop_app


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    with FakeHub(tokens={TOKEN: USER}) as server:
        yield server


@pytest.fixture(scope="module")
def backed_up(hub: FakeHub, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, bytes]]:
    """A run backed up by an earlier life of the server, whose disk is gone: its id and files."""
    import huggingface_hub.constants

    mp = pytest.MonkeyPatch()
    mp.setenv("HF_ENDPOINT", hub.url)
    mp.setenv("FT_APP_BACKUP_TOKEN", TOKEN)
    mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    try:
        store = RunStore(tmp_path_factory.mktemp("old_disk") / "runs")
        run_dir = finished_run(store)
        RunBackups(REPO).push(run_dir, store)
    finally:
        mp.undo()
    return run_dir.name, {k: v for k, v in files_of(run_dir).items() if not k.startswith("checkpoints/")}


@pytest.fixture(scope="module")
def restarted(hub: FakeHub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """The server after a restart: an empty home, the backup repo set."""
    home = tmp_path_factory.mktemp("fresh_home")
    env = {"FT_APP_BACKUP_REPO": REPO, "FT_APP_BACKUP_TOKEN": TOKEN, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0"}
    server = start_app(home, home / "app.log", extra_env=env)
    yield server
    stop_app(server)


def test_backed_up_runs_are_listed_and_restored_after_a_restart(
    restarted: AppServer, backed_up: tuple[str, dict[str, bytes]]
) -> None:
    run_id, files = backed_up
    client = Client(restarted.url, verbose=False)
    assert client.predict(api_name="/list_runs") == []
    listed = client.predict(api_name="/list_backups")
    assert [(b["run_id"], b["status"], b["on_this_server"]) for b in listed] == [(run_id, "completed", False)]

    assert client.predict(run_id, api_name="/restore_backup") == run_id
    assert files_of(restarted.runs_dir / run_id) == files  # the same folder, byte for byte
    assert [r["run_id"] for r in client.predict(api_name="/list_runs")] == [run_id]
    assert client.predict(api_name="/list_backups")[0]["on_this_server"] is True
    with pytest.raises(AppError, match="already here"):
        client.predict(run_id, api_name="/restore_backup")
    with pytest.raises(AppError, match="not among the backed-up runs"):
        client.predict("no-such-run", api_name="/restore_backup")
    summary = client.predict(run_id, api_name="/open_run")[1]
    assert f"**{run_id}**" in summary and "Status: **Finished**" in summary
    assert TOKEN not in restarted.log()


# ---- issue 20, finding 3: a deleted run stays deleted; only its owner (or an admin) restores it ----------------------

OWNER_KEY = "k" * 43  # the owner key Ann's API client names in the X-FT-Owner-Key header


def test_only_the_owner_restores_and_a_deleted_run_does_not_come_back(
    hub: FakeHub, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import huggingface_hub.constants

    from ft_app.ownership import Visitor, record_owner

    mp = pytest.MonkeyPatch()
    mp.setenv("HF_ENDPOINT", hub.url)
    mp.setenv("FT_APP_BACKUP_TOKEN", TOKEN)
    mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    try:
        store = RunStore(tmp_path_factory.mktemp("ann_old_disk") / "runs")
        run_dir = finished_run(store)
        record_owner(run_dir, Visitor(key=OWNER_KEY))
        RunBackups(REPO).push(run_dir, store)
    finally:
        mp.undo()
    run_id = run_dir.name
    home = tmp_path_factory.mktemp("public_backups_home")
    env = {"FT_APP_BACKUP_REPO": REPO, "FT_APP_BACKUP_TOKEN": TOKEN, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0",
           "FT_APP_PUBLIC": "1"}
    server = start_app(home, home / "app.log", extra_env=env)
    try:
        ann = Client(server.url, verbose=False, headers={"X-FT-Owner-Key": OWNER_KEY})
        bob = Client(server.url, verbose=False)
        assert run_id in [b["run_id"] for b in bob.predict(api_name="/list_backups")]  # runs are not private here
        with pytest.raises(AppError, match=f"Run {run_id} was started by another visitor: only they .* can restore it"):
            bob.predict(run_id, api_name="/restore_backup")
        assert not (server.runs_dir / run_id).exists()

        assert ann.predict(run_id, api_name="/restore_backup") == run_id
        ann.predict(run_id, [], api_name="/delete_run")
        assert not (server.runs_dir / run_id).exists()
        # Its backup went with it, in one commit: no one can bring it back.
        assert run_id not in [b["run_id"] for b in bob.predict(api_name="/list_backups")]
        repo = hub.repo(REPO, "dataset")
        assert not [name for name in repo.files if name.startswith(f"runs/{run_id}/")]
        assert repo.commits[-1].message == f"Delete run {run_id} (deleted on the server)"
        for client in (ann, bob):
            with pytest.raises(AppError, match="not among the backed-up runs"):
                client.predict(run_id, api_name="/restore_backup")
    finally:
        stop_app(server)
