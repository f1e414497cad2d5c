"""Every OS-specific call lives in ft_app/system.py; each branch is tested here, the other OS's forced (issue 18)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from ft_app import system


def test_process_groups_per_os() -> None:
    assert system.new_group_options(windows=False) == {"start_new_session": True}
    assert system.new_group_options(windows=True) == {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP",
                                                                               0x200)}
    assert system.process_group(1234, windows=True) == 1234  # Windows: the process is its own group
    if os.name != "nt":
        assert system.process_group(windows=False) == os.getpgid(0)


def test_stop_signals_per_os() -> None:
    assert system.stop_signals(windows=False) == (signal.SIGTERM, signal.SIGINT)
    windows = system.stop_signals(windows=True)
    assert signal.SIGINT in windows and signal.SIGTERM not in windows  # Windows cannot deliver a SIGTERM


def test_windows_sends_no_group_signal_the_run_folder_does_the_work() -> None:
    assert system.ask_group_to_stop(4242, windows=True) is False
    system.kill_group(4242, windows=True)  # nothing: processes are ended one by one there


@pytest.mark.skipif(os.name == "nt", reason="POSIX process groups")
def test_posix_stop_and_kill_reach_the_group_and_never_our_own() -> None:
    with pytest.raises(RuntimeError, match="not a training run's own group"):
        system.ask_group_to_stop(os.getpgid(0), windows=False)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], **system.new_group_options())
    try:
        assert system.ask_group_to_stop(child.pid, windows=False)
        assert child.wait(10) == -signal.SIGTERM
    finally:
        child.kill()
    assert system.ask_group_to_stop(child.pid, windows=False) is False  # gone: nothing to signal


def test_kill_processes_ends_a_tree_even_when_the_children_left_its_group() -> None:
    # A launcher whose child runs in a session of its own, as torch's elastic launcher starts its workers.
    code = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], "
            "start_new_session=True); time.sleep(60)")
    launcher = subprocess.Popen([sys.executable, "-c", code], **system.new_group_options())
    deadline = time.monotonic() + 20
    while not system.descendants(launcher.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    tree = [launcher.pid, *system.descendants(launcher.pid)]
    assert len(tree) == 2
    assert sorted(system.kill_processes(tree)) == sorted(tree)
    gone, alive = psutil.wait_procs([psutil.Process(p) for p in tree if psutil.pid_exists(p)], timeout=10)
    assert not alive


def test_die_with_parent_only_on_linux() -> None:
    assert system.die_with_parent(windows=True) is False
    assert system.die_with_parent(windows=False, platform="darwin") is False


def test_signal_words() -> None:
    assert system.signal_name(0) is None
    if hasattr(signal, "SIGKILL"):
        assert system.signal_name(-signal.SIGKILL) == "SIGKILL" and system.killed_outright(-signal.SIGKILL)
    assert not system.killed_outright(1)
