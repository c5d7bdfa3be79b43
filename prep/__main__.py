"""Command line of the prep stage. One function per command; the work lives in the stage files.

    python -m prep blocks ../shared/samples/e30-m3 --out work/ --jobs 2
    python -m prep blocks build/sample-pages --out work/sample
    python -m prep dataset work/blocks.jsonl --config configs/cpu-demo.yaml       # → data/
    python -m prep build ../shared/samples/e30-m3 --config configs/colab-t4.yaml  # both, in one go
    python -m prep build pages/ --config configs/colab-t4.yaml --data.val_fraction 0  # every page trains
    python -m prep search data/search_index.sqlite "What is the tightening torque for the oil drain plug?"

    python -m prep build ../shared/samples/e30-m3 --dry-run      # the resolved config and what it would read

`dataset` and `build` take `--config` and `--section.key value` overrides, as every stage does (cli.py).
"""

from pathlib import Path
from typing import Annotated, Optional

import typer

from cli import EXTRA, OVERRIDES, fail, load

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Service-manual pages -> dataset.")

# The options `blocks` and `build` share.
SrcArg = Annotated[Path, typer.Argument(help="Folder of page images, PDFs and HTML spec sheets (walked recursively).")]
JobsOpt = Annotated[int, typer.Option("--jobs", min=1, help="Pages read in parallel (processes).")]
CacheOpt = Annotated[Optional[Path], typer.Option("--cache", help="OCR cache folder [default: .cache/ocr in the project].")]
QuietOpt = Annotated[bool, typer.Option("--quiet", help="No progress bar.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the resolved config and the plan, then exit.")]


