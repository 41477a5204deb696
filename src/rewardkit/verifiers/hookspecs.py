"""The hooks of the built-in verifiers plugin, added to the registry by that plugin.

Implement them with :data:`rewardkit.hookimpl` like the core hooks; they exist while the
``rewardkit.verifiers`` plugin is loaded (it registers them through ``rewardkit_add_hookspecs``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rewardkit.hookspecs import hookspec

if TYPE_CHECKING:
    from rewardkit.verifiers._sandbox import CodeSandbox


@hookspec
def rewardkit_code_sandboxes() -> dict[str, type[CodeSandbox]]:
    """Return code sandboxes by name, for the ``code`` verifier's ``sandbox`` field."""
