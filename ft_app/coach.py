"""The training coach: read the curves and say in plain words what is happening and what to try."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from ft_app.config import RunConfig

# Thresholds, chosen on synthetic and real curves; each finding quotes the numbers it saw.
MIN_TRAIN_POINTS = 8
FLAT_RELATIVE_DROP = 0.03
OVERFIT_RISE = 0.10
DIVERGE_RISE = 1.5
JUMPY_RELATIVE_SPREAD = 0.5
MEMORISE_LOSS = 0.05
MEMORISE_MAX_ROWS = 1000


@dataclass
class Finding:
    """One diagnosis with the evidence and, where a config change fixes it, that change."""

    kind: str  # "diverged", "unstable", "flat", "overfitting", "memorising"
    severity: str  # "warning" or "error"
    message: str
    fix: dict[str, Any] = field(default_factory=dict)  # dotted config keys, e.g. {"training.learning_rate": 5e-5}
    fix_label: str = ""


@dataclass
class CoachReport:
    """What the coach says about a run right now."""

    summary: str
    findings: list[Finding]

    @property
    def healthy(self) -> bool:
        """Whether nothing worrying was seen."""
        return not self.findings


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def _series(records: list[dict[str, Any]] | tuple[dict[str, Any], ...], key: str) -> list[tuple[int, float]]:
    out = []
    for r in records:
        v = r.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append((int(r.get("step", 0)), float(v)))
    return out


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def diagnose(
    records: list[dict[str, Any]] | tuple[dict[str, Any], ...],
    config: RunConfig | None = None,
    train_rows: int | None = None,
    finished: bool = False,
    learning_rate: float | None = None,
    epochs: float | None = None,
) -> CoachReport:
    """Read train and eval loss and return findings with plain advice; a healthy curve gets none.

    `learning_rate` and `epochs` are what the run used (the auto recipe may have chosen them); without them the
    config's values are read.
    """
    train = _series([r for r in records if r.get("kind", "train") == "train"], "loss")
    evals = _series([r for r in records if r.get("kind") == "eval"], "eval_loss")
    lr = learning_rate or (config.learning_rate if config else None)
    passes = epochs or (config.training.epochs if config else None)
    lr_text = f" (now {lr:g})" if lr else ""
    findings: list[Finding] = []

    bad = next(((s, v) for s, v in train + evals if not math.isfinite(v)), None)
    if bad is not None:
        findings.append(
            Finding(
                "diverged",
                "error",
                f"The loss became {bad[1]} at step {bad[0]}: training blew up. The learning rate is too high{lr_text}; "
                "lower it about ten times, keep gradient clipping (max grad norm 1.0), and prefer bf16 or fp32 over fp16.",
                _fix_lr(lr, 0.1, max_grad_norm=1.0),
                "Lower the learning rate 10x",
            )
        )
        return CoachReport(findings[0].message, findings)
    if len(train) < MIN_TRAIN_POINTS:
        return CoachReport("Collecting points: the coach reads the curve after a few more logged steps.", [])

    losses = [v for _, v in train]
    n = len(losses)
    window = max(2, n // 5)
    start, end = _mean(losses[:window]), _mean(losses[-window:])
    peak = max(losses[window:]) if n > window else start
    enough = finished or n >= 2 * MIN_TRAIN_POINTS

    if end > start * DIVERGE_RISE or (peak > start * 2 * DIVERGE_RISE):
        if end > start * DIVERGE_RISE:
            seen = f"The training loss is going up, not down: it {change(start, end)} between the start and lately."
        else:
            # A spike that came back down: "going up" would contradict the numbers that follow.
            peak_step = next(s for s, v in train if v == peak)
            times = f", {peak / start:.1f} times its level at the start" if start > 0 else ""
            seen = (
                f"The training loss shot up to {peak:.3g} at step {peak_step}{times}, then came back: it "
                f"{change(start, end)} between the start and lately."
            )
        findings.append(
            Finding(
                "unstable",
                "error",
                f"{seen} The learning rate is probably too high{lr_text}: lower it, keep gradient clipping on, "
                "and add warmup.",
                _fix_lr(lr, 0.2, warmup_ratio=0.05, max_grad_norm=1.0),
                "Lower the learning rate 5x and add warmup",
            )
        )
    else:
        diffs = [abs(b - a) for a, b in zip(losses, losses[1:])]
        spread = _mean(diffs[-2 * window :]) / max(abs(end), 1e-8)
        if spread > JUMPY_RELATIVE_SPREAD and end > 0.1:
            findings.append(
                Finding(
                    "unstable",
                    "warning",
                    f"The training loss jumps a lot from step to step (typical jump {spread:.0%} of its level). "
                    f"A lower learning rate{lr_text} or a bigger effective batch (gradient accumulation) smooths it.",
                    _fix_lr(lr, 0.5, gradient_accumulation_steps=_double_accum(config)),
                    "Halve the learning rate and double gradient accumulation",
                )
            )
        moved = (end - start) / abs(start) if start else 0.0
        if enough and moved >= FLAT_RELATIVE_DROP:
            findings.append(
                Finding(
                    "unstable",
                    "warning",
                    f"The training loss {change(start, end)} between the start and lately, instead of falling. "
                    f"The learning rate is probably too high{lr_text}: lower it and add warmup.",
                    _fix_lr(lr, 0.2, warmup_ratio=0.05),
                    "Lower the learning rate 5x and add warmup",
                )
            )
        elif enough and moved > -FLAT_RELATIVE_DROP:
            findings.append(
                Finding(
                    "flat",
                    "warning",
                    f"The training loss has barely moved: it {change(start, end)} between the start and lately. "
                    f"The learning rate may be too low{lr_text}, or too little of the model is trainable "
                    "(head-only on a hard task). Raise the learning rate, or train with LoRA or fully.",
                    _fix_lr(lr, 10.0),
                    "Raise the learning rate 10x",
                )
            )

    sure_note = ""
    if len(evals) >= 3:
        eval_losses = [v for _, v in evals]
        best_i = min(range(len(eval_losses)), key=eval_losses.__getitem__)
        best_step, best = evals[best_i]
        last = eval_losses[-1]
        train_after_best = [v for s, v in train if s >= best_step]
        train_falling = len(train_after_best) >= 2 and _mean(train_after_best[-window:]) < train_after_best[0]
        if best_i < len(eval_losses) - 1 and last > best * (1 + OVERFIT_RISE) and train_falling:
            accuracy = dict(_series([r for r in records if r.get("kind") == "eval"], "eval_accuracy"))
            held = _accuracy_held(accuracy, best_step, evals[-1][0])
            if held is not None:
                # A classifier's loss also rises when it grows more sure of the rows it still gets wrong: that is
                # not overfitting as long as it answers as many rows right.
                sure_note = (f" The eval loss has {change(best, last, since=True)} since step {best_step}, but the "
                             f"held-out accuracy held ({held}): the model grew more sure of the rows it gets wrong, "
                             "which is not overfitting.")
            else:
                findings.append(
                    Finding(
                        "overfitting",
                        "warning",
                        f"The eval loss was lowest at step {best_step} and has since {change(best, last, since=True)}, "
                        f"while the training loss keeps falling{_accuracy_fell(accuracy, best_step, evals[-1][0])}. "
                        "The model is learning the training rows by heart. Use fewer epochs, more data or a lower "
                        "learning rate, and keep early stopping and the best checkpoint on.",
                        {"training.early_stopping": True, "training.load_best_model_at_end": True},
                        "Turn on early stopping and keep the best checkpoint",
                    )
                )

    rows = train_rows
    if end < MEMORISE_LOSS and (rows is None or rows <= MEMORISE_MAX_ROWS) and not any(f.kind == "overfitting" for f in findings):
        size = f" on only {rows} rows" if rows else ""
        findings.append(
            Finding(
                "memorising",
                "warning",
                f"The training loss is nearly zero: it {change(start, end)}{size}. The model is memorising the examples, which "
                "rarely carries over to new inputs. Add more varied data, train fewer epochs, or raise weight decay.",
                {"training.weight_decay": 0.1, **({"training.epochs": max(1.0, round(passes / 2, 1))} if passes else {})},
                "Halve the epochs and add weight decay",
            )
        )

    if findings:
        return CoachReport(findings[0].message, findings)
    eval_note = sure_note or (f" The eval loss {change(evals[0][1], evals[-1][1])}." if len(evals) >= 2 else "")
    if direction(start, end) == "fell":
        return CoachReport(f"Training looks healthy: the loss {change(start, end)}.{eval_note}", [])
    return CoachReport(
        f"So far the training loss {change(start, end)}; the coach judges the curve after a few more logged steps."
        f"{eval_note}",
        [],
    )


ACCURACY_SLACK = 0.005  # accuracy within half a point of its value at the lowest eval loss "held"


def _accuracy_held(accuracy: dict[int, float], best_step: int, last_step: int) -> str | None:
    """'82.5% at step 81, 85.0% now' when the held-out accuracy at the last evaluation is no lower than where the
    eval loss was lowest; None when it fell or the task measures no accuracy."""
    if best_step not in accuracy or last_step not in accuracy:
        return None
    then, now = accuracy[best_step], accuracy[last_step]
    if now < then - ACCURACY_SLACK:
        return None
    return f"{then:.1%} at step {best_step}, {now:.1%} now"


def _accuracy_fell(accuracy: dict[int, float], best_step: int, last_step: int) -> str:
    """', and the held-out accuracy fell from 85.0% to 80.0%' when the task measures accuracy; '' otherwise."""
    if best_step not in accuracy or last_step not in accuracy:
        return ""
    return f", and the held-out accuracy fell from {accuracy[best_step]:.1%} to {accuracy[last_step]:.1%}"


def distinct_numbers(a: float, b: float) -> tuple[str, str]:
    """Two numbers with 3 significant digits, more where needed so that different values never print alike."""
    for digits in range(3, 7):
        text_a, text_b = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if text_a != text_b or a == b:
            break
    return text_a, text_b  # still equal at 6 digits: change() says "stayed at"


def direction(before: float, after: float) -> str:
    """'rose', 'fell' or 'stayed', judged on the numbers as they are printed."""
    text_before, text_after = distinct_numbers(before, after)
    if text_before == text_after:
        return "stayed"
    return "rose" if after > before else "fell"


def change(before: float, after: float, *, since: bool = False) -> str:
    """'fell from 0.691 to 0.652 (-5.6%)', 'rose from ...' or 'stayed at ...': the verb and sign follow the numbers."""
    text_before, text_after = distinct_numbers(before, after)
    way = direction(before, after)
    if way == "stayed":
        return f"stayed at {text_before}"
    verb = {"rose": "risen", "fell": "fallen"}[way] if since else way
    if not before:
        return f"{verb} from {text_before} to {text_after}"
    share = (after - before) / abs(before)
    # Shown with its sign, never rounded to a zero that contradicts the verb nor to a -100% the numbers do not show.
    percent = f"{share:+.1%}" if abs(share) >= 0.001 else "less than 0.1%"
    if percent == "-100.0%" and after:
        percent = f"{share:+.2%}"
    return f"{verb} from {text_before} to {text_after} ({percent})"


def _fix_lr(lr: float | None, factor: float, **others: Any) -> dict[str, Any]:
    fix: dict[str, Any] = {f"training.{k}": v for k, v in others.items() if v is not None}
    if lr:
        fix["training.learning_rate"] = float(f"{lr * factor:.3g}")
    return fix


def _double_accum(config: RunConfig | None) -> int | None:
    return config.training.gradient_accumulation_steps * 2 if config else None


def apply_fix(config: RunConfig, fix: dict[str, Any]) -> RunConfig:
    """A new config with the coach's dotted-key changes applied (validated like any config)."""
    raw = config.to_dict()
    for dotted, value in fix.items():
        section, _, key = dotted.partition(".")
        if not key or section not in raw or not isinstance(raw[section], dict) or key not in raw[section]:
            raise ValueError(f"The coach's fix names an unknown setting {dotted!r}.")
        raw[section][key] = value
    return RunConfig.from_dict(raw)
