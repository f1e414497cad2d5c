"""Shared steps of scripts/start.py and scripts/test.py: plain Python, standard library only.

Every command runs with the interpreter that runs the script (`sys.executable -m pip ...`), from the
repository root, without a shell, so the same lines work on Windows, macOS and Linux.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath

ROOT = Path(__file__).resolve().parent.parent
TORCH_VERSION = "2.13.0"
TORCH_FLOOR = (2, 4)  # requirements.txt asks for torch>=2.4
SKIP_TORCH_VAR = "FT_APP_SKIP_TORCH"

PLAYWRIGHT_CHROMIUM_PATH = (
    "from playwright.sync_api import sync_playwright\n"
    "with sync_playwright() as p:\n"
    "    print(p.chromium.executable_path)\n"
)


def python_too_old(version: tuple[int, ...] = tuple(sys.version_info)) -> str | None:
    """A plain sentence when this Python is older than the app's (pyproject.toml: >=3.10), else None."""
    if version[:2] >= (3, 10):
        return None
    found = ".".join(str(v) for v in version[:3])
    return f"Fine-Tune Studio needs Python 3.10 or newer; this is Python {found} ({sys.executable})."


def step(message: str) -> None:
    """Print one plain line saying what happens next."""
    print(message, flush=True)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(extra or {})
    return env


def run_child(cmd: Sequence[str], env: Mapping[str, str] | None = None, quiet: bool = False) -> int:
    """Run one command from the repository root and return its exit code (128+N when killed by signal N).

    While it runs, this process ignores Ctrl-C: the terminal delivers it to the child as well (on Windows
    too), so the child stops in its own way (pytest prints its summary, the app closes) and its exit code
    is ours. SIGTERM (what a service manager sends) is passed on to the child where the OS has it.
    """
    out = subprocess.DEVNULL if quiet else None
    proc = subprocess.Popen(list(cmd), cwd=ROOT, env=dict(env) if env is not None else child_env(), stdout=out)
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    old_term = None
    if os.name == "posix":
        old_term = signal.signal(signal.SIGTERM, lambda signum, frame: proc.send_signal(signum))
    try:
        code = proc.wait()
    finally:
        signal.signal(signal.SIGINT, old_int)
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
    return 128 - code if code < 0 else code


def pip_install_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pip", "install", "-q", *args]


def run_pip(cmd: list[str]) -> int:
    """Run a pip command; on failure say what to try, and return pip's exit code."""
    code = run_child(cmd)
    if code:
        step(
            f"pip could not install {' '.join(cmd[len(pip_install_cmd()) :])} (exit code {code}); see its message above."
        )
        step(
            "If it says 'externally-managed-environment', make a virtual environment and run this again from it:\n"
            "  Windows:       py -m venv .venv   then   .venv\\Scripts\\activate\n"
            "  macOS, Linux:  python3 -m venv .venv   then   . .venv/bin/activate"
        )
    return code


def pip_install(*args: str) -> int:
    """`python -m pip install -q ARGS`, with the plain words of run_pip when it fails."""
    return run_pip(pip_install_cmd(*args))


def requirement(name: str) -> str:
    """The absolute path of a requirements file at the repository root."""
    return str(ROOT / name)


# --- torch ---------------------------------------------------------------------------------------


def has_nvidia_gpu(which: Callable[[str], str | None] = shutil.which) -> bool:
    return which("nvidia-smi") is not None


def installed_torch() -> str | None:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def _is_gpu_build(version: str) -> bool:
    """A torch from the PyTorch index names its build: 2.5.1+cu121, 2.6.0+rocm6.2 (PyPI's Linux CUDA build does not)."""
    public, _, local = version.partition("+")
    parts = [int(p) if p.isdigit() else 0 for p in public.split(".")[:2]]
    return local.startswith(("cu", "rocm")) and tuple(parts) >= TORCH_FLOOR


def torch_plan(
    environ: Mapping[str, str] | None = None,
    platform: str | None = None,
    gpu: bool | None = None,
    installed: str | None = None,
) -> tuple[list[str] | None, str, str | None]:
    """What the torch step does: (the pip command or None, the line to print, a note or None).

    torch==2.13.0 goes in first: where there is no GPU these machines' pip serves the CPU build, and
    requirements.txt (torch>=2.4) is then satisfied by it instead of pulling a multi-GB CUDA build. On
    Linux with an NVIDIA GPU the same pin from PyPI is the CUDA build, which is what that machine needs.
    """
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    gpu = has_nvidia_gpu() if gpu is None else gpu
    if environ.get(SKIP_TORCH_VAR, "").strip().lower() not in ("", "0", "false", "no"):
        return None, f"Skipping the torch step ({SKIP_TORCH_VAR} is set): using the torch already installed.", None
    if gpu and installed and _is_gpu_build(installed):
        return None, f"Keeping the installed torch {installed} (a GPU build; the pin would replace it).", None
    pin = f"torch=={TORCH_VERSION}"
    if not gpu:
        if platform == "darwin":
            return pip_install_cmd(pin), f"Installing torch {TORCH_VERSION} (uses the Mac's GPU through MPS)...", None
        return pip_install_cmd(pin), f"Installing torch {TORCH_VERSION} (CPU build where there is no GPU)...", None
    if platform == "win32":
        note = (
            "Note: PyPI's torch for Windows is the CPU build. For your NVIDIA GPU install the CUDA build from "
            f"https://pytorch.org/get-started/locally/ and run this again with {SKIP_TORCH_VAR}=1."
        )
        return pip_install_cmd(pin), f"Installing torch {TORCH_VERSION} (CPU build on Windows)...", note
    return pip_install_cmd(pin), f"Installing torch {TORCH_VERSION} (CUDA build: an NVIDIA GPU is present)...", None


