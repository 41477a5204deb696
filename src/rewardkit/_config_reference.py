"""The Markdown config reference in docs/config.md, rendered from the models themselves.

A test compares the committed docs with this rendering, so the reference cannot drift from the
code: change a field, run ``rewardkit schema --markdown``, paste.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from rewardkit._components import ComponentKind
from rewardkit._config import EngineConfig, PluginsConfig, RewardKitConfig
from rewardkit._registry import BUILTIN_PLUGINS, ComponentRegistry

__all__ = ["render_config_reference"]

_SECTION_TITLES = {
    ComponentKind.REWARD: (
        "rewards",
        "Rewards and verifiers (`rewards:`)",
        "Common fields: `name`, `type`, `weight`.",
    ),
    ComponentKind.SHAPING: (
        "shaping",
        "Shaping terms (`shaping:`)",
        "Common fields: `name`, `type`, `combine` (`add` or `multiply`).",
    ),
    ComponentKind.TOKEN_MASK: (
        "token",
        "Token-level terms (`token:` list, or one as `token_mask:`)",
        "Common field: `type`.",
    ),
    ComponentKind.DIAGNOSTIC: (
        "diagnostics",
        "Diagnostics (`diagnostics:`)",
        "Common fields: `name`, `type`.",
    ),
}


_BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))


def _plain_type(annotation: Any) -> str:
    """``list[Annotated[int, Field(ge=1)]]`` as ``list[int ≥ 1]``; other types as Python writes
    them (``Annotated`` reprs spell out whole ``FieldInfo`` objects)."""
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        bounds = []
        for meta in metadata:
            for item in getattr(meta, "metadata", None) or [meta]:
                bounds += [
                    f"{sym} {getattr(item, attr)}"
                    for attr, sym in _BOUNDS
                    if getattr(item, attr, None) is not None
                ]
        return " ".join([_plain_type(base), *bounds])
    args = get_args(annotation)
    origin = get_origin(annotation)
    if isinstance(origin, type) and args and "Annotated" in str(annotation):
        return f"{origin.__name__}[{', '.join(_plain_type(a) for a in args)}]"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _type_name(annotation: Any) -> str:
    return _plain_type(annotation).replace("|", "\\|")


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        if getattr(field.default_factory, "__name__", "") == "<lambda>":
            return "(computed)"  # machine-dependent, e.g. the CPU count
        try:
            value = field.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(computed)"
        if isinstance(value, BaseModel):
            return "(see below)"
        return f"`{value!r}`"
    if field.default is PydanticUndefined:
        return "**required**"
    return f"`{field.default!r}`"


def _constraints(field: FieldInfo) -> str:
    parts = []
    for meta in field.metadata:
        for attr, sym in (
            ("ge", "≥"),
            ("gt", ">"),
            ("le", "≤"),
            ("lt", "<"),
            ("min_length", "min len"),
            ("max_length", "max len"),
        ):
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{sym} {value}")
    return ", ".join(parts)


def _table(model: type[BaseModel]) -> list[str]:
    lines = ["| field | type | default | constraints | description |", "|---|---|---|---|---|"]
    for name, field in model.model_fields.items():
        desc = (field.description or "").replace("\n", " ").replace("|", "\\|")
        lines.append(
            f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {_constraints(field)} | {desc} |"
        )
    return lines


def render_config_reference(registry: ComponentRegistry | None = None) -> str:
    """Markdown tables for the top level, the engine and every built-in component type."""
    registry = registry or ComponentRegistry(disabled=())
    out: list[str] = ["### Top level", ""]
    top = {k: v for k, v in RewardKitConfig.model_fields.items()}
    out += ["| field | description |", "|---|---|"]
    out += [f"| `{k}` | {v.description} |" for k, v in top.items()]
    out += [
        "",
        "### `engine:`",
        "",
        *_table(EngineConfig),
        "",
        "### `plugins:`",
        "",
        *_table(PluginsConfig),
    ]
    for kind, (_, title, common) in _SECTION_TITLES.items():
        out += ["", f"### {title}", "", common]
        for info in registry.of_kind(kind).values():
            if info.plugin not in BUILTIN_PLUGINS:
                continue
            out += ["", f"#### `type: {info.type}`", "", info.cls.describe(), ""]
            if info.cls.Config.model_fields:
                out += _table(info.cls.Config)
            else:
                out.append("No fields of its own.")
    return "\n".join(out) + "\n"
