"""Built-in verifiers (plugin ``rewardkit.verifiers``).

Answer extraction helpers are public too: :func:`extract_final_answer` is the answer key that
exploration and diversity terms fall back to when no ``answer_from`` reward is named.
"""

from __future__ import annotations

import pluggy

from rewardkit._components import Component
from rewardkit.hookspecs import hookimpl
from rewardkit.verifiers import hookspecs as _verifier_hookspecs
from rewardkit.verifiers._bwrap import AutoSandbox, BwrapSandbox
from rewardkit.verifiers._choice import ChoiceVerifier, extract_choice
from rewardkit.verifiers._code import CodeTest, CodeVerifier, extract_code, parse_tests
from rewardkit.verifiers._exact import ExactMatchVerifier
from rewardkit.verifiers._extract import (
    extract_answer,
    extract_final_answer,
    normalize_answer,
    reference_answer,
)
from rewardkit.verifiers._format import FormatReward
from rewardkit.verifiers._length import OverlongPenalty, soft_overlong_penalty
from rewardkit.verifiers._math import MathVerifier
from rewardkit.verifiers._numeric import NumericVerifier
from rewardkit.verifiers._repetition import NgramRepetitionPenalty, repeated_ngram_fraction
from rewardkit.verifiers._sandbox import (
    CodeSandbox,
    LocalSubprocessSandbox,
    SandboxRequest,
    SandboxResult,
    code_sandboxes,
)

__all__ = [
    "AutoSandbox",
    "BwrapSandbox",
    "ChoiceVerifier",
    "CodeSandbox",
    "CodeTest",
    "CodeVerifier",
    "ExactMatchVerifier",
    "FormatReward",
    "LocalSubprocessSandbox",
    "MathVerifier",
    "NgramRepetitionPenalty",
    "NumericVerifier",
    "OverlongPenalty",
    "SandboxRequest",
    "SandboxResult",
    "code_sandboxes",
    "extract_answer",
    "extract_choice",
    "extract_code",
    "extract_final_answer",
    "normalize_answer",
    "parse_tests",
    "reference_answer",
    "repeated_ngram_fraction",
    "soft_overlong_penalty",
]


@hookimpl
def rewardkit_add_hookspecs(plugin_manager: pluggy.PluginManager) -> None:
    """The plugin point of the ``code`` verifier: ``rewardkit_code_sandboxes``."""
    plugin_manager.add_hookspecs(_verifier_hookspecs)


@hookimpl
def rewardkit_components() -> list[type[Component]]:
    """Built-in per-rollout verifiers."""
    return [
        MathVerifier,
        NumericVerifier,
        ExactMatchVerifier,
        ChoiceVerifier,
        FormatReward,
        OverlongPenalty,
        NgramRepetitionPenalty,
        CodeVerifier,
    ]


@hookimpl
def rewardkit_code_sandboxes() -> dict[str, type[CodeSandbox]]:
    """The built-in sandboxes: ``bwrap`` (namespaces), ``local`` (a subprocess with rlimits, not
    a security boundary) and ``auto`` (``bwrap`` where it works, else ``local``)."""
    return {cls.name: cls for cls in (AutoSandbox, BwrapSandbox, LocalSubprocessSandbox)}
