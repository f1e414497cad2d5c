"""The recipe at scale: accelerate config files that accelerate's own loader reads, FSDP wrapping the model's real
block class, and the documented DDP command run on 2 CPU processes giving the single-process run's folder layout."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
import torch
from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file
from accelerate.utils import DistributedType

from ft_app.export.scale import COMMANDS_FILE, DDP_FILE, FSDP_FILE, MULTI_MACHINE_FILE, write_recipe
from ft_app.runs import RunStore
from tests.engine_checks import make_config, read_metrics, run_cli

EXPECTED_LAYER = {"tiny_bert_dir": "BertLayer", "tiny_gpt2_dir": "GPT2Block", "tiny_llama_dir": "LlamaDecoderLayer",
                  "tiny_t5_dir": "T5Block"}
TASK = {"tiny_bert_dir": "classification", "tiny_gpt2_dir": "causal_lm", "tiny_llama_dir": "causal_lm",
        "tiny_t5_dir": "seq2seq"}


def _command(commands: str, config_file: str) -> list[str]:
    """The documented `accelerate launch --config_file FILE ...` line, as argv for this interpreter."""
    line = next(x for x in commands.splitlines() if x.startswith(f"accelerate launch --config_file {config_file} "))
    argv = shlex.split(line)
    assert argv[:2] == ["accelerate", "launch"]
    return [sys.executable, "-m", "accelerate.commands.launch", *argv[2:]]


@pytest.mark.parametrize("model", list(EXPECTED_LAYER))
def test_accelerate_configs_load_and_fsdp_wraps_the_models_block(
    model: str, request: pytest.FixtureRequest, tmp_path: Path, sentiment_csv: Path
) -> None:
    model_dir: Path = request.getfixturevalue(model)
    run_dir = RunStore(tmp_path / "runs").create(make_config(TASK[model], model_dir, "lora", sentiment_csv))
    folder = write_recipe(run_dir, tmp_path / "recipe")
    assert (folder / "config.json").read_text() == (run_dir / "config.json").read_text()

    ddp = load_config_from_file(str(folder / DDP_FILE))
    assert isinstance(ddp, ClusterConfig) and ddp.distributed_type == DistributedType.MULTI_GPU
    assert ddp.num_machines == 1 and ddp.num_processes == 2

    fsdp = load_config_from_file(str(folder / FSDP_FILE))
    assert fsdp.distributed_type == DistributedType.FSDP
    layer = fsdp.fsdp_config["fsdp_transformer_layer_cls_to_wrap"]
    assert layer == EXPECTED_LAYER[model]
    assert fsdp.fsdp_config["fsdp_reshard_after_forward"] == "FULL_SHARD"
    assert fsdp.fsdp_config["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    # The class is really the repeated block of this model.
    from transformers import AutoConfig, AutoModel

    with torch.device("meta"):
        built = AutoModel.from_config(AutoConfig.from_pretrained(model_dir))
    cfg = built.config
    blocks = cfg.num_hidden_layers + (cfg.num_decoder_layers if cfg.is_encoder_decoder else 0)
    assert sum(type(m).__name__ == layer for m in built.modules()) == blocks

    multi = load_config_from_file(str(folder / MULTI_MACHINE_FILE))
    assert multi.num_machines == 2 and multi.num_processes == 4 and multi.main_process_port == 29500
    commands = (folder / COMMANDS_FILE).read_text()
    for flag in ("--num_machines 2", "--machine_rank 0", "--machine_rank 1", "--main_process_ip"):
        assert flag in commands
    assert "python -m ft_app train config.json" in commands
    assert str(sentiment_csv) in commands  # it says which local files the machine that trains needs


def test_ddp_command_on_two_cpu_processes_gives_the_single_process_layout(
    tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path
) -> None:
    config = make_config("classification", tiny_bert_dir, "lora", sentiment_csv,
                         evaluation={"golden_prompts": ["A wonderful film."], "golden_from_heldout": 1})
    source = RunStore(tmp_path / "origin").create(config)
    recipe = write_recipe(source, tmp_path / "recipe")

    single = run_cli(["train", str(recipe / "config.json"), "--runs-dir", str(tmp_path / "single")])
    assert single.returncode == 0, single.stderr[-3000:]
    # The documented DDP command, run as written (the file says 2 processes; --multi_gpu runs them on CPU with gloo).
    argv = _command((recipe / COMMANDS_FILE).read_text(), DDP_FILE)
    assert argv[-4:] == ["-m", "ft_app", "train", "config.json"]
    import subprocess

    from tests.engine_checks import cli_env

    ddp = subprocess.run([*argv, "--runs-dir", str(tmp_path / "ddp")], cwd=recipe, env=cli_env(), capture_output=True,
                         text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-4000:]

    one = Path(single.stdout.strip().splitlines()[-1])
    two = Path(ddp.stdout.strip().splitlines()[-1])
    assert one.parent == (tmp_path / "single").resolve() and two.parent == (tmp_path / "ddp").resolve()

    def layout(run: Path) -> set[str]:
        return {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()}

    assert layout(one) == layout(two)
    assert (one / "config.json").read_text() == (two / "config.json").read_text()
    for run, processes in ((one, 1), (two, 2)):
        train = [r for r in read_metrics(run) if r["kind"] == "train"]
        assert [r["samples_seen"] for r in train] == [r["step"] * 4 * processes for r in train]
        assert RunStore.read_status(run)["status"] == "completed"
