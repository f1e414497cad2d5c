"""What a visitor may ask of the machine (issue 20): every number bounded in one place, refused in one sentence that
names the number and the limit."""

from __future__ import annotations

import pytest

from ft_app.limits import (
    MAX_NEW_TOKENS,
    Machine,
    check_compare_rows,
    check_memory,
    check_new_tokens,
    check_processes,
    processes_allowed,
)

CPU = Machine(kind="cpu", gpus=0, cpus=2, memory_gb=23.0)
FOUR_GPUS = Machine(kind="cuda", gpus=4, cpus=32, memory_gb=80.0)


@pytest.mark.parametrize(
    ("machine", "public", "host_max", "most"),
    [(CPU, False, None, 2), (CPU, True, None, 1), (FOUR_GPUS, False, None, 4), (FOUR_GPUS, True, None, 4),
     (CPU, True, 3, 3), (FOUR_GPUS, False, 1, 1)],
)
def test_processes_one_per_gpu_one_per_core_locally_one_on_a_public_cpu_server(
    machine: Machine, public: bool, host_max: int | None, most: int
) -> None:
    assert processes_allowed(machine, public, host_max)[0] == most
    check_processes(most, machine, public, host_max)
    check_processes(None, machine, public, host_max)  # the default asks for nothing more
    with pytest.raises(ValueError, match=rf"Processes is {most + 1}, more than this machine allows \({most}: .*\)\. "
                                         rf"Use {most} or fewer, or leave it empty\."):
        check_processes(most + 1, machine, public, host_max)


def test_bad_process_counts_are_refused_plainly() -> None:
    for bad in (0, -3, True, 2.5):
        with pytest.raises(ValueError, match="Processes must be a whole number of 1 or more"):
            check_processes(bad, CPU, False)  # type: ignore[arg-type]


def test_a_batch_the_estimate_says_cannot_fit_is_refused_with_both_numbers() -> None:
    check_memory(8, 256, needed_gb=12.0, machine=CPU)
    check_memory(8, 256, needed_gb=500.0, machine=Machine())  # memory unknown: nothing to check against
    with pytest.raises(ValueError, match=r"Batch size 512 × max length 4096 needs about 96.0 GB by the app's estimate, "
                                         r"more than this machine has \(80.0 GB on one GPU\)"):
        check_memory(512, 4096, needed_gb=96.0, machine=FOUR_GPUS)


def test_generation_and_rows_stop_where_the_page_sliders_stop() -> None:
    assert check_new_tokens(MAX_NEW_TOKENS) == MAX_NEW_TOKENS and check_new_tokens(64.0) == 64
    for bad in (0, MAX_NEW_TOKENS + 1, 10**9, 3.5, "64"):
        with pytest.raises(ValueError, match=f"from 1 to {MAX_NEW_TOKENS}"):
            check_new_tokens(bad)
    assert check_compare_rows(200) == 200
    with pytest.raises(ValueError, match="from 1 to 200, not 100000"):
        check_compare_rows(100_000)


def test_machine_from_a_worker_hello() -> None:
    assert Machine.from_dict({"kind": "cuda", "count": 2, "cpus": 8, "memory_gb": 24}) == Machine("cuda", 2, 8, 24.0)
    assert Machine.from_dict(None).kind == "cpu"  # an older worker said nothing: a CPU, memory unknown
