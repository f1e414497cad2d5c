"""Plotly figures for the app: live training curves, run overlays, label balance and token lengths."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

TRAIN_COLOR = "#2563eb"
EVAL_COLOR = "#dc2626"
LR_COLOR = "#9ca3af"
PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777")
HEAT_SCALES = {"blue": [[0, "#f8fafc"], [1, "#2563eb"]], "grey": [[0, "#f8fafc"], [1, "#94a3b8"]]}
EVAL_METRIC_NAMES = {"eval_accuracy": "accuracy", "eval_f1": "F1", "eval_loss": "eval loss"}


def _number(value: Any) -> float | None:
    """A finite float, or None for missing/NaN/inf values (plotted as gaps)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def smooth(values: Sequence[float | None], weight: float) -> list[float | None]:
    """Exponential moving average with bias correction (TensorBoard style); weight 0 means no smoothing."""
    if weight <= 0:
        return list(values)
    weight = min(weight, 0.99)
    out: list[float | None] = []
    avg, norm = 0.0, 0.0
    for v in values:
        if v is None:
            out.append(None)
            continue
        avg = avg * weight + (1 - weight) * v
        norm = norm * weight + (1 - weight)
        out.append(avg / norm)
    return out


def _base_layout(fig: go.Figure, title: str, message: str | None = None) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 15}},
        template="plotly_white",
        height=380,
        margin={"l": 55, "r": 55, "t": 50, "b": 45},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
        hovermode="closest",
    )
    if message:
        fig.add_annotation(
            text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font={"size": 14, "color": "#6b7280"}
        )
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    return fig


def empty_figure(message: str, title: str = "") -> go.Figure:
    """A blank figure that says what will appear here."""
    return _base_layout(go.Figure(), title, message)


def _split(records: Iterable[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    train, evals = [], []
    for r in records:
        kind = r.get("kind")
        if kind == "train" or (kind is None and "loss" in r):
            if _number(r.get("loss")) is not None or _number(r.get("learning_rate")) is not None:
                train.append(r)
        elif kind == "eval" or (kind is None and "eval_loss" in r):
            evals.append(r)
    return train, evals


def count_points(records: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """How many train-loss and eval points the records hold."""
    train, evals = _split(records)
    return sum(_number(r.get("loss")) is not None for r in train), len(evals)


def training_figure(
    records: Sequence[Mapping[str, Any]],
    *,
    smoothing: float = 0.0,
    title: str = "Training curve",
    uirevision: str | None = None,
    empty_message: str = "The curve appears here once training logs its first step.",
    extras: Sequence[tuple[str, str]] = (),
) -> go.Figure:
    """Train loss, eval loss and the learning rate (second axis) against the step; hover shows step and epoch.

    `extras` are the task's own numbers, as (log key, words), e.g. ("rewards/margins", "reward margin"): drawn on a
    third axis from the training logs (lines) and the evaluations (the `eval_` key, markers)."""
    train, evals = _split(records)
    if not train and not evals:
        return empty_figure(empty_message, title)
    fig = go.Figure()
    steps = [r.get("step") for r in train]
    epochs = [_number(r.get("epoch")) or 0.0 for r in train]
    losses = [_number(r.get("loss")) for r in train]
    if any(v is not None for v in losses):
        if smoothing > 0:
            fig.add_trace(
                go.Scatter(
                    x=steps, y=losses, mode="lines", name="train loss (raw)", line={"color": TRAIN_COLOR, "width": 1},
                    opacity=0.25, hoverinfo="skip", showlegend=False,
                )
            )
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=smooth(losses, smoothing),
                customdata=epochs,
                mode="lines+markers" if len(steps) < 40 else "lines",
                name="train loss" + (" (smoothed)" if smoothing > 0 else ""),
                line={"color": TRAIN_COLOR, "width": 2},
                marker={"size": 5},
                hovertemplate="step %{x}<br>epoch %{customdata:.2f}<br>train loss %{y:.4f}<extra></extra>",
            )
        )
    if evals:
        extra_keys = [k for k in ("eval_accuracy", "eval_f1") if any(_number(r.get(k)) is not None for r in evals)]
        custom = [[_number(r.get("epoch")) or 0.0] + [_number(r.get(k)) for k in extra_keys] for r in evals]
        extra = "".join(f"<br>{EVAL_METRIC_NAMES[k]} %{{customdata[{i + 1}]:.3f}}" for i, k in enumerate(extra_keys))
        fig.add_trace(
            go.Scatter(
                x=[r.get("step") for r in evals],
                y=[_number(r.get("eval_loss")) for r in evals],
                customdata=custom,
                mode="lines+markers",
                name="eval loss",
                line={"color": EVAL_COLOR, "width": 2},
                marker={"size": 8, "symbol": "diamond"},
                hovertemplate="step %{x}<br>epoch %{customdata[0]:.2f}<br>eval loss %{y:.4f}" + extra + "<extra></extra>",
            )
        )
    lrs = [_number(r.get("learning_rate")) for r in train]
    if any(v is not None for v in lrs):
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=lrs,
                customdata=epochs,
                yaxis="y2",
                mode="lines",
                name="learning rate",
                line={"color": LR_COLOR, "width": 1.5, "dash": "dot"},
                hovertemplate="step %{x}<br>epoch %{customdata:.2f}<br>learning rate %{y:.2e}<extra></extra>",
            )
        )
    drawn = _add_extras(fig, train, evals, extras)
    _base_layout(fig, title)
    fig.update_layout(
        xaxis={"title": "step", "rangemode": "tozero", **({"domain": [0, 0.88]} if drawn else {})},
        yaxis={"title": "loss"},
        yaxis2={"title": "learning rate", "overlaying": "y", "side": "right", "showgrid": False, "exponentformat": "e"},
        uirevision=uirevision,
    )
    if drawn:
        fig.update_layout(yaxis3={"title": " / ".join(drawn), "overlaying": "y", "side": "right", "anchor": "free",
                                  "position": 1.0, "showgrid": False})
    return fig


