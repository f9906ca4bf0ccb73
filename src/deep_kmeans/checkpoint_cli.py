"""``kedro checkpoints list`` and ``kedro checkpoints clean``: the training checkpoints and the feature cache.

A training phase saves a checkpoint every ``checkpoint_every`` epochs and removes it when the phase ends, so
what ``list`` shows is what interrupted runs left behind: a rerun with the same training options resumes from
it; one whose training options changed trains afresh, and the old checkpoint stays until ``clean`` removes it.
``clean`` also removes what no run reads any more: ``.pkl`` files of the pickled store of before and the
temporary files of interrupted saves.

``clean`` removes only files it can tell are the project's, by their name and their header
(:func:`deep_kmeans.store.is_project_file`): a ``<key>.pt`` whose archive holds the store's header and its
key, a ``.pkl`` pickle under a key the project makes, a temporary file of an interrupted save. Anything else
in the folder (your own ``model.pt``, a ``notes.pkl``) is left alone and named. A store folder outside the
project's ``data/`` (an environment's catalog may point ``checkpoints`` anywhere) is refused unless
``--force`` is given.

The folders are those of the catalog's :class:`deep_kmeans.io.DirectoryStoreDataset` entries
(``checkpoints`` and ``feature_cache`` in conf/base/catalog.yml; an environment's catalog may move them).
The project CLI (``deep_kmeans.cli``) adds the group to ``kedro``; it is a plain click group, so
``python -m deep_kmeans.checkpoint_cli list`` works too, from the project folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import click

from deep_kmeans.store import DirectoryStore, StoreEntry

CHECKPOINTS = "checkpoints"  # the catalog entry the training nodes take their checkpoint store from
STORE_TYPE = "DirectoryStoreDataset"
TMP_GRACE_SECONDS = 3600  # a temporary file younger than this may be a save in progress: left alone
DAY = 86400.0


@dataclass
class Store:
    name: str  # the catalog entry
    store: DirectoryStore

    @property
    def is_checkpoints(self) -> bool:
        return self.name == CHECKPOINTS


def catalog_stores(project_path: str | Path, env: str | None = None) -> list[Store]:
    """The project's :class:`DirectoryStore` folders, from its catalog (conf/base plus ``env``, by default
    conf/local, as ``kedro run`` reads it), in catalog order."""
    from kedro.framework.project import settings
    from kedro.framework.startup import bootstrap_project

    project_path = Path(project_path).expanduser().resolve()
    bootstrap_project(project_path)
    loader = settings.CONFIG_LOADER_CLASS(conf_source=str(project_path / settings.CONF_SOURCE), env=env,
                                          **settings.CONFIG_LOADER_ARGS)
    stores = []
    for name, entry in loader["catalog"].items():
        if not isinstance(entry, dict) or not str(entry.get("type", "")).split(".")[-1] == STORE_TYPE:
            continue
        path = Path(str(entry["path"])).expanduser()
        stores.append(Store(name, DirectoryStore(path if path.is_absolute() else project_path / path)))
    if not any(s.is_checkpoints for s in stores):
        raise click.ClickException(f"the catalog of {project_path} has no `{CHECKPOINTS}` entry of type "
                                   f"deep_kmeans.io.{STORE_TYPE}")
    return stores


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def human_age(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * DAY:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / DAY:.1f} days"


def _describe(e: StoreEntry, now: float) -> str:
    what = {"entry": "", "legacy": "  (legacy .pkl: never read, `clean` removes it)",
            "tmp": "  (temporary file: a save under way, or one interrupted)"}[e.kind]
    if not e.ours:
        what = "  (not written by this project: `clean` leaves it alone)"
    return f"  {e.path.name:<48} {human_age(e.age_seconds(now)):>10} {human_size(e.size):>10}{what}"


def _project(ctx: click.Context, project: str | None) -> Path:
    if project:
        return Path(project)
    # under `kedro`, the project CLI's context object is the project's metadata
    return Path(getattr(ctx.obj, "project_path", None) or Path.cwd())


def to_remove(stores: list[Store], older_than_days: float, cache: bool, now: float | None = None
              ) -> list[tuple[Store, StoreEntry]]:
    """What ``clean`` removes: checkpoints (and, with ``cache``, feature cache entries) last written more than
    ``older_than_days`` ago, every legacy ``.pkl`` file, and temporary files older than an hour."""
    now = time.time() if now is None else now
    out = []
    for s in stores:
        for e in s.store.entries():
            if not e.ours:  # by its header, not the project's: never removed
                continue
            age = e.age_seconds(now)
            if e.kind == "legacy":
                out.append((s, e))
            elif e.kind == "tmp":
                if age >= TMP_GRACE_SECONDS:
                    out.append((s, e))
            elif (s.is_checkpoints or cache) and age >= older_than_days * DAY:
                out.append((s, e))
    return out


class RefusedFolder(click.ClickException):
    """A store folder ``clean`` will not delete in without ``--force``; exit code 2, as the project's user errors."""

    exit_code = 2


