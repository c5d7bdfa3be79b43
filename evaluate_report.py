"""evaluate.py's report: the scores as a terminal table, eval.json, chart.png and report.html.

evaluate.py answers and scores; this file only shows what it scored. `result` is run_eval's
{"models": [{name, kind, source, first_token_s…}], "scores": {model: {task: {n, metric: 0-100}}},
"examples": [{model, task, question, reference, answer, scores, source}]}; `criteria` and
`compared` are evaluate.py's success criteria and bars, each already worded.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from config import TASKS
from files import write_atomic

# Metric keys in the order they are shown, with the words the table and the report use.
METRICS = {
    "exact": "exact match",
    "unmatched_value": "value not in index ↓",
    "rouge_l": "ROUGE-L",
    "chrf": "chrF",
    "steps_found": "steps found",
    "steps_in_order": "steps in order",
    "shape": "in shape",
}
LOWER_IS_BETTER = {"unmatched_value", "invented"}
# Metrics of the grounded runs: the cite, the search, and on the probes what the model said.
METRICS.update({"cites_page": "cites its page", "page_in_top3": "right page in top 3 (search)",
                "invented": "invented a value ↓", "refused": "says not covered"})


def badness(task: str, scores: dict[str, float]) -> tuple:
    """Sort key for "worst examples": the task's headline score first, chrF breaks ties."""
    if "invented" in scores:
        return (-scores["invented"], scores["refused"])
    if task == "spec":
        return (scores["exact"], -scores.get("unmatched_value", 0), scores["shape"])
    return (scores["rouge_l"], scores["chrf"])



def score_rows(result: dict) -> list[tuple[str, str, list[float | None]]]:
    """(task, metric, one value per model) in the order tasks and metrics are shown."""
    names = [m["name"] for m in result["models"]]
    rows = []
    for task in TASKS:
        cells = [result["scores"][n].get(task) for n in names]
        if not any(cells):
            continue
        for metric in METRICS:
            values = [c.get(metric) if c else None for c in cells]
            if any(v is not None for v in values):
                rows.append((task, metric, values))
    return rows