@app.command()
def blocks(
    src_dir: SrcArg,
    out: Annotated[Path, typer.Option("--out", help="Writes blocks.jsonl, pages.jsonl and errors.txt here.")] = Path("work"),
    jobs: JobsOpt = 1,
    cache: CacheOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Read every page under SRC_DIR into structured blocks (headings, steps, notes, tables, wiring)."""
    from prep.blocks import DEFAULT_CACHE, OutputError, Stopped, build_blocks

    pages_folder_or_exit(src_dir)
    try:
        result = build_blocks(src_dir, out, jobs=jobs, cache_dir=cache or DEFAULT_CACHE, progress=not quiet)
    except (OutputError, Stopped) as err:  # an unwritable or full folder (checked before the OCR, or the write failed); Ctrl-C
        raise fail(str(err), err.code) from None
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(result.kinds.items()))
    typer.echo(f"{result.blocks} blocks from {result.pages} pages ({kinds}); {len(result.errors)} bad files; "
               f"{result.ocr_runs} OCR runs, {result.cached_pages} pages from cache; {result.seconds:.1f} s -> {out}")
    raise typer.Exit(0 if result.blocks else 1)


@app.command(context_settings=EXTRA, epilog=OVERRIDES)
def dataset(
    ctx: typer.Context,
    blocks_file: Annotated[Path, typer.Argument(help="blocks.jsonl written by `prep blocks`.")],
    config: Annotated[Path, typer.Option(help="Its data section (split, seed, phrasings) and model (tokenizer "
                                         "for token counts, max_seq) are used.")] = Path("configs/cpu-demo.yaml"),
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder [default: the config's data.dir].")] = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Turn blocks into the five-task chat dataset, with its card, quality report and spec index."""
    cfg = load(config, ctx.args)
    missing = [] if blocks_file.is_file() else [f"{blocks_file}: not found (write it with: python -m prep blocks SRC_DIR)"]
    if dry_run:
        return plan(cfg, {"blocks": str(blocks_file), "out": str(out or cfg.data.dir)}, missing)
    if missing:
        raise fail(missing[0])
    write_dataset(blocks_file, out or cfg.data.dir, cfg)


def pages_folder_or_exit(src_dir: Path) -> None:
    if not src_dir.is_dir() or not any(p.is_file() for p in src_dir.rglob("*")):
        raise fail(f"{src_dir} is {'empty' if src_dir.is_dir() else 'not a folder'}; "
                   "give a folder of page images, PDFs or HTML spec sheets")


@app.command(context_settings=EXTRA, epilog=OVERRIDES)
def build(
    ctx: typer.Context,
    src_dir: SrcArg,
    config: Annotated[Path, typer.Option(help="Profile whose data and model sections apply.")] = Path("configs/cpu-demo.yaml"),
    out: Annotated[Optional[Path], typer.Option("--out", help="Dataset folder [default: the config's data.dir].")] = None,
    work: Annotated[Path, typer.Option("--work", help="Where blocks.jsonl, pages.jsonl and errors.txt go.")] = Path("work"),
    jobs: JobsOpt = 1,
    cache: CacheOpt = None,
    quiet: QuietOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """`blocks` then `dataset`: pages in, data/hf_train.jsonl and friends out."""
    cfg = load(config, ctx.args)
    if dry_run:
        files = [p for p in src_dir.rglob("*") if p.is_file()] if src_dir.is_dir() else []
        kinds: dict[str, int] = {}
        for path in files:
            kinds[path.suffix.lower() or "(none)"] = kinds.get(path.suffix.lower() or "(none)", 0) + 1
        return plan(cfg, {"pages": str(src_dir), "files": dict(sorted(kinds.items())), "work": str(work),
                          "out": str(out or cfg.data.dir), "jobs": jobs},
                    [] if files else [f"{src_dir}: {'empty' if src_dir.is_dir() else 'not a folder'}"])
    from prep.blocks import remove_empty

    pages_folder_or_exit(src_dir)  # before the dataset folder is made: a refused run leaves no empty one
    # The dataset folder too, before the OCR: found unwritable only at the end, it cost every page.
    made = dataset_folder_or_exit(out or cfg.data.dir, DATASET_MIN_BYTES)
    try:
        try:
            blocks(src_dir, work, jobs, cache, quiet)
        except typer.Exit as done:
            if done.exit_code != 0:
                raise
        write_dataset(work / "blocks.jsonl", out or cfg.data.dir, cfg)
    except typer.Exit as done:
        if done.exit_code != 0:
            remove_empty(made)
        raise


@app.command()
def search(
    index: Annotated[Path, typer.Argument(help="search_index.sqlite written by `prep dataset` (in the dataset folder).")],
    question: Annotated[str, typer.Argument(help="A question in plain words; a task tag such as [SPEC] is ignored.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="How many passages to show.")] = 5,
) -> None:
    """The manual's passages that best answer QUESTION, one a line: fused score, cosine, page and the manual's line."""
    from prep.search_index import SearchIndexError, open_index

    try:
        found = open_index(index)
    except SearchIndexError as err:
        raise fail(str(err)) from None
    hits = found.search(question, k=k)
    if not hits:
        typer.echo("no passage matches: the question holds no word to search for, or none the manual prints")
        raise typer.Exit(1)
    for hit in hits:
        where = hit.page_label or f"{hit.source_path} p.{hit.page}"
        typer.echo(f"{hit.score:6.4f} {hit.cosine:5.2f}  {where:<10} {hit.line}")


def plan(cfg, what: dict, missing: list[str]) -> None:
    """--dry-run: the config's data and model sections (what prep reads of it) and the plan."""
    from cli import dry_run

    dry_run(cfg, {"stage": "prep", **what, "data": cfg.data.model_dump(mode="json"),
                  "tokenizer": cfg.model.base, "max_seq": cfg.model.max_seq}, missing)


# The dataset measured ~11x its blocks.jsonl on the sample manual (several phrasings per fact, the
# spec index, the reports); 32x leaves room for more phrasings. Before the blocks exist: 8 MiB.
DATASET_BYTES_PER_BLOCK_BYTE = 32
DATASET_MIN_BYTES = 8 << 20


def dataset_folder_or_exit(out: Path, need: int) -> list[Path]:
    """The folders made for `out` (none where it was there), for a run that ends without a dataset to remove."""
    from prep.blocks import OutputError, check_output

    try:
        return check_output({out: ("--out", need)})
    except OutputError as err:
        raise fail(str(err), err.code) from None


def write_dataset(blocks_file: Path, out: Path, cfg) -> None:
    """Every file of the dataset under a temp name first, then all renamed into `out` together, once
    the dataset is known to be usable: a run refused at the end (no val rows), stopped or cut short
    by a full disk leaves the dataset that was there whole."""
    import sqlite3

    from base_model import BaseModelError, resolve_base
    from config import config_text
    from files import temp_beside, write_together
    from prep.blocks import remove_empty, size_text
    from prep.dataset import dataset_texts
    from prep.search_index import INDEX_NAME, open_index, write_index

    try:
        tokenizer = resolve_base(cfg.model.base)
    except BaseModelError as err:
        raise fail(str(err)) from None
    need = max(DATASET_MIN_BYTES, DATASET_BYTES_PER_BLOCK_BYTE * blocks_file.stat().st_size)
    made = dataset_folder_or_exit(out, need)
    index_file, written = None, False
    try:
        # Beside spec_index.jsonl, from the same blocks: serve.py answers from it. First:
        # the training rows that carry the manual's lines (data.context_fraction) are searched in it.
        index_file = temp_beside(out / INDEX_NAME)
        index = write_index(blocks_file, index_file, progress=True)
        searcher = open_index(index_file)
        try:
            result, texts = dataset_texts(blocks_file, cfg.data, tokenizer_name=tokenizer, max_seq=cfg.model.max_seq,
                                          index=searcher)
        finally:
            searcher.close()
        # Decided before the first file is renamed: a refused dataset replaces none of the one there.
        kept = "the files there are left as they were"
        if not result.train:
            raise fail(f"{out}: the dataset would have no training rows: give more pages; {kept}", 1)
        if not result.val and cfg.data.val_fraction > 0:
            raise fail(f"{out}: the dataset would have {result.train} train rows and no val rows: give more pages "
                       f"(or --data.val_fraction 0 to train on every page); {kept}", 1)
        # What this dataset was made with, and by which libraries.
        texts["resolved_config.yaml"] = config_text(cfg)
        write_together(out, texts, staged_files={INDEX_NAME: index_file})
        written = True
    except (OSError, sqlite3.Error) as err:  # the disk filled while writing: the files being written are removed
        reason = getattr(err, "strerror", None) or err   # sqlite3's errors have no strerror
        if getattr(err, "sqlite_errorcode", None) == getattr(sqlite3, "SQLITE_FULL", 13):
            import errno
            import os

            reason = os.strerror(errno.ENOSPC)  # sqlite says "database or disk is full": the same fault, said as the OS says it
        raise fail(f"{out}: writing the dataset failed ({reason}); nothing there was replaced: free space there (it needs "
                   f"about {size_text(need)}) or choose another --out, and run `prep dataset` again", 1) from None
    except KeyboardInterrupt:
        raise fail(f"{out}: stopped (Ctrl-C) before the dataset was written; the files there are left as they were", 130) from None
    finally:
        if index_file is not None:
            index_file.unlink(missing_ok=True)  # renamed into place, or this run ends without a dataset
        if not written:
            remove_empty(made)
    per_task = ", ".join(f"{t} {c['train']}/{c['val']}" for t, c in result.per_task.items())
    rejected = sum(result.rejected.values())
    typer.echo(f"dataset: {result.train} train / {result.val} val rows (train/val per task: {per_task}); "
               f"{rejected} candidates rejected (see {out / 'qa_report.md'}) -> {out}")
    typer.echo(f"search index: {index['passages']} passages from {index['pages']} pages -> {out / INDEX_NAME}")
    if result.context:
        grounded = ", ".join(f"{t} {c['grounded']}/{c['train']}" for t, c in result.context["per_task"].items())
        typer.echo(f"context: {result.context['grounded']} training rows carry the manual's lines (per task: {grounded}), "
                   f"{result.context['refusals']} refusal rows")
    if not result.val:
        typer.echo("note: data.val_fraction 0: every page trains; hf_recall.jsonl evaluates (hf_val.jsonl is empty)")


if __name__ == "__main__":
    app()