def check_inside_data(stores: list[Store], project: Path, force: bool) -> None:
    """Refuse store folders outside the project's ``data/`` (a catalog entry pointed at a folder of yours)."""
    data = (Path(project).expanduser().resolve() / "data")
    outside = [s for s in stores if not s.store.path.resolve().is_relative_to(data)]
    if outside and not force:
        where = "; ".join(f"`{s.name}` is {s.store.path.resolve()}" for s in outside)
        raise RefusedFolder(f"refusing to clean outside the project's data/ folder ({data}): {where}. Point the "
                            "catalog entries back under data/, or pass --force if the folder holds only this "
                            "project's checkpoints and cache (files that are not are left alone either way).")


@click.group(name="checkpoints")
def checkpoints():
    """List and clean the training checkpoints interrupted runs left (and the feature cache)."""


_project_option = click.option("--project", type=click.Path(file_okay=False, exists=True), default=None,
                               help="The project folder (default: the current one).")
_env_option = click.option("--env", "-e", default=None, help="The configuration environment (default: local).")


@checkpoints.command(name="list")
@_project_option
@_env_option
@click.pass_context
def list_command(ctx, project, env):
    """Each checkpoint with its age and size; the feature cache's size."""
    now = time.time()
    for s in catalog_stores(_project(ctx, project), env):
        entries = s.store.entries()
        size = human_size(sum(e.size for e in entries))
        if s.is_checkpoints:
            live = [e for e in entries if e.kind == "entry"]
            click.echo(f"{s.name}: {s.store.path} — {len(live)} checkpoint(s), {size}")
            click.echo("  (finished phases remove theirs: these are interrupted runs'; a rerun with the same "
                       "training options resumes from its own)" if live else "  none: no interrupted run")
        else:
            click.echo(f"{s.name}: {s.store.path} — {sum(e.kind == 'entry' for e in entries)} entr(y/ies), {size}")
        shown = entries if s.is_checkpoints else [e for e in entries if e.kind != "entry"]
        for e in shown:
            click.echo(_describe(e, now))


@checkpoints.command(name="clean")
@click.option("--older-than", "older_than", type=click.FloatRange(min=0), default=7.0, show_default=True,
              help="Remove the checkpoints last written more than this many days ago (0: every checkpoint; "
                   "the next run of an interrupted training then starts it afresh).")
@click.option("--cache", is_flag=True, help="Also remove feature cache entries older than --older-than "
                                              "(they are rebuilt when needed).")
@click.option("--dry-run", is_flag=True, help="Print what would be removed; remove nothing.")
@click.option("--force", is_flag=True, help="Clean store folders outside the project's data/ too (only the "
                                              "files whose name and header say this project wrote them).")
@_project_option
@_env_option
@click.pass_context
def clean_command(ctx, older_than, cache, dry_run, force, project, env):
    """Remove old checkpoints, legacy .pkl store files and stray temporary files (only files this project wrote)."""
    now = time.time()
    stores = catalog_stores(_project(ctx, project), env)
    check_inside_data(stores, _project(ctx, project), force)
    doomed = to_remove(stores, older_than, cache, now)
    foreign = [e for s in stores for e in s.store.entries() if not e.ours]
    verb = "would remove" if dry_run else "removed"
    freed = 0
    for s, e in doomed:
        if not dry_run:
            e.path.unlink(missing_ok=True)
        freed += e.size
        kind = {"entry": "checkpoint" if s.is_checkpoints else "cache entry", "legacy": "legacy .pkl",
                "tmp": "stray temporary file"}[e.kind]
        click.echo(f"{verb} {e.path} ({s.name}, {kind}, {human_age(e.age_seconds(now))} old, "
                   f"{human_size(e.size)})")
    click.echo(f"{verb} {len(doomed)} file(s), {human_size(freed)}" if doomed else
               f"nothing to remove (checkpoints older than {older_than:g} days, legacy .pkl and stray .tmp files)")
    for e in foreign:
        click.echo(f"left alone {e.path}: named like a store file, but its header says this project did not write it")


if __name__ == "__main__":  # pragma: no cover
    checkpoints()
