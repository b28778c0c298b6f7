"""``sr-compress zoo list|fetch``: the table of known checkpoints and a checksum-verified download."""

from __future__ import annotations

import json
from typing import Any

import click


@click.group("zoo")
def command() -> None:
    """Well-known checkpoints with official URLs and sha256 (cached under ~/.cache/sr-compress/zoo)."""


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@click.option("--cache-dir", "cache", type=click.Path(file_okay=False), default=None,
              help="Cache folder to look in (as for fetch; default: $SR_COMPRESS_CACHE/zoo or ~/.cache/sr-compress/zoo).")
def list_cmd(as_json: bool, cache: str | None) -> None:
    """List zoo models (name, arch, scale, published Set5 PSNR, checksum status, cached: yes/local/no)."""
    from ..models.zoo import ZOO, cache_state

    rows: list[dict[str, Any]] = []
    for e in ZOO.values():
        cached = cache_state(e, cache)
        rows.append({"name": e.name, "arch": e.arch, "scale": e.scale, "set5_psnr": e.set5_psnr,
                     "sha256": e.sha256, "sha256_prefix": e.sha256_prefix, "cached": cached, "url": e.url,
                     "description": e.description})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    head = f"{'name':<22} {'arch':<16} {'scale':>5} {'Set5':>6}  {'sha256':<10} {'cached':<6} description"
    click.echo(head)
    for r in rows:
        sha = r["sha256"][:8] if r["sha256"] else (f"{r['sha256_prefix']}*" if r["sha256_prefix"] else "unknown")
        psnr = f"{r['set5_psnr']:.2f}" if r["set5_psnr"] else "-"
        click.echo(f"{r['name']:<22} {r['arch']:<16} {'x' + str(r['scale']):>5} {psnr:>6}  {sha:<10} "
                   f"{r['cached']:<6} {r['description']}")


@command.command("fetch")
@click.argument("name")
@click.option("--cache-dir", "cache", type=click.Path(file_okay=False), default=None,
              help="Download folder (default: $SR_COMPRESS_CACHE/zoo or ~/.cache/sr-compress/zoo).")
@click.option("--allow-unverified", is_flag=True, help="Accept entries without a known full sha256.")
def fetch_cmd(name: str, cache: str | None, allow_unverified: bool) -> None:
    """Download zoo model NAME (verifying its sha256) and print the local path."""
    from ..models.zoo import fetch

    click.echo(str(fetch(name, cache=cache, allow_unverified=allow_unverified)))
