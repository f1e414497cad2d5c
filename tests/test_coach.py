"""The training coach on synthetic curves: every failure mode is named, a healthy curve gets no warning."""

from __future__ import annotations

import math

import pytest

from ft_app.coach import apply_fix, diagnose
from ft_app.config import RunConfig


def _config(lr: float = 5e-5, epochs: float = 3.0) -> RunConfig:
    return RunConfig.from_dict(
        {"task": "classification", "model": "m", "data": {"train": "d.csv"}, "training": {"learning_rate": lr, "epochs": epochs}}
    )


def _train(losses: list[float]) -> list[dict]:
    return [{"kind": "train", "step": i + 1, "loss": v} for i, v in enumerate(losses)]


def _eval(points: list[tuple[int, float]]) -> list[dict]:
    return [{"kind": "eval", "step": s, "eval_loss": v} for s, v in points]


def _kinds(report) -> list[str]:
    return [f.kind for f in report.findings]


def test_healthy_curve_gets_no_warning() -> None:
    losses = [2.0 * math.exp(-i / 15) + 0.4 + 0.02 * ((-1) ** i) for i in range(40)]
    evals = _eval([(10, 1.5), (20, 1.0), (30, 0.8), (40, 0.75)])
    report = diagnose(_train(losses) + evals, _config(), train_rows=5000, finished=True)
    assert report.healthy, report.findings
    assert "healthy" in report.summary


def test_overfitting_eval_rises_while_train_falls() -> None:
    losses = [2.0 * math.exp(-i / 8) + 0.05 for i in range(40)]
    evals = _eval([(10, 1.0), (20, 0.8), (30, 1.0), (40, 1.3)])
    report = diagnose(_train(losses) + evals, _config(), train_rows=5000)
    assert "overfitting" in _kinds(report)
    finding = next(f for f in report.findings if f.kind == "overfitting")
    assert "0.8" in finding.message and "1.3" in finding.message  # the numbers that show it
    assert finding.fix == {"training.early_stopping": True, "training.load_best_model_at_end": True}


def test_flat_loss_says_learning_rate_too_low() -> None:
    losses = [0.693 + 0.001 * ((-1) ** i) for i in range(30)]
    report = diagnose(_train(losses), _config(lr=1e-7), finished=True)
    assert _kinds(report) == ["flat"]
    assert "too low" in report.findings[0].message and "1e-07" in report.findings[0].message
    assert report.findings[0].fix["training.learning_rate"] == pytest.approx(1e-6)


def test_nan_loss_is_an_error_with_lower_learning_rate() -> None:
    losses = [2.0, 1.8, 3.5, 9.0, float("nan")]
    report = diagnose(_train(losses), _config(lr=0.5))
    assert _kinds(report) == ["diverged"]
    assert report.findings[0].severity == "error"
    assert "nan" in report.findings[0].message.lower()
    assert report.findings[0].fix["training.learning_rate"] == pytest.approx(0.05)


def test_rising_loss_is_unstable() -> None:
    losses = [1.0 + 0.2 * i for i in range(20)]
    report = diagnose(_train(losses), _config(lr=1e-2))
    assert "unstable" in _kinds(report)
    assert report.findings[0].severity == "error"


def test_jumpy_loss_is_flagged() -> None:
    losses = [1.0 if i % 2 else 0.2 for i in range(30)]
    report = diagnose(_train(losses), _config(lr=1e-3))
    assert "unstable" in _kinds(report)
    fix = next(f for f in report.findings if f.kind == "unstable").fix
    assert fix["training.gradient_accumulation_steps"] == 2


def test_near_zero_loss_on_tiny_data_is_memorising() -> None:
    losses = [1.5 * math.exp(-i / 3) for i in range(30)]
    report = diagnose(_train(losses), _config(epochs=20), train_rows=40, finished=True)
    assert "memorising" in _kinds(report)
    assert "40 rows" in report.findings[0].message


def test_too_few_points_waits() -> None:
    report = diagnose(_train([1.0, 0.9]), _config())
    assert report.healthy and "Collecting" in report.summary


def test_apply_fix_returns_a_valid_changed_config() -> None:
    config = _config()
    fixed = apply_fix(config, {"training.early_stopping": True, "training.learning_rate": 1e-5})
    assert fixed.training.early_stopping and fixed.training.learning_rate == 1e-5
    assert config.training.early_stopping is False  # the original is untouched
    with pytest.raises(ValueError, match="unknown setting"):
        apply_fix(config, {"training.no_such_knob": 1})