EXTRA_COLORS = ("#16a34a", "#9333ea", "#0891b2")


def _add_extras(fig: go.Figure, train: Sequence[Mapping[str, Any]], evals: Sequence[Mapping[str, Any]],
                extras: Sequence[tuple[str, str]]) -> list[str]:
    """Draw the task's own numbers on the third axis; returns the words of those that had points."""
    drawn = []
    for (key, name), color in zip(extras, EXTRA_COLORS):
        for rows, eval_side in ((train, False), (evals, True)):
            field = f"eval_{key}" if eval_side else key
            points = [(r.get("step"), _number(r.get(field))) for r in rows if _number(r.get(field)) is not None]
            if not points:
                continue
            label = f"{'eval ' if eval_side else ''}{name}"
            fig.add_trace(go.Scatter(
                x=[p[0] for p in points], y=[p[1] for p in points], yaxis="y3", name=label,
                mode="lines+markers" if eval_side else "lines",
                line={"color": color, "width": 2 if eval_side else 1.5, "dash": None if eval_side else "dash"},
                marker={"size": 7, "symbol": "diamond"},
                hovertemplate=f"step %{{x}}<br>{label} %{{y:.3f}}<extra></extra>",
            ))
            if name not in drawn:
                drawn.append(name)
    return drawn


def overlay_figure(runs: Mapping[str, Sequence[Mapping[str, Any]]], *, smoothing: float = 0.0) -> go.Figure:
    """Several runs on one figure: train loss solid, eval loss dashed, one color per run."""
    if not runs:
        return empty_figure("Tick one or more runs above to compare their curves.", "Runs side by side")
    fig = go.Figure()
    for i, (name, records) in enumerate(runs.items()):
        color = PALETTE[i % len(PALETTE)]
        train, evals = _split(records)
        if train:
            fig.add_trace(
                go.Scatter(
                    x=[r.get("step") for r in train],
                    y=smooth([_number(r.get("loss")) for r in train], smoothing),
                    customdata=[_number(r.get("epoch")) or 0.0 for r in train],
                    mode="lines",
                    name=f"{name}: train loss",
                    line={"color": color, "width": 2},
                    hovertemplate=f"{name}<br>step %{{x}}<br>epoch %{{customdata:.2f}}<br>train loss %{{y:.4f}}<extra></extra>",
                )
            )
        if evals:
            fig.add_trace(
                go.Scatter(
                    x=[r.get("step") for r in evals],
                    y=[_number(r.get("eval_loss")) for r in evals],
                    customdata=[_number(r.get("epoch")) or 0.0 for r in evals],
                    mode="lines+markers",
                    name=f"{name}: eval loss",
                    line={"color": color, "width": 2, "dash": "dash"},
                    marker={"symbol": "diamond", "size": 7},
                    hovertemplate=f"{name}<br>step %{{x}}<br>epoch %{{customdata:.2f}}<br>eval loss %{{y:.4f}}<extra></extra>",
                )
            )
    _base_layout(fig, "Runs side by side")
    fig.update_layout(xaxis={"title": "step"}, yaxis={"title": "loss"}, height=420)
    return fig


