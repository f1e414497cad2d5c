"""The recipe at scale: the run's config.json and the commands (and accelerate config files) that re-run it."""

from __future__ import annotations

import collections
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ft_app.config import RunConfig
from ft_app.methods import get_method
from ft_app.paths import looks_like_path
from ft_app.runs import CONFIG_FILE

RECIPE_DIR = "recipe"
COMMANDS_FILE = "COMMANDS.md"
DDP_FILE = "accelerate_ddp.yaml"
FSDP_FILE = "accelerate_fsdp.yaml"
MULTI_MACHINE_FILE = "accelerate_multi_machine.yaml"
DEFAULT_GPUS = 2
MAIN_PORT = 29500


@dataclass
class Recipe:
    """The files that re-run a run, by name, and the layer class FSDP wraps."""

    config_json: str
    files: dict[str, str] = field(default_factory=dict)
    layer_classes: list[str] = field(default_factory=list)

    @property
    def commands(self) -> str:
        """The commands, as Markdown."""
        return self.files[COMMANDS_FILE]


def transformer_layer_classes(config: RunConfig) -> list[str]:
    """The repeated block class(es) of the model (e.g. LlamaDecoderLayer), the unit FSDP shards by.

    Read from the model's own `_no_split_modules` on an empty (meta-device) copy: no weights are loaded.
    """
    from ft_app.modeling import build_meta_model, load_model_config

    model = build_meta_model(load_model_config(config.model), config.task, trust_remote_code=config.model.trust_remote_code)
    declared = set(getattr(model, "_no_split_modules", None) or ())
    counts = collections.Counter(type(m).__name__ for m in model.modules())
    # The embeddings are often declared too; the layer to wrap is the one the model repeats.
    repeated = sorted(name for name in declared if counts.get(name, 0) > 1)
    return repeated or sorted(name for name in declared if counts.get(name, 0))


def accelerate_config(kind: str, layer_classes: list[str], gpus: int = DEFAULT_GPUS, machines: int = 1) -> dict[str, Any]:
    """An accelerate config (the keys `accelerate config` writes): 'ddp', 'fsdp' or 'multi_machine'."""
    cfg: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE",
        "distributed_type": "MULTI_GPU",
        "num_machines": machines,
        "machine_rank": 0,
        "num_processes": gpus * machines,  # all processes, on all machines together
        "gpu_ids": "all",
        # The run config's `precision` decides fp16/bf16 (the Trainer passes it on), so accelerate adds none.
        "mixed_precision": "no",
        "use_cpu": False,
        "debug": False,
        "rdzv_backend": "static",
        "same_network": True,
        "main_training_function": "main",
        "downcast_bf16": "no",
    }
    if kind == "multi_machine":
        cfg.update(main_process_ip="MAIN_MACHINE_IP", main_process_port=MAIN_PORT)
    if kind == "fsdp":
        cfg["distributed_type"] = "FSDP"
        cfg["fsdp_config"] = {
            "fsdp_version": 1,
            "fsdp_reshard_after_forward": "FULL_SHARD",  # weights, gradients and optimizer state all sharded
            "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP" if layer_classes else "SIZE_BASED_WRAP",
            "fsdp_backward_prefetch": "BACKWARD_PRE",
            "fsdp_state_dict_type": "FULL_STATE_DICT",  # the saved result is an ordinary model folder
            "fsdp_forward_prefetch": False,
            "fsdp_use_orig_params": True,  # needed when some weights are frozen (LoRA, head-only)
            "fsdp_cpu_ram_efficient_loading": True,
            "fsdp_sync_module_states": True,
            "fsdp_offload_params": False,
            "fsdp_activation_checkpointing": False,
        }
        if layer_classes:
            cfg["fsdp_config"]["fsdp_transformer_layer_cls_to_wrap"] = ",".join(layer_classes)
        else:
            cfg["fsdp_config"]["fsdp_min_num_params"] = 100_000_000
    return cfg


def _yaml(header: str, cfg: dict[str, Any]) -> str:
    import yaml

    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comments + yaml.safe_dump(cfg, sort_keys=False)


