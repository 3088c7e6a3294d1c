"""The evaluation report: summary JSON, a markdown table per candidate setting, and the NDCG@10
against history length plot (one line per method, one panel per setting)."""

from __future__ import annotations

import json
from pathlib import Path

from .protocol import REFERENCES

REFERENCE_NAMES = {"sasrec": "SASRec", "ease": "EASE", "itemknn": "ItemKNN", "pop": "pop", "random": "random"}
SETTING_TITLES = {
    "generator": "(a) end to end: the generator's shortlist of {n} from the whole catalog (a target outside it is a miss)",
    "sampled-uniform": "(b) the target plus {negatives} negatives sampled uniformly, shuffled",
    "sampled-pop": "(b) the target plus {negatives} negatives sampled by popularity, shuffled",
    "full": "(c) the full catalog, for methods that score every item",
}


def setting_title(setting: str, n_candidates: int) -> str:
    """A setting's heading, with the list size this run used (``--n-candidates``)."""
    return SETTING_TITLES[setting].format(n=n_candidates, negatives=n_candidates - 1)


def _fmt(entry: dict, key: str) -> str:
    lo, hi = entry[key + "_ci"]
    return f"{entry[key]:.3f} [{lo:.3f}, {hi:.3f}]"


def markdown(summary: dict, command: str | list[str] | None = None) -> str:
    res = summary["results"]
    lines = ["# Cold-start evaluation", ""]
    commands = [command] if isinstance(command, str) else list(command or [])
    if len(commands) == 1:
        lines += [f"Made by: `{commands[0]}`  "]
    elif commands:
        lines += ["Made by these commands, in this order, in one resumable run folder:", ""]
        lines += [f"- `{c}`" for c in commands] + [""]
    refs = [r for r in REFERENCES if any(f"p_vs_{r}" in e for e in res)]
    lines += [f"Train users: {summary['train_users']}, test users: {summary['test_users']} (never seen in training). "
              "Means over test users with 95% bootstrap intervals; p: paired Wilcoxon test of NDCG@10 against "
              + (" / ".join(REFERENCE_NAMES[r] for r in refs) or "the reference methods") + " on the same users."]
    cfg = summary.get("config", {})
    if "bm25_weight" in cfg:
        line = f"Generator shortlist weights: BM25 {cfg['bm25_weight']:g}, popularity {cfg['popularity_weight']:g}"
        if cfg.get("cooccurrence_weight"):
            co = cfg["cooccurrence"]
            window = "all pairs" if co["window"] is None else f"window {co['window']}"
            norm = getattr(co["normalisation"], "value", co["normalisation"])
            first = f", each user's first {co['first_picks']} picks" if co.get("first_picks") else ""
            line += (f", co-occurrence {cfg['cooccurrence_weight']:g} ({norm}, {window}"
                     f"{', ordered' if co['ordered'] else ''}, {co['neighbours']} neighbours per item{first}")
            line += ")"
        for e in cfg.get("by_length") or ():
            damping = "" if e.get("damping") is None else f", co-occurrence damping {e['damping']:g}"
            if e.get("first_picks"):
                damping += f", co-occurrence from each user's first {e['first_picks']} picks"
            line += (f"; histories of up to {e['up_to']} item{'s' if e['up_to'] > 1 else ''}: BM25 "
                     f"{e['bm25_weight']:g}, popularity {e['popularity_weight']:g}, co-occurrence "
                     f"{e['cooccurrence_weight']:g}{damping}")
        off = summary.get("time_signals_off")
        if off and (cfg.get("session_share") or cfg.get("sittings_share")):
            line += f"; the session signal and similar sittings were off in this run: {off}"
        elif cfg.get("session_share"):
            line += (f"; co-occurrence part for 2+ picks: {cfg['session_share']:g} of it from what users picked "
                     f"within {cfg['session_seconds']:g} s of each other")
        if cfg.get("sittings_share") and not off:
            line += (f"; then {cfg['sittings_share']:g} of it from the {cfg['sittings_neighbours']} sittings (picks "
                     f"at most {cfg['session_seconds']:g} s apart) most like the history's latest picks")
        lines += [line + "."]
    for kind, t in (summary.get("tuned") or {}).items():
        params = ", ".join(f"{k}={v:g}" for k, v in t["params"].items())
        lines += [f"{kind}: {params}, chosen on {t['validation_users']} validation users (training users held out; "
                  f"validation NDCG@10 {t['validation_ndcg@10']:.3f}, full catalog) from "
                  f"{len(t['grid'])} settings."]
    lines += [""]
    for setting in [s for s in SETTING_TITLES if any(e["setting"] == s for e in res)]:
        n_candidates = cfg.get("n_candidates", 20)
        lines += [f"## {setting_title(setting, n_candidates)}", ""]
        if setting == "generator":
            rec = {e["n"]: e for e in res if e["setting"] == setting}  # the same shortlist for every method
            lines += [f"Generator recall@{n_candidates} (target in the shortlist; 95% bootstrap interval over users): "
                      + ", ".join(f"n={n}: {_fmt(e, 'target_in_candidates')}" for n, e in sorted(rec.items())), ""]
        short = (summary.get("short_lists") or {}).get(setting)
        if short:
            lines += [f"For {short[0]} of {short[1]} cases the catalog held fewer than {n_candidates - 1} items the "
                      "user had not picked: their lists hold all of those, so they are shorter (and easier).", ""]
        lines += ["| n | method | users | NDCG@10 | HR@10 | MRR | NDCG@1 | NDCG@5 | HR@1 | HR@5 | HR@10 next 5 | coverage | "
                  "novelty | LLM fallback / repaired | s/user | " + " | ".join(f"p vs {REFERENCE_NAMES[r]}" for r in refs) + " |",
                  "|---:|---|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|" + "---:|" * len(refs)]
        for e in [e for e in res if e["setting"] == setting]:
            llm = (f"{e['fallback_rate']:.2f} / {e['repair_rate']:.2f}" if "fallback_rate" in e else "")
            pvals = " | ".join(f"{e[f'p_vs_{ref}']:.3g}" if f"p_vs_{ref}" in e else "" for ref in refs)
            lines.append(f"| {e['n']} | {e['method']} | {e['users']} | {_fmt(e, 'ndcg@10')} | {_fmt(e, 'hr@10')} | {_fmt(e, 'mrr')} | "
                         f"{e['ndcg@1']:.3f} | {e['ndcg@5']:.3f} | {e['hr@1']:.3f} | {e['hr@5']:.3f} | "
                         f"{e['hr@10_next5']:.3f} | {e['coverage@10']:.3f} | {e['novelty@10']:.2f} | {llm} | "
                         f"{e['seconds_per_user']:.4f} | {pvals} |")
        kept = [e for e in res if e["setting"] == setting and "order_kept" in e]
        if kept:
            lines += ["", "Shown order kept by the LLM (Spearman correlation of output order with the order in "
                      "the prompt; 1 = echoed, 0 = ignored): "
                      + ", ".join(f"{e['method']} n={e['n']}: {e['order_kept']:.2f}" for e in kept)]
            placed = [e for e in kept if "placed_mean_shown_position" in e]
            if placed:
                lines += ["", "Mean shown position (1 = first in the prompt) of the candidates the model placed itself, "
                          "not those the parser appended: "
                          + ", ".join(f"{e['method']} n={e['n']}: {e['placed_mean_shown_position']:.1f}" for e in placed)]
        perm = [e for e in res if e["setting"] == setting and "permutation_ndcg@10_std" in e]
        if perm:
            lines += ["", "Position bias (each list ranked in several shuffled orders): "
                      + "; ".join(f"{e['method']} n={e['n']}: NDCG@10 moves by {e['permutation_ndcg@10_std']:.3f} "
                                  f"(std across orders), one order {e['single_order_ndcg@10']:.3f}, Borda-averaged "
                                  f"{e['ndcg@10']:.3f}" for e in perm)]
        lines.append("")
    return "\n".join(lines)


