"""The training coach on synthetic curves: every failure mode is named, a healthy curve gets no warning."""

from __future__ import annotations

import math
import re

import pytest

from ft_app.coach import apply_fix, change, diagnose, distinct_numbers
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


def _eval_acc(points: list[tuple[int, float, float]]) -> list[dict]:
    return [{"kind": "eval", "step": s, "eval_loss": v, "eval_accuracy": a} for s, v, a in points]


def test_a_classifier_whose_loss_rises_while_its_accuracy_holds_is_not_called_overfitting() -> None:
    """Issue 17 item 2: the eval loss rose from 0.561 to 0.694 while accuracy held: more sure of its mistakes."""
    losses = [0.7 * math.exp(-i / 8) + 0.1 for i in range(40)]
    evals = _eval_acc([(10, 0.60, 0.800), (20, 0.561, 0.825), (30, 0.63, 0.850), (40, 0.694, 0.850)])
    report = diagnose(_train(losses) + evals, _config(), train_rows=360, finished=True)
    assert "overfitting" not in _kinds(report)
    assert "accuracy held (82.5% at step 20, 85.0% now)" in report.summary and "0.561" in report.summary
    assert "not overfitting" in report.summary


def test_a_classifier_whose_accuracy_falls_with_rising_loss_is_overfitting_said_once() -> None:
    losses = [0.7 * math.exp(-i / 8) + 0.01 for i in range(40)]
    evals = _eval_acc([(10, 0.60, 0.800), (20, 0.561, 0.875), (30, 0.63, 0.850), (40, 0.694, 0.800)])
    report = diagnose(_train(losses) + evals, _config(), train_rows=360, finished=True)
    finding = next(f for f in report.findings if f.kind == "overfitting")
    assert "accuracy fell from 87.5% to 80.0%" in finding.message
    assert not finding.message.lower().startswith("overfitting")  # the page titles it "Overfitting" already


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


def test_auto_recipe_runs_get_advice_from_the_schedule_the_run_used() -> None:
    """Epochs and learning rate left to the auto recipe are None in the config: the coach reads the run's own."""
    auto = RunConfig.from_dict({"task": "classification", "model": "m", "data": {"train": "d.csv"}})
    assert auto.training.epochs is None and auto.training.learning_rate is None
    losses = [1.5 * math.exp(-i / 3) for i in range(30)]
    report = diagnose(_train(losses), auto, train_rows=360, finished=True, learning_rate=1e-4, epochs=9.0)
    memorising = next(f for f in report.findings if f.kind == "memorising")
    assert memorising.fix == {"training.weight_decay": 0.1, "training.epochs": 4.5}
    blown = diagnose(_train([0.7, 0.6, float("nan")]), auto, learning_rate=1e-4, epochs=9.0)
    assert "(now 0.0001)" in blown.findings[0].message
    assert blown.findings[0].fix["training.learning_rate"] == pytest.approx(1e-5)
    # Without the run's figures (e.g. an old run folder) it still answers, without an epochs fix.
    old = diagnose(_train(losses), auto, train_rows=360, finished=True)
    assert "training.epochs" not in next(f for f in old.findings if f.kind == "memorising").fix


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


NUMBER = r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?"
MOVE = re.compile(rf"\b(rose|fell|risen|fallen) from ({NUMBER}) to ({NUMBER})(?: \(([+-]{NUMBER})%\)| \((less than 0\.1%)\))?")
STAYED = re.compile(rf"\bstayed at ({NUMBER})")


def _check_wording(text: str) -> list[str]:
    """Every 'rose/fell from A to B (P%)' in text agrees with its own numbers; returns the verbs seen."""
    verbs = []
    for verb, a_text, b_text, percent, tiny in MOVE.findall(text):
        a, b = float(a_text), float(b_text)
        assert a_text != b_text, text  # a change is never printed as two equal numbers
        assert (b > a) == (verb in ("rose", "risen")), text
        if percent:
            shown = float(percent)
            assert (shown > 0) == (b > a), text  # the sign follows the verb
            assert shown == pytest.approx((b - a) / abs(a) * 100, abs=0.2, rel=0.05), text
        else:
            assert tiny and abs(b - a) / abs(a) < 0.002, text
        verbs.append("rose" if verb in ("rose", "risen") else "fell")
    verbs += ["stayed"] * len(STAYED.findall(text))
    return verbs