def build_recipe(config: RunConfig, run_id: str, config_json: str | None = None) -> Recipe:
    """The config file and the commands for one machine, several GPUs (DDP), FSDP and several machines."""
    layers = transformer_layer_classes(config)
    config_json = config_json or config.to_json() + "\n"
    launch = f"accelerate launch --config_file {{file}} -m ft_app train {CONFIG_FILE}"
    local_paths = [p for p in (config.model.name_or_path, config.data.train, config.data.validation)
                   if p and looks_like_path(p)]
    wrap = ", ".join(f"`{c}`" for c in layers) if layers else "blocks of 100M parameters (no layer class declared)"
    commands = f"""# Re-run `{run_id}` anywhere

Run these from a copy of Fine-Tune Studio (`pip install -r requirements.txt`), with this run's `{CONFIG_FILE}`
next to you. Each run writes a new run folder under `./runs` (or `--runs-dir DIR`); the last line printed is its path.
{_paths_note(local_paths)}
## One machine (CPU, or one GPU)

```bash
python -m ft_app train {CONFIG_FILE}
```

## Several GPUs on one machine (DDP: one copy of the model per GPU)

Set `num_processes` in `{DDP_FILE}` to the number of GPUs (it says {DEFAULT_GPUS}). Each GPU takes
`batch_size` rows per step, so one step sees `batch_size x GPUs` rows: the run needs fewer steps for an epoch.

```bash
{launch.format(file=DDP_FILE)}
```

## A model too big for one GPU (FSDP, full shard)

Weights, gradients and optimizer state are split over the GPUs; FSDP wraps each {wrap}
(the repeated layer of `{config.model.name_or_path}`) as one unit.{_quantized_note(config)}

```bash
{launch.format(file=FSDP_FILE)}
```

## Several machines

Replace `MAIN_MACHINE_IP` with the address of machine 0 (in `{MULTI_MACHINE_FILE}` or on the command line), set
`num_processes` to the GPUs of all machines together, then start the same command on every machine with its own rank:

```bash
# on machine 0 (the main one)
accelerate launch --config_file {MULTI_MACHINE_FILE} --num_machines 2 --machine_rank 0 --main_process_ip MAIN_MACHINE_IP --main_process_port {MAIN_PORT} -m ft_app train {CONFIG_FILE}
# on machine 1
accelerate launch --config_file {MULTI_MACHINE_FILE} --num_machines 2 --machine_rank 1 --main_process_ip MAIN_MACHINE_IP --main_process_port {MAIN_PORT} -m ft_app train {CONFIG_FILE}
```

Every machine needs the model, the data and the same code; only machine 0 writes the run folder.
"""
    files = {
        CONFIG_FILE: config_json,
        COMMANDS_FILE: commands,
        DDP_FILE: _yaml(f"DDP on one machine: set num_processes to its number of GPUs.\n{launch.format(file=DDP_FILE)}",
                        accelerate_config("ddp", layers)),
        FSDP_FILE: _yaml(f"FSDP full shard on one machine, wrapping {', '.join(layers) or 'by size'}.\n"
                         f"{launch.format(file=FSDP_FILE)}", accelerate_config("fsdp", layers)),
        MULTI_MACHINE_FILE: _yaml(
            "DDP on 2 machines with 2 GPUs each: set main_process_ip to machine 0's address, and start the\n"
            "command on each machine with --machine_rank 0 / 1 (see COMMANDS.md).\n" + launch.format(file=MULTI_MACHINE_FILE),
            accelerate_config("multi_machine", layers, machines=2),
        ),
    }
    return Recipe(config_json=config_json, files=files, layer_classes=layers)


def _quantized_note(config: RunConfig) -> str:
    if not get_method(config.method).quantized:
        return ""
    return ("\nThis run loads the base in 4-bit or 8-bit: that already fits big models on one GPU, and FSDP over "
            "quantized weights needs extra settings, so prefer DDP for it.")


def _paths_note(paths: list[str]) -> str:
    if not paths:
        return ""
    listed = ", ".join(f"`{p}`" for p in paths)
    return (f"\nThis run reads local files ({listed}): copy them to the machine that trains, at the same paths, or edit "
            f"the paths in `{CONFIG_FILE}`.\n")


def run_recipe(run_dir: str | Path) -> Recipe:
    """The recipe of a run folder (any run with a config, finished or not)."""
    from ft_app.runs import RunStore

    run_dir = Path(run_dir).expanduser().resolve()
    config = RunStore.read_config(run_dir)
    return build_recipe(config, run_dir.name, (run_dir / CONFIG_FILE).read_text(encoding="utf-8"))


def write_recipe(run_dir: str | Path, out_dir: str | Path, *, staging: bool = False) -> Path:
    """Write config.json, COMMANDS.md and the accelerate config files into `out_dir`; returns the folder. Files a
    person put there are never overwritten; `staging`: a temporary folder of the app's own, where nothing is
    recorded."""
    from ft_app.export.output import check_free, record_made

    recipe = run_recipe(run_dir)
    out = Path(out_dir).expanduser().resolve()
    check_free(out, recipe.files)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in recipe.files.items():
        (out / name).write_text(text, encoding="utf-8")
    if not staging:
        record_made(out, recipe.files)
    return out


def recipe_summary(recipe: Recipe) -> dict[str, Any]:
    """The recipe as JSON for API clients."""
    return {"files": sorted(recipe.files), "layer_classes": recipe.layer_classes,
            "config": json.loads(recipe.config_json)}