def plot(summary: dict, path: Path) -> bool:
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = summary["results"]
    settings = [s for s in SETTING_TITLES if any(e["setting"] == s for e in res)]
    methods = list(dict.fromkeys(e["method"] for e in res))
    # One colour per method in every panel, and one legend for all of them.
    palette = plt.get_cmap("tab20").colors
    style = {m: dict(color=palette[i % len(palette)], linestyle="--" if m.startswith("llm") else "-",
                     marker="o") for i, m in enumerate(methods)}
    if "random" in style:  # the floor: drawn apart from the methods
        style["random"] = dict(color="black", linestyle=":", marker="x")
    width, legend_width = 4.2 * len(settings) + 2.2, 2.0  # inches; the legend gets its own strip
    fig, axes = plt.subplots(1, len(settings), figsize=(width, 3.8), squeeze=False)
    for ax, setting in zip(axes[0], settings):
        for method in methods:
            pts = sorted((e["n"], e["ndcg@10"]) for e in res if e["setting"] == setting and e["method"] == method)
            if pts:
                ax.plot(*zip(*pts), label=method, **style[method])
        ax.set_title(setting, fontsize=10)
        ax.set_xlabel("history length (interactions)")
        ax.set_ylabel("NDCG@10")
        ax.grid(True, alpha=0.3)
    handles = [plt.Line2D([], [], **style[m]) for m in methods]
    fig.legend(handles, methods, loc="center right", fontsize=8)
    fig.suptitle("Cold-start NDCG@10 against history length")
    fig.tight_layout(rect=(0, 0, 1 - legend_width / width, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)  # pyplot keeps every figure until closed: a process that evaluates again and again would grow
    return True


def write_report(summary: dict, out: Path, command: str | list[str] | None = None) -> dict:
    """``summary.json``, ``report.md`` and ``ndcg10.png`` in ``out``, from a summary (``statistics.summarize``)."""
    summary["command"] = command
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "report.md").write_text(markdown(summary, command) + "\n")
    plot(summary, out / "ndcg10.png")
    return summary