def print_table(result: dict, criteria: list[dict], compared: list[dict], title: str = "",
                timing: str | None = None) -> None:
    """`timing`: also the time to the first token per model, under this heading's note (threads)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    names = [m["name"] for m in result["models"]]
    table = Table(title=(title + ": " if title else "") + "scores on 0-100 (↓ lower is better)")
    table.add_column("task")
    table.add_column("n", justify="right")
    table.add_column("metric", no_wrap=True)
    for name in names:
        table.add_column(escape(name), justify="right")
    shown = None
    for task, metric, values in score_rows(result):
        n = next(result["scores"][m][task]["n"] for m in names if task in result["scores"][m])
        present = [v for v in values if v is not None]
        best = (min if metric in LOWER_IS_BETTER else max)(present)
        cells = ["–" if v is None else (f"[bold]{v:.1f}[/bold]" if v == best and len(present) > 1 else f"{v:.1f}")
                 for v in values]
        table.add_row(task if task != shown else "", str(n) if task != shown else "", METRICS[metric], *cells,
                      end_section=False)
        shown = task
    console = Console()
    console.print(table)
    console.print("[bold]success criteria[/bold]")
    for c in criteria:
        mark = {True: "[green]PASS[/green]", False: "[red]FAIL[/red]", None: "[yellow]n/a [/yellow]"}[c["passed"]]
        who = f" [{c['model']}]" if c["model"] else ""
        # escape: "[adapter]" would otherwise be read as a style tag and vanish
        console.print(f"  {mark} {escape(c['criterion'] + who)}: {escape(c['detail'])}", highlight=False,
                      soft_wrap=True)
    timed = [m for m in result["models"] if m.get("first_token_s") is not None]
    if timed and timing:
        console.print(f"[bold]time to first token[/bold] (mean over every row asked, {escape(timing)})")
        for m in timed:
            console.print(f"  {escape(m['name'])}: {m['first_token_s']:.3f} s, prompt {m['prompt_tokens']:.0f} tokens "
                          f"(answers {m['answer_s']:.0f} s in all)", highlight=False, soft_wrap=True)
    if compared:
        console.print("[bold]bars[/bold]")
        for c in compared:
            console.print(f"  {escape(c['what'])}: {c['points']:+.1f} points ({escape(c['detail'])})",
                          highlight=False, soft_wrap=True)


def write_chart(result: dict, path: Path) -> None:
    """One panel per task, the task's metrics along x, one bar per model: side by side."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display (CI, SSH)
    import matplotlib.pyplot as plt

    names = [m["name"] for m in result["models"]]
    by_task: dict[str, list[tuple[str, list[float | None]]]] = {}
    for task, metric, values in score_rows(result):
        by_task.setdefault(task, []).append((metric, values))
    fig, axes = plt.subplots(1, len(by_task), figsize=(3.4 * len(by_task) + 1, 3.8), squeeze=False,
                             sharey=True)
    width = 0.8 / len(names)
    for ax, (task, metrics) in zip(axes[0], by_task.items()):
        for i, name in enumerate(names):
            xs = [k + (i - (len(names) - 1) / 2) * width for k in range(len(metrics))]
            ys = [values[i] or 0 for _, values in metrics]
            bars = ax.bar(xs, ys, width, label=name, color=f"C{i}")
            ax.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
        ax.set_xticks(range(len(metrics)), [METRICS[m] for m, _ in metrics], rotation=30, ha="right", fontsize=8)
        n = next(result["scores"][m][task]["n"] for m in names if task in result["scores"][m])
        ax.set_title(f"{task.upper()} (n={n})", fontsize=10)
        ax.set_ylim(0, 110)
    axes[0][0].set_ylabel("score (0-100)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    # Above the panels: inside one it would hide that panel's bars.
    fig.legend(handles, labels, loc="upper center", ncol=len(names), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_html(result: dict, criteria: list[dict], compared: list[dict], meta: dict, path: Path,
               chart_name: str, worst: int = 5, recall: dict | None = None, probes: dict | None = None) -> None:
    """One self-contained page (the charts beside it): scores, criteria, bars, worst examples; then
    the same for the recall set when it was answered."""
    e = html.escape
    parts = html_part(result, criteria, compared, chart_name, worst)
    if recall:
        parts += (f"<h1>Recall: the trained facts, asked in wording never trained</h1>"
                  f"<p>{e(recall['data'])} · {recall['rows']} rows</p>"
                  + html_part(recall["result"], recall["criteria"], recall["bars"], recall["chart"], worst))
    if probes:
        parts += (f"<h1>Probes: parts the manual does not hold</h1><p>{probes['rows']} questions"
                  f"{'; left out, the index holds them: ' + e(', '.join(probes['held'])) if probes['held'] else ''}</p>"
                  + html_part(probes["result"], probes["criteria"], [], probes["chart"], worst=probes["rows"]))
    timed = [m for m in result["models"] if m.get("first_token_s") is not None]
    if timed:
        parts += ("<h2>Time to first token</h2><table><tr><th>model</th><th>mean s</th><th>prompt tokens</th></tr>"
                  + "".join(f"<tr><td>{e(m['name'])}</td><td>{m['first_token_s']:.3f}</td>"
                            f"<td>{m['prompt_tokens']:.0f}</td></tr>" for m in timed) + "</table>")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Evaluation · {e(meta['data'])}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em; max-width: 80em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }}
