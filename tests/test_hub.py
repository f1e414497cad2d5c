"""ft_app/hub.py: one sentence per huggingface_hub typed error, also when a library wrapped it, and every former
translator (catalog, data, modeling, estimate, export) now says the same sentence."""

from __future__ import annotations

import threading

import httpx2
import pytest
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from ft_app import hub
from ft_app.hub import REASONS, HubError, HubStatus, HubUnreachableError, hub_error

URL = "https://huggingface.co/api/models/org/model"


def _response(code: int) -> httpx2.Response:
    return httpx2.Response(code, request=httpx2.Request("GET", URL))


def _http(cls: type[HfHubHTTPError], code: int) -> HfHubHTTPError:
    return cls(f"{code} Client Error for url {URL}", response=_response(code))


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline mode off and the probe answering, so that the error itself decides."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "_probe", lambda timeout: HubStatus(True, "Connected."))
    hub.reset_hub_status()
    yield
    hub.reset_hub_status()


def _wrapped(error: BaseException, wrapper: type[BaseException] = OSError) -> BaseException:
    """The error as transformers and datasets hand it on: `raise OSError(their words) from error`."""
    try:
        try:
            raise error
        except BaseException as exc:
            raise wrapper("the library's own words, which decide nothing") from exc
    except BaseException as outer:  # noqa: BLE001 - returned to the test
        return outer


TYPED = [
    (_http(GatedRepoError, 401), "gated"),
    (_http(RepositoryNotFoundError, 404), "not_found"),
    (_http(RevisionNotFoundError, 404), "not_found"),
    (_http(RemoteEntryNotFoundError, 404), "not_found"),
    (EntryNotFoundError("no such file"), "not_found"),
    (HFValidationError("Repo id must be in the form 'namespace/repo_name'"), "not_found"),
    (_http(HfHubHTTPError, 401), "unauthorized"),
    (_http(HfHubHTTPError, 403), "forbidden"),
    (_http(HfHubHTTPError, 502), "http"),
    (LocalEntryNotFoundError("not in the cache"), "unreachable"),
    (httpx2.ConnectError("[Errno 111] Connection refused"), "unreachable"),
    (ConnectionError("Couldn't reach 'org/data' on the Hub"), "unreachable"),
]


@pytest.mark.parametrize(("error", "kind"), TYPED, ids=[f"{type(e).__name__}-{k}" for e, k in TYPED])
def test_each_typed_error_gets_its_one_sentence(online: None, error: BaseException, kind: str) -> None:
    for exc in (error, _wrapped(error)):  # the same sentence when a library wrapped it
        translated = hub_error(exc, "load model 'org/model'")
        assert translated is not None and translated.kind == kind
        assert str(translated).startswith("Could not load model 'org/model': ")
        expected = REASONS[kind].split("{")[0]  # the sentence up to its first detail
        assert expected in str(translated), str(translated)
        assert isinstance(translated, HubUnreachableError) == (kind in ("offline", "unreachable"))
        assert "\n" not in str(translated)


def test_http_errors_say_the_code(online: None) -> None:
    assert "error 502" in str(hub_error(_http(HfHubHTTPError, 502), "search models"))
    assert "(401)" in str(hub_error(_http(HfHubHTTPError, 401), "search models"))


def test_offline_mode_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for error in (OfflineModeIsEnabled("offline mode is enabled"), LocalEntryNotFoundError("not cached"),
                  _wrapped(LocalEntryNotFoundError("not cached"))):
        translated = hub_error(error, "read org/model")
        assert isinstance(translated, HubUnreachableError) and translated.kind == "offline"
        assert "cannot be reached (offline?)" in str(translated) and "HF_HUB_OFFLINE=1" in str(translated)


def test_not_a_hub_error_is_left_to_the_caller(online: None) -> None:
    assert hub_error(ValueError("Unrecognized model type"), "read org/model") is None
    assert hub_error(OSError("org/model does not appear to have a file named tokenizer.json"), "load org/model") is None
    # A request huggingface_hub made itself: any other OSError is the network's.
    assert hub_error(OSError("Network is unreachable"), "upload", direct=True).kind == "unreachable"


def test_datasets_not_found_error_is_not_found(online: None) -> None:
    from datasets.exceptions import DatasetNotFoundError

    assert hub_error(DatasetNotFoundError("Dataset 'x/y' doesn't exist on the Hub"), "load dataset").kind == "not_found"
    gated = _wrapped(_http(GatedRepoError, 401), DatasetNotFoundError)  # datasets' own words for a gated dataset
    assert hub_error(gated, "load dataset").kind == "gated"


def test_call_masks_the_token_and_keeps_the_cause(online: None) -> None:
    secret = "hf_NotARealTokenButShapedLikeOne"

    def fails() -> None:
        raise HfHubHTTPError(f"500 Server Error with {secret}", response=_response(500))

    with pytest.raises(HubError) as info:
        hub.call(fails, "upload to org/model", deadline=None, then="Nothing was uploaded.", secret=secret)
    assert secret not in str(info.value) and str(info.value).endswith("Nothing was uploaded.")
    assert isinstance(info.value.__cause__, HfHubHTTPError)
    with pytest.raises(KeyError):  # not a Hub failure: raised as it is
        hub.call(lambda: {}["missing"], "read org/model")


def test_call_gives_up_after_its_deadline(online: None) -> None:
    release = threading.Event()
    with pytest.raises(HubUnreachableError, match="cannot be reached .*no answer within 0.2 s"):
        hub.call(lambda: release.wait(5), "search models", deadline=0.2)
    release.set()


# ---- every former translator now says the hub.py sentence ---------------------------------


def test_every_former_site_gives_the_hub_sentence(online: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets
    import transformers
    from huggingface_hub import HfApi

    from ft_app import catalog, data, estimate, modeling
    from ft_app.config import DataConfig, ModelConfig
    from ft_app.export.hub import hub_call

    gated = REASONS["gated"]

    def gated_error(*args: object, **kwargs: object) -> None:
        raise _wrapped(_http(GatedRepoError, 401))

    monkeypatch.setattr(HfApi, "model_info", gated_error)
    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", gated_error)
    monkeypatch.setattr(datasets, "load_dataset", gated_error)
    monkeypatch.setattr(datasets, "load_dataset_builder", gated_error)
    monkeypatch.setattr(datasets, "get_dataset_split_names", gated_error)
    modeling._cached_config.cache_clear()
    messages = {}
    for site, run in {
        "catalog.model_details": lambda: catalog.model_details("org/gated"),
        "catalog.dataset_splits": lambda: catalog.dataset_splits("org/gated"),
        "data.load_table": lambda: data.load_table("org/gated"),
        "data.check_hub_dataset": lambda: data.check_hub_dataset(DataConfig(train="org/gated")),
        "modeling.load_model_config": lambda: modeling.load_model_config(ModelConfig("org/gated")),
        "estimate.estimate_run": lambda: estimate.estimate_run("org/gated", "causal_lm", "lora", 8, 128),
        "export.hub_call": lambda: hub_call("check the token", gated_error, "hf_token"),
    }.items():
        with pytest.raises(ValueError) as info:
            run()
        messages[site] = str(info.value)
    assert all(gated in m for m in messages.values()), messages
    assert all("org/gated" in m for site, m in messages.items() if site != "export.hub_call"), messages
    assert "'org/gated'" in modeling.hub_model_error("org/gated", _wrapped(_http(GatedRepoError, 401)))
