"""rewardkit-demo, the ``rewardkit demo`` command: tiny offline GRPO runs that measure answer
diversity and token entropy by token role (answer forks apart from forks that cannot change the
answer), and what rewardkit's knobs change.

* :class:`TargetTask` and :class:`ReachTargetReward` - the synthetic task (reach a target number
  with an arithmetic expression) and its verifier, the ``reach_target`` reward;
* :func:`run_demo` / :class:`DemoSettings` - warm-up, one GRPO run per rewardkit config, final
  evaluation; :func:`write_report` - report.md, PNG plots, per-step data;
* :data:`demo_command` - the click command the rewardkit CLI gets through the plugin hook
  (entry point ``demo`` in the ``rewardkit`` group, which also registers ``reach_target``).

Importing this package is light: torch, transformers and TRL load when the demo runs.
"""

from __future__ import annotations

from rewardkit_demo._command import default_configs, demo_command
from rewardkit_demo._measure import PolicyMeasure, SampledGroups
from rewardkit_demo._report import write_report
from rewardkit_demo._runner import DemoResult, DemoSettings, RunResult, RunSpec, run_demo
from rewardkit_demo._task import (
    ReachTargetReward,
    TargetTask,
    expression_format,
    parse_expression,
)

__all__ = [
    "DemoResult",
    "DemoSettings",
    "PolicyMeasure",
    "ReachTargetReward",
    "RunResult",
    "RunSpec",
    "SampledGroups",
    "TargetTask",
    "default_configs",
    "demo_command",
    "expression_format",
    "parse_expression",
    "run_demo",
    "write_report",
]