def label_balance_figure(counts: Mapping[str, int], title: str = "How many examples per label") -> go.Figure:
    """A bar per label with its row count."""
    if not counts:
        return empty_figure("No labels found.", title)
    labels = [str(k) for k in counts]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=list(counts.values()),
            marker_color=PALETTE[0],
            text=list(counts.values()),
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x}: %{y} rows<extra></extra>",
        )
    )
    _base_layout(fig, title)
    top = max(counts.values()) if counts else 1
    fig.update_layout(
        xaxis={"title": "label", "type": "category"},
        yaxis={"title": "rows", "range": [0, top * 1.15]},
        height=300,
        showlegend=False,
    )
    return fig


def length_histogram_figure(
    lengths: Sequence[int] | None = None,
    *,
    max_length: int | None = None,
    bins: Sequence[tuple[float, float, int]] | None = None,
    title: str = "Example length in tokens",
) -> go.Figure:
    """Token lengths as a histogram (raw lengths, or precomputed (start, end, count) bins) with the max-length cut."""
    if not lengths and not bins:
        return empty_figure("Token lengths appear once data and a model are chosen.", title)
    if bins:
        trace = go.Bar(
            x=[(a + b) / 2 for a, b, _ in bins],
            y=[c for _, _, c in bins],
            width=[max(b - a, 1) for a, b, _ in bins],
            customdata=[[a, b] for a, b, _ in bins],
            marker_color=PALETTE[2],
            hovertemplate="%{customdata[0]:.0f}-%{customdata[1]:.0f} tokens: %{y} rows<extra></extra>",
        )
    else:
        trace = go.Histogram(x=list(lengths or []), marker_color=PALETTE[2], hovertemplate="%{x} tokens: %{y} rows<extra></extra>")
    fig = go.Figure(trace)
    longest = max(lengths) if lengths else max(b for _, b, _ in bins or [(0, 1, 0)])
    xaxis: dict[str, Any] = {"title": "tokens"}
    if max_length and max_length <= 2 * longest:
        fig.add_vline(
            x=max_length, line={"color": EVAL_COLOR, "dash": "dash"}, annotation_text=f"max length {max_length}",
            annotation_position="top right",
        )
        xaxis["range"] = [0, max(longest, max_length) * 1.05]
    elif max_length:
        title = f"{title} (max length {max_length}: every row fits)"
        xaxis["range"] = [0, longest * 1.1 + 1]
    _base_layout(fig, title)
    fig.update_layout(xaxis=xaxis, yaxis={"title": "rows"}, height=300, showlegend=False, bargap=0.05)
    return fig


def confusion_matrix_figure(
    matrix: Sequence[Sequence[int]] | None,
    labels: Sequence[str] | None,
    title: str = "Confusion matrix",
    colorscale: str = "blue",
) -> go.Figure:
    """A heat map of a confusion matrix: rows are the true labels, columns the predicted ones, counts in the cells."""
    matrix = [list(row) for row in (matrix or [])]
    labels = [str(label) for label in (labels or [])]
    if not matrix or not labels or len(matrix) != len(labels) or any(len(row) != len(labels) for row in matrix):
        return empty_figure("No confusion matrix for this run.", title)
    totals = [sum(row) for row in matrix]
    shares = [[(v / t if t else 0.0) for v in row] for row, t in zip(matrix, totals)]
    text = [[str(v) for v in row] for row in matrix]
    custom = [[[t, s] for s in row_shares] for t, row_shares in zip(totals, shares)]
    fig = go.Figure(
        go.Heatmap(
            z=shares,  # colour by the share of each true label, so rare labels show their mistakes too
            x=labels,
            y=labels,
            text=text,
            texttemplate="%{text}",
            textfont={"size": 18, "color": "#0f172a"},
            customdata=custom,
            colorscale=HEAT_SCALES.get(colorscale, colorscale),
            zmin=0,
            zmax=1,
            showscale=False,
            hovertemplate="true: %{y}<br>predicted: %{x}<br>%{text} of %{customdata[0]} rows (%{customdata[1]:.0%})"
            "<extra></extra>",
        )
    )
    _base_layout(fig, title)
    size = max(260, min(480, 110 + 60 * len(labels)))
    fig.update_layout(
        xaxis={"title": "predicted label", "type": "category", "side": "bottom"},
        yaxis={"title": "true label", "type": "category", "autorange": "reversed"},
        height=size,
        margin={"l": 90, "r": 20, "t": 50, "b": 60},
        showlegend=False,
    )
    return fig
