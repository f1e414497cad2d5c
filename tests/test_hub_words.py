"""A network failure in words (issue 17 item 8): no "[Errno -2] Name or service not known" in a sentence a person
reads; the one Hub error translator (ft_app/hub.py) says what happened and what to do."""

from __future__ import annotations

import socket
import ssl

import pytest

from ft_app.hub import hub_error


def _wrapped(cause: BaseException) -> BaseException:
    """The cause wrapped as huggingface_hub's HTTP client wraps it (httpx2.ConnectError from httpcore2's)."""
    try:
        try:
            raise cause
        except BaseException as exc:
            raise ConnectionError(str(exc)) from exc
    except ConnectionError as outer:
        return outer


@pytest.mark.parametrize(
    ("cause", "words"),
    [
        (socket.gaierror(-2, "Name or service not known"), "could not be looked up"),
        (ConnectionRefusedError(111, "Connection refused"), "refused the connection"),
        (TimeoutError("timed out"), "did not answer in time"),
        (ssl.SSLError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), "secure connection"),
        (ConnectionResetError(104, "Connection reset by peer"), "connection was cut"),
    ],
)
def test_network_failures_are_told_in_words(cause: BaseException, words: str) -> None:
    error = hub_error(_wrapped(cause), "check the token", direct=True)
    assert error is not None and error.kind == "unreachable"
    text = str(error)
    assert text.startswith("Could not check the token: the Hugging Face Hub at ") and words in text
    assert "Errno" not in text and "[" not in text, text


def test_a_real_failed_lookup_is_told_in_words(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real request, to a name that never resolves (.invalid), through huggingface_hub's own client."""
    from huggingface_hub import HfApi

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):  # the test run is offline; this test asks the network
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")
    with pytest.raises(Exception) as caught:
        HfApi(endpoint="https://hub.invalid").whoami(token="hf_" + "x" * 34)
    text = str(hub_error(caught.value, "check the token", direct=True))
    assert "https://hub.invalid" in text and "could not be looked up" in text and "Errno" not in text, text
