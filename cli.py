"""What every stage's command line shares: the config with its overrides, the one-line error, the
dry run. The stages are `python -m prep`, train_unsloth.py, export.py, evaluate.py and serve.py;
each takes

    --config FILE            a kit YAML (configs/*.yaml), or the run's resolved config where there is one
    --section.key VALUE      any key of it, overridden (YAML-read: 3, true, [q4_k_m, q8_0])
    --dry-run                the resolved config and the plan printed, what is missing said; no work

    python train_unsloth.py --config configs/cpu-demo.yaml --train.epochs 3 --dry-run
    python export.py runs/cpu-demo --export.quants '[q4_k_m, q8_0]' --dry-run
    python evaluate.py --adapter runs/cpu-demo --dry-run
    python serve.py ask runs/cpu-demo/gguf "Oil drain plug torque?" --serve.max_tokens 64

A usage error is one line on stderr, `error: WHAT: the problem (what to do)`, and exit code 2.
"""

from __future__ import annotations

from pathlib import Path

import typer

# typer passes the words it does not know to the command (ctx.args): the overrides.
EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}
OVERRIDES = "Extra `--section.key value` pairs override the config (e.g. --train.lr 1e-4, --serve.ctx 2048)."


def fail(message: str, code: int = 2) -> typer.Exit:
    """A usage error: one line a user can act on, then `raise` what this returns (exit 2)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def load(path: Path | None, overrides: list[str] | tuple[str, ...] = ()):
    """The config at `path` (None: the defaults) with the overrides applied; exit 2 on a bad one."""
    from config import ConfigError, load_config

    try:
        return load_config(path, list(overrides))
    except ConfigError as err:
        raise fail(str(err)) from None


def dry_run(cfg, plan: dict, missing: list[str] = ()) -> None:
    """Print the resolved config, the plan and what is missing (as YAML a user can read and diff);
    exit 2 when something is missing, so a script stops before the real run would."""
    import yaml

    out = {"config": cfg.model_dump(mode="json"), "plan": plan}
    if missing:
        out["missing"] = list(missing)
    typer.echo(yaml.safe_dump(out, sort_keys=False, allow_unicode=True).rstrip())
    if missing:
        raise typer.Exit(2)