pre {{ white-space: pre-wrap; margin: 0; font-size: 12px; }} .PASS {{ color: #176a1a; }} .FAIL {{ color: #a40e0e; }}
.ex {{ margin: 1em 0 1.5em; }} .q {{ font-weight: 600; }} .src {{ color: #666; font-size: 12px; margin: 2px 0 4px; }}
table.pair td {{ width: 50%; }} summary {{ cursor: pointer; font-weight: 600; margin-top: .6em; }}
</style></head><body>
<h1>Does the fine-tune know the manual better than the base model?</h1>
<p>{e(meta['data'])} · {meta['rows']} rows · greedy, at most {meta['max_new_tokens']} new tokens ·
<code>{e(meta['command'])}</code></p>
{parts}
</body></html>
"""
    path.write_text(page, encoding="utf-8")


def html_part(result: dict, criteria: list[dict], compared: list[dict], chart_name: str, worst: int) -> str:
    """Scores, chart, criteria, bars and worst examples of one set, as HTML."""
    e = html.escape
    names = [m["name"] for m in result["models"]]
    head = "".join(f"<th>{e(n)}</th>" for n in names)
    body = "".join(
        f"<tr><td>{e(task)}</td><td>{e(METRICS[metric])}</td>"
        + "".join(f"<td>{'–' if v is None else f'{v:.1f}'}</td>" for v in values) + "</tr>"
        for task, metric, values in score_rows(result))
    mark = {True: "PASS", False: "FAIL", None: "n/a"}
    crit = "".join(f"<li class='{mark[c['passed']]}'><b>{mark[c['passed']]}</b> {e(c['criterion'])}"
                   f"{' [' + e(c['model']) + ']' if c['model'] else ''}: {e(c['detail'])}</li>" for c in criteria)
    bars = "".join(f"<li>{e(c['what'])}: <b>{c['points']:+.1f}</b> points ({e(c['detail'])})</li>" for c in compared)
    sections = []
    for task in TASKS:
        for name in names:
            examples = [x for x in result["examples"] if x["model"] == name and x["task"] == task]
            if not examples:
                continue
            examples.sort(key=lambda x: badness(task, x["scores"]))
            items = "".join(
                f"<div class='ex'><div class='q'>{e(x['question'])}</div>"
                f"<div class='src'>{e(str(x['source'].get('source_path') or ''))} "
                f"p. {e(str(x['source'].get('page_label') or ''))} · "
                + " · ".join(f"{e(METRICS[k])} {v:.0f}" for k, v in x["scores"].items())
                + f"</div><table class='pair'><tr><th>manual</th><th>{e(name)}</th></tr>"
                f"<tr><td><pre>{e(x['reference'])}</pre></td><td><pre>{e(x['answer']) or '<i>(empty)</i>'}</pre></td></tr>"
                "</table></div>" for x in examples[:worst])
            sections.append(f"<details><summary>{e(task.upper())} · {e(name)}: the {min(worst, len(examples))} "
                            f"worst of {len(examples)}</summary>{items}</details>")
    return f"""<h2>Scores (0-100; value not in index: lower is better)</h2>
<table><tr><th>task</th><th>metric</th>{head}</tr>{body}</table>
<p><img src="{e(chart_name)}" alt="scores per task and model" style="max-width: 100%"></p>
<h2>Success criteria</h2><ul>{crit}</ul>
{'<h2>Bars</h2><ul>' + bars + '</ul>' if bars else ''}
<h2>Worst examples</h2>
{''.join(sections)}
"""


def write_outputs(result: dict, criteria: list[dict], compared: list[dict], meta: dict, out: Path,
                  recall: dict | None = None, probes: dict | None = None) -> dict[str, Path]:
    """eval.json, chart.png, report.html; with `recall` ({data, rows, result, criteria, bars}) also
    chart_recall.png, and eval.json's "recall" holds that set's scores, criteria and bars."""
    out.mkdir(parents=True, exist_ok=True)
    files = {"json": out / "eval.json", "chart": out / "chart.png", "html": out / "report.html"}
    record = {**meta, "models": result["models"], "scores": result["scores"], "criteria": criteria,
              "bars": compared, "examples": result["examples"]}
    if recall:
        files["chart_recall"] = out / "chart_recall.png"
        recall = {**recall, "chart": files["chart_recall"].name}
        record["recall"] = {"data": recall["data"], "rows": recall["rows"], "scores": recall["result"]["scores"],
                            "criteria": recall["criteria"], "bars": recall["bars"]}
        record["examples"] = result["examples"] + recall["result"]["examples"]
        write_chart(recall["result"], files["chart_recall"])
    if probes:
        files["chart_probes"] = out / "chart_probes.png"
        probes = {**probes, "chart": files["chart_probes"].name}
        record["probes"] = {"rows": probes["rows"], "held": probes["held"], "scores": probes["result"]["scores"],
                            "criteria": probes["criteria"]}
        record["examples"] = record["examples"] + probes["result"]["examples"]
        write_chart(probes["result"], files["chart_probes"])
    write_atomic(files["json"], json.dumps(record, ensure_ascii=False, indent=1))
    write_chart(result, files["chart"])
    write_html(result, criteria, compared, meta, files["html"], files["chart"].name, recall=recall, probes=probes)
    return files
