"""The pydantic config: a static top level, with component entries validated by each component's
own model, found through the plugin registry.

Component entries form discriminated unions selected by their ``type`` literal (one union per
section), built from the registry, so plugin components get the same validation, errors and JSON
Schema as built-ins.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from rewardkit._components import (
    Component,
    ComponentKind,
    EntryCheckContext,
    entry_reference_requirement,
    entry_references,
)
from rewardkit._errors import ConfigError, ConfigErrorDetail
from rewardkit._registry import ComponentRegistry, did_you_mean, get_registry

__all__ = [
    "EngineConfig",
    "PluginsConfig",
    "RewardKitConfig",
    "component_of",
    "config_json_schema",
    "config_model",
    "load_config",
    "parse_config",
]

_NAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"

_SECTION_KIND: dict[str, ComponentKind] = {
    "rewards": ComponentKind.REWARD,
    "shaping": ComponentKind.SHAPING,
    "token_mask": ComponentKind.TOKEN_MASK,
    "diagnostics": ComponentKind.DIAGNOSTIC,
    "token": ComponentKind.TOKEN_MASK,  # last: error messages point to the token: list
}
_KIND_SECTION = {kind: section for section, kind in _SECTION_KIND.items()}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PluginsConfig(_Strict):
    """Which plugins to block for this config."""

    disable: list[str] = Field(
        default_factory=list,
        description="Plugin names to block (entry-point names, or built-ins such as "
        "'rewardkit.shaping'); added to those in REWARDKIT_DISABLE_PLUGINS.",
    )


class EngineConfig(_Strict):
    """The execution engine that runs verifiers in worker processes with hard deadlines."""

    workers: int = Field(
        default_factory=lambda: max(1, min(4, os.cpu_count() or 1)),
        ge=1,
        le=512,
        description="Worker processes for verifier work; defaults to the CPU count, at most 4.",
    )
    timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="Hard wall-clock deadline per item in seconds; a worker past it is killed and "
        "the item gets outcome 'timeout'.",
    )
    max_input_chars: int = Field(
        default=16_384,
        ge=64,
        description="Completions longer than this keep only their last characters (where the "
        "answer is) before verification.",
    )
    cache_size: int = Field(
        default=65_536,
        ge=0,
        description="Verdicts cached by (reference, extracted answer); 0 disables the cache.",
    )
    start_method: Literal["spawn", "forkserver"] = Field(
        default="spawn",
        description="multiprocessing start method for workers; never 'fork', which can deadlock "
        "a process that already runs threads (trainers, Ray actors).",
    )
    chunk_size: int = Field(
        default=32,
        ge=1,
        le=4096,
        description="Most items sent to a worker in one message; larger chunks amortise "
        "inter-process traffic, smaller ones balance load. Deadlines stay per item.",
    )
    startup_timeout_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Time a new worker may take to start and warm up (import math-verify, ...) "
        "before it is killed; not counted against any item's deadline.",
    )
    worker_memory_mb: int = Field(
        default=4096,
        ge=0,
        description="Address-space limit per worker process in MiB (setrlimit RLIMIT_AS), so a "
        "runaway bignum fails with MemoryError instead of swapping the machine; 0 means none.",
    )


class _EntryFields(_Strict):
    """Fields every component entry has besides its own."""

    name: str = Field(
        default="",
        pattern=r"^$|" + _NAME_PATTERN,
        description="Unique name of this entry; becomes the metric name. Defaults to the type.",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and not data.get("name") and isinstance(data.get("type"), str):
            data = {**data, "name": data["type"]}
        return data


class _RewardEntryFields(_EntryFields):
    weight: float = Field(
        default=1.0,
        allow_inf_nan=False,
        description="Weight of this reward in the total; 0 makes it log-only.",
    )


class RewardKitConfig(_Strict):
    """A whole rewardkit config. Use :func:`load_config` or :func:`parse_config` to build one:
    they validate each component entry with its own model."""

    plugins: PluginsConfig = Field(default_factory=PluginsConfig, description="Plugin blocking.")
    engine: EngineConfig = Field(
        default_factory=EngineConfig, description="Worker processes and deadlines for verifiers."
    )
    strict: bool = Field(
        default=True,
        description="Raise ValueError for structural input errors (a missing reference a reward "
        "needs); when false such rollouts get outcome 'error' instead.",
    )
    allow_partial_state: bool = Field(
        default=False,
        description="When resuming state (a checkpoint, load_state), let a stateful component "
        "with no state in the file start empty and ignore state saved for a component this config "
        "lacks, with a warning for each; when false (the default) either is a StateError naming "
        "the missing and the unexpected components.",
    )
    max_state_file_mb: int = Field(
        default=256,
        ge=1,
        le=1_048_576,
        description="Largest state file (MiB) that load_state and checkpoint resumes read; a "
        "larger one is a StateError before any of it is read.",
    )
    rewards: list[Any] = Field(
        default_factory=list,
        description="Per-rollout rewards and verifiers; their weighted sum is the base reward.",
    )
    shaping: list[Any] = Field(
        default_factory=list,
        description="Group/batch shaping terms applied after the rewards, in order.",
    )
    token_mask: Any = Field(
        default=None,
        description="Shorthand for a one-item token: list (e.g. {type: entropy_top_ratio}); "
        "set token_mask or token, not both.",
    )
    token: list[Any] = Field(
        default_factory=list,
        description="Token-level terms (entropy_top_ratio, entropy_advantage, clip_cov, kl_cov, "
        "token_entropy); the adapters apply them by stage, whatever the list order: mask, then "
        "advantage, then loss, then diagnostic (docs/masks.md). At most one of each type, and "
        "not both clip_cov and kl_cov.",
    )
    diagnostics: list[Any] = Field(
        default_factory=list, description="Diagnostic metrics computed on each scored batch."
    )


def component_of(entry: BaseModel) -> type[Component]:
    """The component class an entry of a validated config builds."""
    return type(entry).__rewardkit_component__  # type: ignore[attr-defined,no-any-return]


def _entry_model(cls: type[Component]) -> type[BaseModel]:
    kind = cls.kind
    type_field = (Literal[cls.type], Field(description=f"{cls.describe()}"))  # type: ignore[valid-type]
    extra: dict[str, Any] = {"type": type_field}
    bases: tuple[type[BaseModel], ...]
    if kind is ComponentKind.REWARD:
        bases = (_RewardEntryFields, cls.Config)
    elif kind is ComponentKind.SHAPING:
        bases = (_EntryFields, cls.Config)
        extra["combine"] = (
            Literal["add", "multiply"],
            Field(
                default=getattr(cls, "default_combine", "add"),
                description="How this term combines with the reward so far: 'add' adds its "
                "value, 'multiply' multiplies the reward so far by it.",
            ),
        )
    elif kind is ComponentKind.DIAGNOSTIC:
        bases = (_EntryFields, cls.Config)
    else:
        bases = (cls.Config,)
    model = create_model(  # type: ignore[call-overload]
        f"{cls.__name__}Entry",
        __base__=bases,
        __doc__=cls.describe(),
        **extra,
    )
    model.__rewardkit_component__ = cls
    return model  # type: ignore[no-any-return]


def _no_component_registered(value: Any) -> Any:
    tag = value.get("type") if isinstance(value, Mapping) else None
    raise PydanticCustomError(
        "union_tag_invalid", "no component of this kind is registered", {"tag": tag}
    )


def _union(models: Sequence[type[BaseModel]]) -> Any:
    if not models:
        # Every plugin of this kind is blocked: any entry is an unknown type.
        return Annotated[Any, BeforeValidator(_no_component_registered)]
    if len(models) == 1:
        return models[0]
    return Annotated[Union[tuple(models)], Field(discriminator="type")]  # noqa: UP007


@lru_cache(maxsize=16)
def config_model(registry: ComponentRegistry | None = None) -> type[RewardKitConfig]:
    """The config model for a registry: :class:`RewardKitConfig` with typed component unions."""
    registry = registry or get_registry()
    by_kind: dict[ComponentKind, list[type[BaseModel]]] = {k: [] for k in ComponentKind}
    for info in registry.components.values():
        by_kind[info.kind].append(_entry_model(info.cls))
    reward_u = _union(by_kind[ComponentKind.REWARD])
    shaping_u = _union(by_kind[ComponentKind.SHAPING])
    mask_u = _union(by_kind[ComponentKind.TOKEN_MASK])
    diag_u = _union(by_kind[ComponentKind.DIAGNOSTIC])
    fields = RewardKitConfig.model_fields
    model = create_model(
        "RewardKitConfig",
        __base__=RewardKitConfig,
        __doc__=RewardKitConfig.__doc__,
        rewards=(
            list[reward_u],
            Field(default_factory=list, description=fields["rewards"].description),
        ),
        shaping=(
            list[shaping_u],
            Field(default_factory=list, description=fields["shaping"].description),
        ),
        token_mask=(
            mask_u | None,
            Field(default=None, description=fields["token_mask"].description),
        ),
        token=(
            list[mask_u],
            Field(default_factory=list, description=fields["token"].description),
        ),
        diagnostics=(
            list[diag_u],
            Field(default_factory=list, description=fields["diagnostics"].description),
        ),
    )
    model.__rewardkit_registry__ = registry  # type: ignore[attr-defined]
    return model  # type: ignore[no-any-return]


def registry_of(config: RewardKitConfig) -> ComponentRegistry:
    """The registry a validated config was built with."""
    return getattr(type(config), "__rewardkit_registry__", None) or get_registry(
        config.plugins.disable
    )


def config_json_schema(registry: ComponentRegistry | None = None) -> dict[str, Any]:
    """JSON Schema of the whole config, plugin components included (for editor completion)."""
    schema = config_model(registry or get_registry()).model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema.setdefault("title", "rewardkit config")
    return schema


# --------------------------------------------------------------------------- errors


def _format_location(
    loc: Sequence[Any], registry: ComponentRegistry
) -> tuple[str, Component | None, list[Any]]:
    """Turn pydantic's ``('rewards', 1, 'math', 'timeout_s')`` into ``rewards[1].timeout_s``.

    Discriminated unions insert the tag into the location; users never wrote it, so it goes.
    Returns the path, the component class of the entry (when known) and the cleaned parts.
    """
    parts: list[Any] = []
    comp: Any = None
    items = list(loc)
    i = 0
    while i < len(items):
        part = items[i]
        parts.append(part)
        is_entry_start = (
            len(parts) == 2
            and parts[0] in ("rewards", "shaping", "diagnostics", "token")
            and isinstance(part, int)
        ) or (len(parts) == 1 and part == "token_mask")
        if is_entry_start and i + 1 < len(items) and isinstance(items[i + 1], str):
            tag = items[i + 1]
            if tag in registry.components:
                comp = registry.components[tag].cls
                i += 1
        i += 1
    if comp is None and parts and parts[0] in _SECTION_KIND:
        # A section with a single registered type is no union, so pydantic puts no tag in loc.
        only = registry.of_kind(_SECTION_KIND[parts[0]])
        if len(only) == 1:
            comp = next(iter(only.values())).cls
    text = ""
    for p in parts:
        text += f"[{p}]" if isinstance(p, int) else (f".{p}" if text else str(p))
    return text, comp, parts


def _entry_fields(comp: type[Component] | None, section: str | None) -> list[str]:
    if comp is None:
        return []
    names = [*comp.Config.model_fields, "type"]
    if section in ("rewards", "shaping", "diagnostics"):
        names.append("name")
    if section == "rewards":
        names.append("weight")
    if section == "shaping":
        names.append("combine")
    return names


def _translate(exc: ValidationError, registry: ComponentRegistry) -> list[ConfigErrorDetail]:
    details: list[ConfigErrorDetail] = []
    for err in exc.errors(include_url=False):
        where, comp, parts = _format_location(err["loc"], registry)
        section = parts[0] if parts and isinstance(parts[0], str) else None
        kind = _SECTION_KIND.get(section or "")
        etype = err["type"]
        if etype == "union_tag_invalid":
            tag = err.get("ctx", {}).get("tag", err.get("input"))
            details.append(
                ConfigErrorDetail(f"{where}.type", _unknown_type_message(str(tag), kind, registry))
            )
        elif etype == "union_tag_not_found":
            known = ", ".join(registry.of_kind(kind)) if kind else ""
            details.append(
                ConfigErrorDetail(
                    f"{where}.type", f"missing field 'type'; expected one of: {known}"
                )
            )
        elif etype == "literal_error" and parts and parts[-1] == "type" and kind is not None:
            details.append(
                ConfigErrorDetail(
                    where, _unknown_type_message(str(err.get("input")), kind, registry)
                )
            )
        elif etype == "extra_forbidden":
            field = str(parts[-1]) if parts else ""
            candidates = _entry_fields(comp, section) if comp else _static_fields(parts[:-1])
            msg = f"unknown field {field!r}{did_you_mean(field, candidates)}"
            if candidates:
                msg += f" Expected one of: {', '.join(sorted(candidates))}."
            details.append(ConfigErrorDetail(where, msg))
        elif etype == "value_error" and isinstance(err.get("ctx", {}).get("error"), ConfigError):
            # A component validator that names its field (ConfigFieldError).
            for d in err["ctx"]["error"].details:
                at = f"{where}.{d.location}" if d.location and where else d.location or where
                details.append(ConfigErrorDetail(at, d.message))
        else:
            got = err.get("input")
            shown = repr(got)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            msg = err["msg"]
            if etype not in ("missing",) and not isinstance(got, (dict, list)):
                msg += f" (got {shown})"
            details.append(ConfigErrorDetail(where, msg))
    return details


def _static_fields(parts: Sequence[Any]) -> list[str]:
    model: type[BaseModel] = RewardKitConfig
    for p in parts:
        if isinstance(p, int):
            continue
        ann = model.model_fields.get(p)
        inner = getattr(ann, "annotation", None) if ann else None
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            model = inner
        else:
            return []
    return list(model.model_fields)


def _unknown_type_message(tag: str, kind: ComponentKind | None, registry: ComponentRegistry) -> str:
    known = registry.of_kind(kind) if kind else dict(registry.components)
    if kind is not None and tag in registry.components:
        other = registry.components[tag].kind
        return (
            f"type {tag!r} is a {other.value} component, not a {kind.value}; list it under "
            f"'{_KIND_SECTION[other]}:'"
        )
    return (
        f"unknown type {tag!r}{did_you_mean(tag, known)} "
        f"Known {kind.value + ' ' if kind else ''}types: {', '.join(known) or '(none)'}."
    )


def _cross_checks(config: RewardKitConfig, registry: ComponentRegistry) -> list[ConfigErrorDetail]:
    """Rules across entries (unique names, references), then each component's own
    :meth:`~rewardkit.Component.check_entry`, then the ``token:`` list."""
    details: list[ConfigErrorDetail] = []
    seen: dict[str, str] = {}
    for section in ("rewards", "shaping", "diagnostics"):
        for i, entry in enumerate(getattr(config, section)):
            where = f"{section}[{i}].name"
            if entry.name in seen:
                details.append(
                    ConfigErrorDetail(
                        where,
                        f"duplicate name {entry.name!r} (also at {seen[entry.name]}); names must be unique",
                    )
                )
            else:
                seen[entry.name] = where.removesuffix(".name")
    context = EntryCheckContext(config=config, registry=registry)
    for where, entry in _entries(config):
        details.extend(_reference_checks(config, where, entry))
        for field, message in component_of(entry).check_entry(entry, context):
            details.append(ConfigErrorDetail(f"{where}.{field}" if field else where, message))
    details.extend(_token_checks(config))
    return details


def _entries(config: RewardKitConfig) -> list[tuple[str, BaseModel]]:
    """Every component entry with its path (``shaping[1]``, ``token_mask``)."""
    out: list[tuple[str, BaseModel]] = []
    for section in ("rewards", "shaping", "diagnostics", "token"):
        out += [(f"{section}[{i}]", e) for i, e in enumerate(getattr(config, section))]
    if config.token_mask is not None:
        out.append(("token_mask", config.token_mask))
    return out


def _reference_checks(
    config: RewardKitConfig, where: str, entry: BaseModel
) -> list[ConfigErrorDetail]:
    """Fields declared with :func:`~rewardkit._components.entry_reference_field` name an entry
    of their section (``answer_from`` names a reward, for instance), and one whose ``requires``
    names a class attribute names an entry whose component declares it true (an ``answer_from``
    that reads answers names a reward with ``provides_answers``)."""
    details: list[ConfigErrorDetail] = []
    for field, section in entry_references(type(entry)).items():
        ref = getattr(entry, field, None)
        if ref is None:
            continue
        entries = list(getattr(config, section, ()))
        names = [e.name for e in entries]
        what = section.removesuffix("s") if section != "shaping" else "shaping term"
        if ref not in names:
            msg = (
                f"{field} {ref!r} names no {what}{did_you_mean(str(ref), names)} "
                f"{section.capitalize()}: {', '.join(names) or '(none)'}."
            )
            details.append(ConfigErrorDetail(f"{where}.{field}", msg))
            continue
        requires = entry_reference_requirement(type(entry), field)
        if requires is None:
            continue
        named = entries[names.index(ref)]
        if not getattr(component_of(named), requires, False):
            fit = [e.name for e in entries if getattr(component_of(e), requires, False)]
            msg = (
                f"{field} {ref!r} names a {what} of type {named.type!r}, which does not declare "
                f"{requires} (its results carry no answers to use). {section.capitalize()} "
                f"that do: {', '.join(fit) or '(none)'}."
            )
            details.append(ConfigErrorDetail(f"{where}.{field}", msg))
    return details


#: Token stages of which at most one term can apply, and why (a term's ``token_stage``; a term
#: without one is a mask).
_EXCLUSIVE_STAGES: dict[str, str] = {
    "loss": "both change the per-token policy loss of the same tokens; keep one",
}


def _token_checks(config: RewardKitConfig) -> list[ConfigErrorDetail]:
    """The ``token:`` list: not together with ``token_mask:``, one entry per type, at most one
    mask, and at most one term of a stage whose terms change the same thing (the loss)."""
    terms = list(config.token)
    if not terms:
        return []
    if config.token_mask is not None:
        return [
            ConfigErrorDetail(
                "token_mask",
                "token_mask is shorthand for a one-item token: list; set one of them, not both "
                "(move this entry into token:)",
            )
        ]
    details: list[ConfigErrorDetail] = []
    seen: dict[str, int] = {}
    by_stage: dict[str, tuple[int, str]] = {}
    masks: list[int] = []
    for i, entry in enumerate(terms):
        kind = entry.type
        if kind in seen:
            details.append(
                ConfigErrorDetail(
                    f"token[{i}].type", f"{kind!r} is listed twice (also token[{seen[kind]}])"
                )
            )
            continue
        seen[kind] = i
        stage = str(component_of(entry).token_stage)
        if stage == "mask":
            masks.append(i)
        elif stage in _EXCLUSIVE_STAGES:
            if stage in by_stage:
                j, other = by_stage[stage]
                details.append(
                    ConfigErrorDetail(
                        f"token[{i}].type",
                        f"{kind!r} cannot be combined with {other!r} (token[{j}]): "
                        f"{_EXCLUSIVE_STAGES[stage]}",
                    )
                )
            else:
                by_stage[stage] = (i, kind)
    if len(masks) > 1:
        details.append(
            ConfigErrorDetail(
                f"token[{masks[1]}].type",
                f"only one token mask can apply (token[{masks[0]}] is one already)",
            )
        )
    return details


# --------------------------------------------------------------------------- entry points


def parse_config(
    data: Mapping[str, Any] | RewardKitConfig,
    *,
    source: str | None = None,
    registry: ComponentRegistry | None = None,
) -> RewardKitConfig:
    """Validate a config given as a mapping (or re-validate a config object)."""
    if isinstance(data, RewardKitConfig):
        if registry is None and hasattr(type(data), "__rewardkit_registry__"):
            return data
        data = data.model_dump(mode="python", exclude_unset=True)
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"the top level must be a mapping, got {type(data).__name__}", source=source
        )
    if registry is None:
        plugins = data.get("plugins") or {}
        disable = plugins.get("disable", []) if isinstance(plugins, Mapping) else []
        if not isinstance(disable, list) or not all(isinstance(x, str) for x in disable):
            raise ConfigError(
                [ConfigErrorDetail("plugins.disable", "expected a list of plugin names")],
                source=source,
            )
        registry = get_registry(disable)
    model = config_model(registry)
    try:
        config = model.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(_translate(exc, registry), source=source) from None
    problems = _cross_checks(config, registry)
    if problems:
        raise ConfigError(problems, source=source)
    return config


#: Most YAML nodes a config file may expand to, every alias counted as a full copy of what it
#: names. Real configs have a few hundred; a "billion laughs" file of a few hundred bytes expands
#: to billions and would exhaust memory once anything walks it (validation, a sandbox's options).
MAX_YAML_NODES = 100_000


def _expanded_yaml_nodes(root: Any, limit: int) -> int:
    """The number of nodes ``root`` stands for with every alias expanded, stopping past ``limit``.

    Shared nodes are sized once (memoised), so this costs the size of the file, not of the
    expansion. A node that contains itself (``&a [*a]``) expands without end.
    """
    import yaml

    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ConfigError(
                f"YAML node at {node.start_mark} contains itself through an alias; a config "
                "cannot be recursive"
            )
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                total += size(child)
                if total > limit:
                    break
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
                if total > limit:
                    break
        active.discard(key)
        sizes[key] = total
        return total

    return size(root)


def _load_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load`` with alias expansion bounded by :data:`MAX_YAML_NODES` for the file."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
            expanded = 0 if node is None else _expanded_yaml_nodes(node, MAX_YAML_NODES)
        except RecursionError:
            raise ConfigError(
                "the YAML file nests too deeply to be a config", source=source
            ) from None
        except ConfigError as exc:
            raise ConfigError(exc.details, source=source) from None
        if node is None:
            return None
        if expanded > MAX_YAML_NODES:
            raise ConfigError(
                f"the YAML file expands to more than {MAX_YAML_NODES:,} nodes once its aliases "
                "(*name) are expanded (an alias counts as a full copy of the anchored node); "
                "this is a 'billion laughs' bomb or far larger than any config - write the "
                "repeated parts out or anchor smaller pieces",
                source=source,
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _read_file(path: Path) -> Any:
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            return _load_yaml(text, str(path)) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"YAML syntax error: {exc}", source=str(path)) from None
    if suffix == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"TOML syntax error: {exc}", source=str(path)) from None
        except RecursionError:
            raise ConfigError(
                "the TOML file nests too deeply to be a config", source=str(path)
            ) from None
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"JSON syntax error: {exc}", source=str(path)) from None
        except RecursionError:
            raise ConfigError(
                "the JSON file nests too deeply to be a config", source=str(path)
            ) from None
    raise ConfigError(
        f"unknown config file extension {suffix!r}; use .yaml, .yml, .toml or .json",
        source=str(path),
    )


def load_config(
    path: str | os.PathLike[str], *, registry: ComponentRegistry | None = None
) -> RewardKitConfig:
    """Read and validate a YAML, TOML or JSON config file (chosen by extension)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}", source=str(p))
    return parse_config(_read_file(p), source=str(p), registry=registry)