def _ramp(a: float, b: float, n: int = 30) -> list[float]:
    return [a + (b - a) * i / (n - 1) for i in range(n)]


CURVES = {
    # name: (losses, evals, finished, train rows, the verb the first sentence about the training loss must use)
    "falling": ([2.0 * math.exp(-i / 15) + 0.4 for i in range(40)], [(10, 1.5), (20, 1.0), (40, 0.75)], True, 5000, "fell"),
    "falling to zero": ([1.5 * math.exp(-i / 3) for i in range(30)], [], True, 40, "fell"),
    "falling a little": (_ramp(0.70, 0.685), [], True, 5000, "fell"),
    "the reported rise": (_ramp(0.691, 0.695), [], True, 5000, "rose"),
    "rising": (_ramp(0.691, 0.80), [], True, 5000, "rose"),
    "rising fast": ([1.0 + 0.2 * i for i in range(20)], [], False, 5000, "rose"),
    "flat": ([0.693] * 30, [], True, 5000, "stayed"),
    "flat in the fourth digit": (_ramp(0.69121, 0.69114), [], True, 5000, "fell"),
    "spike then recovery": ([1.0] * 10 + [5.0] + _ramp(1.0, 0.6, 19), [], True, 5000, "fell"),
    "few points, rising": (_ramp(0.69, 0.70, 10), [(5, 0.70), (10, 0.69)], False, 5000, "rose"),
    "overfitting": ([2.0 * math.exp(-i / 8) + 0.05 for i in range(40)], [(10, 1.0), (20, 0.8), (30, 1.0), (40, 1.3)],
                    False, 5000, None),
}


@pytest.mark.parametrize("name", list(CURVES))
def test_every_text_agrees_with_its_numbers(name: str) -> None:
    """Rising, falling and flat curves: each verb, sign and pair of numbers in the coach's words matches the curve."""
    losses, evals, finished, rows, verb = CURVES[name]
    report = diagnose(_train(losses) + _eval(evals), _config(), train_rows=rows, finished=finished)
    texts = [report.summary] + [f.message for f in report.findings]
    seen = [_check_wording(t) for t in texts]
    assert any(seen), texts  # the test reads real sentences, not nothing
    if verb:
        assert seen[0][0] == verb, texts[0]
        early, late = losses[: len(losses) // 5 or 2], losses[-(len(losses) // 5 or 2):]
        a, b = (float(x) for x in MOVE.search(texts[0]).groups()[1:3]) if verb != "stayed" else (0.693, 0.693)
        assert min(early) - 1e-3 <= a <= max(early) + 1e-3 and min(late) - 1e-3 <= b <= max(late) + 1e-3, texts[0]
    if name == "overfitting":
        finding = next(f for f in report.findings if f.kind == "overfitting")
        assert "lowest at step 20 and has since risen from 0.8 to 1.3 (+62.5%)" in finding.message


def test_a_rising_loss_is_never_called_flat_or_healthy() -> None:
    """A loss that rose 3% or more asks for a lower learning rate, not a 10x higher one."""
    report = diagnose(_train(_ramp(0.691, 0.75)), _config(lr=1e-4), finished=True)
    assert _kinds(report) == ["unstable"] and report.findings[0].severity == "warning"
    assert report.findings[0].fix["training.learning_rate"] == pytest.approx(2e-5)
    assert not report.healthy and "healthy" not in report.summary


def test_change_and_distinct_numbers() -> None:
    """The exact words for the numbers the issue quoted."""
    assert change(0.691, 0.695) == "rose from 0.691 to 0.695 (+0.6%)"
    assert change(0.7, 0.685) == "fell from 0.7 to 0.685 (-2.1%)"
    assert change(0.69121, 0.69114) == "fell from 0.6912 to 0.6911 (less than 0.1%)"
    assert change(0.693, 0.693) == "stayed at 0.693"
    assert change(0.8, 1.3, since=True) == "risen from 0.8 to 1.3 (+62.5%)"
    assert change(0.0, 0.2) == "rose from 0 to 0.2"
    assert change(0.763, 0.000256) == "fell from 0.763 to 0.000256 (-99.97%)"
    assert change(0.763, 0.0) == "fell from 0.763 to 0 (-100.0%)"
    assert distinct_numbers(1.23456789, 1.23456788) == ("1.23457", "1.23457")  # equal to 6 digits ...
    assert change(1.23456789, 1.23456788) == "stayed at 1.23457"  # ... is said as no change
