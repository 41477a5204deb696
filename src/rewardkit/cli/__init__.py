"""The ``rewardkit`` command line. Each sub-command lives in its own module; plugins add more
through the ``rewardkit_cli_commands`` hook."""

from __future__ import annotations

import click

from rewardkit import __version__
from rewardkit.cli._components import components_command
from rewardkit.cli._report import report_command
from rewardkit.cli._schema import schema_command
from rewardkit.cli._score import score_command
from rewardkit.cli._train_classifier import train_classifier_command
from rewardkit.cli._validate import validate_command

__all__ = ["cli", "main"]


#: Commands that rewardkit's sibling distributions add through the plugin hook, and where each
#: comes from: ``rewardkit demo`` without rewardkit-demo says what to install, not "No such command".
_PLUGIN_COMMANDS = {
    "demo": "rewardkit-demo (in a rewardkit checkout: `make demo`, or `pip install -e demo`)",
    "doctor": "rewardkit-verl",
}


class _PluginAwareGroup(click.Group):
    """Adds plugin sub-commands lazily, so ``rewardkit --help`` lists them and built-ins stay fast."""

    _plugins_loaded = False

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from rewardkit._registry import get_registry

        try:
            commands = get_registry().cli_commands()
        except Exception as exc:  # a broken plugin must not hide `validate` and friends
            click.echo(f"warning: plugin commands unavailable: {exc}", err=True)
            return
        for cmd in commands:
            if isinstance(cmd, click.Command) and cmd.name not in self.commands:
                self.add_command(cmd)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugins()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None:
            self._load_plugins()
            found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in _PLUGIN_COMMANDS:
            raise click.UsageError(
                f"`rewardkit {cmd_name}` comes from a plugin that is not installed or is blocked "
                f"(REWARDKIT_DISABLE_PLUGINS); install {_PLUGIN_COMMANDS[cmd_name]}",
                ctx,
            )
        return found


@click.group(cls=_PluginAwareGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rewardkit")
def cli() -> None:
    """Reward shaping for RL on LLMs with verifiable rewards."""


cli.add_command(components_command)
cli.add_command(validate_command)
cli.add_command(schema_command)
cli.add_command(score_command)
cli.add_command(report_command)
cli.add_command(train_classifier_command)


def main() -> None:
    cli()
