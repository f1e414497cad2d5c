"""The run form: every widget that feeds the run config, registered under its config path.

Tabs add widgets with `Form.field(...)`; the Train button reads them all as one dict and
`Form.to_config` turns that into ONE `RunConfig`. Presets and examples go the other way with
`Form.updates`. Widgets are built from the config dataclasses, with their `help` as info text.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Literal, get_args, get_origin

import gradio as gr

from ft_app import config as cfg
from ft_app.config import (
    OPTIMIZERS,
    SCHEDULERS,
    DataConfig,
    EvaluationSettings,
    LoraSettings,
    ModelConfig,
    RunConfig,
    TrainingSettings,
)
from ft_app.ui import words
from ft_app.ui.common import field_label

Path_ = tuple[str, ...]
SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "data": DataConfig,
    "lora": LoraSettings,
    "training": TrainingSettings,
    "evaluation": EvaluationSettings,
}
# Choices for free-text fields that in practice take one of a few values.
EXTRA_CHOICES: dict[str, tuple[str, ...]] = {
    "scheduler": SCHEDULERS,
    "optimizer": OPTIMIZERS,
    "metric_for_best_model": ("auto", "eval_loss", "accuracy", "f1"),
}


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, globalns=vars(cfg))


def _optional(hint: Any) -> tuple[Any, bool]:
    """The type inside `X | None`, and whether None is allowed."""
    args = get_args(hint)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else hint), True
    return hint, False


def config_field(section: str, name: str) -> dataclasses.Field:
    """The dataclass field behind a config path."""
    for f in dataclasses.fields(SECTIONS[section]):
        if f.name == name:
            return f
    raise KeyError(f"{section}.{name}")


def defaults() -> dict[Path_, Any]:
    """Every form field's default value, keyed by config path."""
    out: dict[Path_, Any] = {("task",): "classification", ("method",): "full", ("name",): None}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            value = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            out[(section, f.name)] = value
    return out


def flatten(partial: dict[str, Any]) -> dict[Path_, Any]:
    """A partial config dict (hand-written shape) as {config path: value}."""
    out: dict[Path_, Any] = {}
    for key, value in partial.items():
        if key == "model" and isinstance(value, str):
            out[("model", "name_or_path")] = value
        elif key in SECTIONS and isinstance(value, dict):
            for sub, v in value.items():
                out[(key, sub)] = v
        else:
            out[(key,)] = value
    return out


