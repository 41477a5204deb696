"""``rewardkit doctor``: is rewardkit registered in verl, as verl's workers will see it?

verl loads plugins inside ``import verl`` and hides a failing plugin behind a debug log line, so
a broken install shows up only as "Unknown reward manager: rewardkit" deep in a Ray worker. The
doctor runs :mod:`rewardkit_verl._probe` in a fresh interpreter with this environment (the
interpreter and environment variables the workers inherit), which imports verl and the modules
the workers import, and reports each piece: registered, or why not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import click

__all__ = ["doctor_command", "run_probe"]

#: The probe prints its JSON report after this marker; verl prints to stdout on import.
REPORT_MARKER = "@@rewardkit-doctor@@"


def run_probe(
    *, config: str | None = None, timeout_s: float = 300.0, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run the probe in a fresh interpreter and return its report."""
    cmd = [sys.executable, "-m", "rewardkit_verl._probe"]
    if config is not None:
        cmd += ["--config", config]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=dict(os.environ if env is None else env),
        check=False,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(REPORT_MARKER):
            return json.loads(line[len(REPORT_MARKER) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
    return {
        "ok": False,
        "python": sys.executable,
        "checks": [
            {
                "name": "probe",
                "ok": False,
                "detail": f"the probe interpreter exited with code {proc.returncode} "
                "before reporting:\n" + "\n".join(tail),
            }
        ],
    }


def _render(report: dict[str, Any]) -> None:
    click.echo(f"python: {report.get('python')}")
    if report.get("verl_version"):
        click.echo(f"verl:   {report['verl_version']} (import {report.get('import_s', 0):.1f} s)")
    click.echo(f"VERL_USE_EXTERNAL_PLUGINS={report.get('plugins_policy', 'auto')}")
    click.echo("")
    for check in report.get("checks", []):
        if not check["ok"]:
            mark = click.style("FAIL", fg="red")
        elif check.get("warning"):
            mark = click.style("warn", fg="yellow")
        else:
            mark = click.style("ok  ", fg="green")
        click.echo(f"[{mark}] {check['name']}: {check.get('summary', '')}".rstrip())
        detail = check.get("detail")
        if detail:
            for line in str(detail).splitlines():
                click.echo(f"       {line}")
    click.echo("")
    if report.get("ok"):
        click.echo(click.style("rewardkit is ready in verl.", fg="green"))
    else:
        click.echo(click.style("rewardkit is NOT ready in verl (see FAIL above).", fg="red"))


@click.command("doctor")
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Also load this rewardkit config and score one sample with it, as a reward worker would.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds to wait for the probe interpreter.",
)
def doctor_command(config: str | None, as_json: bool, timeout_s: float) -> None:
    """Check that verl registers rewardkit's pieces, as verl's workers will import them."""
    try:
        report = run_probe(config=config, timeout_s=timeout_s)
    except subprocess.TimeoutExpired:
        raise click.ClickException(
            f"the probe did not finish within {timeout_s:g} s (importing verl hung?)"
        ) from None
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        _render(report)
    if not report.get("ok"):
        sys.exit(1)