def install_torch() -> int:
    cmd, message, note = torch_plan(installed=installed_torch())
    step(message)
    if note:
        step(note)
    return run_pip(cmd) if cmd else 0


# --- the browser for the browser tests -----------------------------------------------------------
# The tests launch `shutil.which("chromium")` (tests/ui/*_browser.py); a browser is of use to them only
# under that name on PATH.


def os_release(path: str = "/etc/os-release") -> dict[str, str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key.strip(): value.strip().strip('"') for key, value in pairs}


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def use_apt(platform: str, root: bool, has_apt: bool, release: Mapping[str, str]) -> bool:
    """Debian's chromium through apt-get: as root on Debian (Ubuntu's chromium is a snap stub)."""
    like = release.get("ID_LIKE", "").split()
    debian = release.get("ID") == "debian" or (
        "debian" in like and "ubuntu" not in like and release.get("ID") != "ubuntu"
    )
    return platform.startswith("linux") and root and has_apt and debian


APT_CHROMIUM = [
    ["apt-get", "update", "-qq"],
    ["apt-get", "install", "-y", "-qq", "chromium"],
]


def browser_candidates(platform: str, environ: Mapping[str, str], home: str) -> list[str]:
    """Places (or PATH names) where a Chromium-family browser that Playwright can drive usually is."""
    if platform == "win32":
        roots = [environ.get(v) for v in ("PROGRAMFILES", "PROGRAMFILES(X86)", "LOCALAPPDATA")]
        apps = [
            ("Google", "Chrome", "Application", "chrome.exe"),
            ("Chromium", "Application", "chrome.exe"),
            ("Microsoft", "Edge", "Application", "msedge.exe"),
        ]
        return ["chrome", "msedge"] + [str(PureWindowsPath(r, *app)) for r in roots if r for app in apps]
    if platform == "darwin":
        apps = [
            ("Chromium.app", "Chromium"),
            ("Google Chrome.app", "Google Chrome"),
            ("Microsoft Edge.app", "Microsoft Edge"),
        ]
        roots = ["/Applications", str(PurePosixPath(home, "Applications"))]
        return [str(PurePosixPath(r, app, "Contents", "MacOS", exe)) for r in roots for app, exe in apps]
    return ["chromium-browser", "google-chrome-stable", "google-chrome", "chrome", "microsoft-edge"]


def find_other_browser(
    platform: str | None = None,
    environ: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] = shutil.which,
    is_file: Callable[[str], bool] = os.path.isfile,
) -> str | None:
    platform = sys.platform if platform is None else platform
    environ = os.environ if environ is None else environ
    for candidate in browser_candidates(platform, environ, str(Path.home())):
        found = candidate if is_file(candidate) else which(candidate)
        if found:
            return found
    return None


def playwright_chromium() -> str | None:
    """Playwright's own Chromium, when it has been downloaded (python -m playwright install chromium)."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", PLAYWRIGHT_CHROMIUM_PATH], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = done.stdout.strip().splitlines()[-1] if done.returncode == 0 and done.stdout.strip() else ""
    return path if path and os.path.isfile(path) else None


def can_link(os_name: str | None = None) -> bool:
    """Whether a browser can be put on PATH under the name `chromium` (a symlink; not on Windows)."""
    return (os.name if os_name is None else os_name) == "posix"


def chromium_link(target: str, folder: Path) -> dict[str, str]:
    """A `chromium` symlink to TARGET in FOLDER, and the PATH that puts it first, for the pytest process."""
    (folder / "chromium").symlink_to(target)
    return {"PATH": str(folder) + os.pathsep + os.environ.get("PATH", "")}


BROWSER_HELP = (
    "To run them, put a Chromium on PATH under the name `chromium` (Debian: apt-get install chromium),\n"
    "or on Linux and macOS run `python -m playwright install chromium` and then this script again."
)


def prepare_browser(link_folder: Path) -> dict[str, str]:
    """Make sure the browser tests find a Chromium; return what the pytest process's environment needs."""
    found = shutil.which("chromium")
    if found:
        step(f"Chromium for the browser tests: {found}.")
        return {}
    if use_apt(sys.platform, is_root(), shutil.which("apt-get") is not None, os_release()):
        step("Installing Debian's Chromium for the browser tests (apt-get install chromium)...")
        env = child_env({"DEBIAN_FRONTEND": "noninteractive"})
        if all(run_child(cmd, env=env, quiet=True) == 0 for cmd in APT_CHROMIUM) and shutil.which("chromium"):
            return {}
        step("apt-get could not install chromium; trying another browser.")
    browser = find_other_browser()
    if browser:
        step(f"Browser found for the browser tests: {browser}.")
    else:
        browser = playwright_chromium()
        if not browser:
            step(
                "No Chromium or Chrome found: downloading Playwright's Chromium (python -m playwright install chromium)..."
            )
            if run_child([sys.executable, "-m", "playwright", "install", "chromium"]) == 0:
                browser = playwright_chromium()
        if not browser:
            step("Could not install a browser: the browser tests will be skipped.\n" + BROWSER_HELP)
            return {}
        step(f"Playwright's Chromium for the browser tests: {browser}.")
        if sys.platform.startswith("linux"):
            step(
                "(If it fails to start, it needs system libraries: python -m playwright install-deps chromium, as root.)"
            )
    if not can_link():
        step(
            "The browser tests look for a program named `chromium` on PATH, which Windows does not have:\n"
            "they will be skipped here (the other tests run)."
        )
        return {}
    return chromium_link(browser, link_folder)