class Form:
    """The registry of run-config widgets, shared by the tabs of one app."""

    def __init__(self) -> None:
        self.paths: dict[gr.components.Component, Path_] = {}
        self.by_path: dict[Path_, gr.components.Component] = {}

    def add(self, path: Path_, component: gr.components.Component) -> gr.components.Component:
        """Register a widget built by the caller under a config path."""
        self.paths[component] = path
        self.by_path[path] = component
        return component

    def field(self, section: str, name: str, **kwargs: Any) -> gr.components.Component:
        """Build the widget for a config field (label, help, type and default from the dataclass) and register it."""
        f = config_field(section, name)
        hint, optional = _optional(_hints(SECTIONS[section])[name])
        default = defaults()[(section, name)]
        common: dict[str, Any] = {
            "label": field_label(name),
            "info": f.metadata.get("help"),
            "elem_id": f"cfg-{section}-{name}".replace("_", "-"),
        }
        common.update(kwargs)
        if hint is bool and optional:
            comp = gr.Radio(words.TRISTATE, value=_to_widget(default, tristate=True), **common)
        elif hint is bool:
            comp = gr.Checkbox(value=default, **common)
        elif get_origin(hint) is Literal:
            comp = gr.Dropdown(list(get_args(hint)), value=default, **common)
        elif name in EXTRA_CHOICES:
            comp = gr.Dropdown(list(EXTRA_CHOICES[name]), value=default, allow_custom_value=True, **common)
        elif hint in (int, float):
            if optional:
                common.setdefault("placeholder", words.EMPTY_IS_AUTOMATIC)
            comp = gr.Number(value=_to_widget(default, number=True), precision=0 if hint is int else None, **common)
        elif get_origin(hint) is list:
            separator = _separator((section, name))
            kwargs_list = {"placeholder": words.EMPTY_IS_USUAL, **common}
            if separator == "\n":
                kwargs_list.setdefault("lines", 3)
            comp = gr.Textbox(value=_to_widget(default, separator=separator), **kwargs_list)
        else:
            comp = gr.Textbox(value=_to_widget(default), **common)
        return self.add((section, name), comp)

    def components(self) -> set[gr.components.Component]:
        """All registered widgets (the Train button's inputs)."""
        return set(self.paths)

    def empty_untouched_numbers(self, values: dict[gr.components.Component, Any]) -> dict[Any, Any]:
        """Updates that draw the optional number boxes the visitor left alone as empty, and leave the rest.

        The browser draws a number box built with no value as 0; only an update to None draws it empty. What the
        visitor already typed (the page-load event can arrive after the first keystrokes) is kept.
        """
        out = self.unchanged()
        for comp, path in self.paths.items():
            if isinstance(comp, gr.Number) and _is_optional(path) and not values.get(comp):
                out[comp] = gr.update(value=None)
        return out

    def unchanged(self) -> dict[Any, Any]:
        """Updates that leave every form widget as it is (an empty dict is not "no update" in Gradio 6)."""
        return {comp: gr.skip() for comp in self.paths}

    def to_dict(self, values: dict[gr.components.Component, Any]) -> dict[str, Any]:
        """Widget values as a config dict in the hand-written shape."""
        raw: dict[str, Any] = {section: {} for section in SECTIONS}
        for comp, path in self.paths.items():
            if comp not in values:
                continue
            value = _from_widget(path, values[comp])
            if len(path) == 1:
                raw[path[0]] = value
            else:
                raw[path[0]][path[1]] = value
        return raw

    def to_config(self, values: dict[gr.components.Component, Any]) -> RunConfig:
        """Widget values as ONE validated run config (raises ConfigError with a plain message)."""
        return RunConfig.from_dict(self.to_dict(values))

    def updates(self, partial: dict[str, Any], *, reset: bool = False, keep: tuple[Path_, ...] = ()) -> dict[Any, Any]:
        """Widget updates that set the form to a partial config; with reset, unmentioned fields go back to defaults."""
        values = defaults() if reset else {}
        values.update(flatten(partial))
        out: dict[Any, Any] = {}
        for path, value in values.items():
            comp = self.by_path.get(path)
            if comp is None or path in keep:
                continue
            out[comp] = gr.update(
                value=_to_widget(
                    value, tristate=_is_tristate(path), number=isinstance(comp, gr.Number), separator=_separator(path)
                )
            )
        return out


def _is_optional(path: Path_) -> bool:
    """Whether a config path may be left empty (None)."""
    return len(path) == 2 and path[0] in SECTIONS and _optional(_hints(SECTIONS[path[0]])[path[1]])[1]


def _is_tristate(path: Path_) -> bool:
    """Whether a config path is an optional bool (shown as Automatic / Yes / No)."""
    if len(path) != 2 or path[0] not in SECTIONS:
        return False
    hint, optional = _optional(_hints(SECTIONS[path[0]])[path[1]])
    return hint is bool and optional


def _separator(path: Path_) -> str:
    """How a list field is written in its text box: one item per line, or comma-separated."""
    if len(path) != 2 or path[0] not in SECTIONS:
        return ", "
    try:
        sep = config_field(*path).metadata.get("separator", ",")
    except KeyError:
        return ", "
    return "\n" if sep == "\n" else f"{sep} "


def _to_widget(value: Any, tristate: bool = False, number: bool = False, separator: str = ", ") -> Any:
    if number:
        return value  # None: an empty box (when sent as an update; see Form.empty_untouched_numbers)
    if tristate:
        return {None: "auto", True: "yes", False: "no"}.get(value, value)
    if isinstance(value, list):
        return separator.join(str(v) for v in value)
    return "" if value is None else value


def _from_widget(path: Path_, value: Any) -> Any:
    """A widget value as the config expects it: blank text means None, tri-state radios become bool/None."""
    if len(path) == 2 and path[0] in SECTIONS:
        hint, optional = _optional(_hints(SECTIONS[path[0]])[path[1]])
        if hint is bool and optional:
            return {"auto": None, "yes": True, "no": False}.get(value, value)
        if isinstance(value, str) and not value.strip() and optional:
            return None
        if hint in (int, float) and optional and (value is None or value == 0):
            return None  # an emptied box; 0 is never a meaningful value for these (steps, rates, limits)
        if isinstance(value, float) and hint is int and value.is_integer():
            return int(value)
        if isinstance(value, str) and hint is not str and get_origin(hint) is not list and get_origin(hint) is not Literal:
            return value.strip()
    if path == ("name",) and isinstance(value, str):
        # People type names with spaces ("my reviews v1"); a run folder name takes dashes instead.
        return "-".join(value.split()) or None
    return value
