"""``zsrec`` command line: ``rank`` recommends, ``parse`` turns any LLM's text into a ranking.

Input errors print one line and exit with code 2, never a traceback; progress goes to stderr so that
``--format json`` output on stdout can be piped. Text from users, files and exceptions is printed
literally: no console here interprets ``[...]`` as markup.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import warnings
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .choices import CoNormalisation, RankingMode, ReasonsMode, Retriever
from .defaults import (SHORTLIST_BM25_WEIGHT, SHORTLIST_BY_LENGTH, SHORTLIST_COOCCURRENCE_WEIGHT,
                       SHORTLIST_NEW_ITEM_QUERY, SHORTLIST_POPULARITY_WEIGHT, SHORTLIST_SESSION_SECONDS, SHORTLIST_SESSION_SHARE,
                       SHORTLIST_SITTINGS_NEIGHBOURS, SHORTLIST_SITTINGS_SHARE)
from .errors import OptionError, ZsrecError
from .length_weights import by_length_text, parse_by_length

# rich_markup_mode=None: plain help, so "[titles]" in a help text stays and long option names are
# never cut at 80 columns.
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Zero-shot LLM recommendations for users the system has barely seen.")
err = Console(stderr=True, markup=False, highlight=False)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


# Backend options, the same for every command that ranks with an LLM. A flag is passed to the backend
# only when given, and only if the backend declares it (its constructor's keyword options).
BackendName = Annotated[str, typer.Option("--backend", help="LLM backend: transformers, vllm, openai (a vllm serve / OpenAI-compatible server), or a plugin.")]
ModelOpt = Annotated[Optional[str], typer.Option("--model", help="Hugging Face model id, local folder or .gguf file (default: embedded SmolLM2-135M-Instruct).")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="transformers, vllm: auto (default), cpu, cuda, cuda:1 ...")]
BaseUrlOpt = Annotated[Optional[list[str]], typer.Option("--base-url", metavar="URL", help="openai: a server's URL; repeat for replicas (round-robin). API key from $ZSREC_OPENAI_API_KEY or $OPENAI_API_KEY.")]
ConcurrencyOpt = Annotated[Optional[int], typer.Option("--concurrency", min=1, help="openai: requests in flight at once (default 8).")]
TensorParallelOpt = Annotated[Optional[int], typer.Option("--tensor-parallel-size", min=1, help="vllm: GPUs per model.")]
GpuMemoryOpt = Annotated[Optional[float], typer.Option("--gpu-memory-utilization", help="vllm: memory fraction for the engine (default 0.85 on GPU, 0.3 on CPU).")]
BackendOptionOpt = Annotated[Optional[list[str]], typer.Option("--backend-option", "-O", metavar="NAME=VALUE", help="Any option the backend declares, as NAME=VALUE (e.g. dtype=float32); repeatable.")]
# The shortlist's co-occurrence signal, the same for rank and eval (defaults chosen on validation users).
CoWeightOpt = Annotated[float, typer.Option("--cooccurrence-weight", min=0.0, help="Weight of what the catalog's users picked together with the history (0 turns it off).")]
CoNormOpt = Annotated[CoNormalisation, typer.Option("--cooccurrence-norm", help="raw counts, cosine, or damped (popular neighbours count less).")]
CoWindowOpt = Annotated[Optional[int], typer.Option("--cooccurrence-window", min=1, help="Count two picks together only this many picks apart (default: any two of a user's last 200).")]
CoOrderedOpt = Annotated[bool, typer.Option("--cooccurrence-ordered", help="Count only what was picked after a history item (transitions).")]
CoNeighboursOpt = Annotated[int, typer.Option("--cooccurrence-neighbours", min=1, help="Neighbours kept per item (bounds the index's memory).")]
CoFirstOpt = Annotated[Optional[int], typer.Option("--cooccurrence-first-picks", min=2, help="Count each user's first N picks (how people pick while new) instead of their last 200.")]
SessionShareOpt = Annotated[float, typer.Option("--session-share", min=0.0, max=1.0, help="Share of the co-occurrence part given to what users picked within --session-seconds of each other (one sitting), for histories of 2+ picks; needs timestamps (off, with a warning, where the data has none). The default was chosen on validation users; 0 turns it off.")]
SessionSecondsOpt = Annotated[float, typer.Option("--session-seconds", min=0.001, help="Two picks count as one sitting when at most this many seconds apart (with --session-share).")]
SittingsShareOpt = Annotated[float, typer.Option("--sittings-share", min=0.0, max=1.0, help="Share of the co-occurrence part given to what the catalog's sittings (picks at most --session-seconds apart) most like the history's latest picks also held (session kNN), for histories of 2+ picks; needs timestamps. The default was chosen on validation users; 0 turns it off.")]
SittingsNeighboursOpt = Annotated[int, typer.Option("--sittings-neighbours", min=1, help="How many of the most alike sittings vote (with --sittings-share).")]
NewItemSlotsOpt = Annotated[int, typer.Option("--new-item-slots", min=0, help="Up to this many places at the end of each shortlist go to new items (fewer than --new-item-picks picks), whose text best matches the history: co-occurrence and popularity never bring them up. 0 (default): off.")]
NewItemPicksOpt = Annotated[int, typer.Option("--new-item-picks", min=1, help="An item is new while it has fewer picks than this (with --new-item-slots).")]
NewItemQueryOpt = Annotated[int, typer.Option("--new-item-query", min=0, help="How many of the shortlist's best items join the history in the text query that chooses new items (with --new-item-slots; chosen on validation users).")]
_TUNED_BY_LENGTH = by_length_text(parse_by_length(SHORTLIST_BY_LENGTH))
ByLengthOpt = Annotated[str, typer.Option("--shortlist-by-length", help="Other shortlist weights for short histories, as UP_TO:BM25/POP/CO[@DAMPING][+firstK], comma-separated ('1:0/0.3/0.7@0.2+first15': one-item histories weigh BM25 0, popularity 0.3, co-occurrence 0.7, scored c_ij/(n_i^0.8 n_j^0.2), counted from each user's first 15 picks); 'none': the weights above for every length; 'auto': the tuned entries (" + _TUNED_BY_LENGTH + ") unless you set the weights above.")]
FusionWeightOpt = Annotated[float, typer.Option("--fusion-weight", min=0.0, max=1.0, help="The LLM order's share of the final one, fused with the shortlist's order by weighted reciprocal rank (as zsrec eval's X+fusion; --tune-fusion there chooses it for a model): 1, the LLM's order; 0, the shortlist's, with the LLM asked only for reasons (and not loaded at all with --reasons evidence or none).")]
GuidedOpt = Annotated[bool, typer.Option("--guided", help="Constrain the answer to candidate ids with constrained decoding (vllm; openai against vllm serve or llama.cpp's server).")]
# Data, shortlist and ranking options, the same for rank and serve.
DatasetOpt = Annotated[str, typer.Option(
    help="A MovieLens name (ml-100k, ml-1m, ml-latest-small, ml-25m, ...: shipped, cached or downloaded from "
         "GroupLens) or a folder in a known layout.")]
DataPathOpt = Annotated[Optional[Path], typer.Option(help="Local copy of the dataset: its folder, or the .zip GroupLens serves (overrides the name lookup).")]
ItemsOpt = Annotated[Optional[Path], typer.Option(help="Items as CSV/TSV/JSON lines or a JSON array (with --interactions), instead of --dataset.")]
InteractionsOpt = Annotated[Optional[Path], typer.Option(help="Interactions as CSV/TSV/JSON lines or a JSON array (with --items).")]
ColumnOpt = Annotated[Optional[list[str]], typer.Option("--column", metavar="NAME=COLUMN", help="Column mapping for --items/--interactions (item_id, title, user_id, timestamp, rating, genres), e.g. item_id=sku or genres=category; repeatable.")]
EncodingOpt = Annotated[str, typer.Option(help="Text encoding of --items/--interactions files.")]
NCandidatesOpt = Annotated[int, typer.Option(min=1, help="Shortlist size the LLM ranks.")]
KOpt = Annotated[int, typer.Option(min=1, help="How many recommendations to show.")]
ModeOpt = Annotated[RankingMode, typer.Option(help="generate: the LLM writes the ranking; score: candidates ranked by the log-probability of their label (one forward pass), reasons generated for the top k only.")]
ReasonsOpt = Annotated[ReasonsMode, typer.Option(help="llm: the model's reasons, checked against facts counted from the data, which replace any that fail (score mode: one generation writes them); evidence: reasons from those facts alone, no generation; none.")]
TemplateOpt = Annotated[str, typer.Option(help="Built-in template name (listwise, recency) or a path to a .j2 file.")]
ItemNounOpt = Annotated[Optional[str], typer.Option(metavar="NOUN[/PLURAL]", help="What the prompt calls an item: book, product, dress/dresses ... (default: movie for MovieLens, else item).")]
OnlyOpt = Annotated[Optional[list[str]], typer.Option("--only", metavar="ID", help="Recommend only these items (in stock, one shelf): an item id or title, as --exclude takes them; repeat. With --only-genre: those of them in these genres. With --users-file/--all-users: for every user.")]
OnlyGenreOpt = Annotated[Optional[list[str]], typer.Option("--only-genre", metavar="GENRE", help="Recommend only items of this genre (case-insensitive; repeat for any of several). The shortlist is drawn from them alone, each scored as without the filter.")]
MaxNewTokensOpt = Annotated[int, typer.Option(min=1, help="Generation budget for the LLM's answer.")]
TemperatureOpt = Annotated[float, typer.Option(min=0.0, help="0 = greedy (deterministic).")]
SeedOpt = Annotated[int, typer.Option(help="Seed for sampling.")]
TimeoutOpt = Annotated[Optional[float], typer.Option(help="Seconds the LLM may take before the generator order is used.")]
Bm25WeightOpt = Annotated[float, typer.Option(min=0.0, help="Weight of text similarity in the shortlist.")]
PopularityWeightOpt = Annotated[float, typer.Option(min=0.0, help="Weight of popularity in the shortlist.")]
RetrieverOpt = Annotated[Retriever, typer.Option(help="sparse (fast, default) or rank-bm25 (the reference library); same scores.")]
IndexOpt = Annotated[Optional[Path], typer.Option(help="A file (.npz) of the shortlist's indexes (text, co-occurrence, sittings) and title search: loaded if it exists, else built and written there.")]
PicksLogOpt = Annotated[Optional[Path], typer.Option(help="A JSON-lines log of picks sent to a running service (zsrec serve writes it): they join the data before anything is counted.")]
SkipBadRowsOpt = Annotated[bool, typer.Option(help="Drop malformed data rows (counted) instead of failing.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show the model engines' own logs (on stderr).")]


def _say(label: str, style: str, message: str) -> None:
    err.print(Text.assemble((label, style), " ", str(message)), soft_wrap=True)


def _fail(message: str) -> None:
    _say("error:", "bold red", message)
    raise typer.Exit(2)


@app.command()
def rank(
    dataset: DatasetOpt = "ml-100k",
    data_path: DataPathOpt = None,
    items: ItemsOpt = None,
    interactions: InteractionsOpt = None,
    column: ColumnOpt = None,
    encoding: EncodingOpt = "utf-8",
    history: Annotated[Optional[list[str]], typer.Option("--history", "-H", metavar="TITLE", help="A title (or item id) the user picked; repeat, oldest first.")] = None,
    user: Annotated[Optional[str], typer.Option(help="A user id from the data: their most recent picks form the history.")] = None,
    users_file: Annotated[Optional[Path], typer.Option(help="Rank many users: one user id per line, or JSON lines {\"user_id\": ..., \"history\": [titles]}. Writes JSON lines.")] = None,
    all_users: Annotated[bool, typer.Option(help="Rank every user in the data (JSON lines out).")] = False,
    out: Annotated[Optional[Path], typer.Option(help="With --users-file/--all-users: write JSON lines here (default: stdout).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Users per LLM call in a many-user run, and per forward pass of the transformers backend (raise it on a GPU).")] = 8,
    n_history: Annotated[int, typer.Option(min=1, help="With --user/--users-file/--all-users: how many recent picks to use.")] = 10,
    exclude: Annotated[Optional[list[str]], typer.Option("--exclude", "-x", metavar="ID", help="An item id (or title) never to recommend (out of stock, already owned); repeat. With --users-file/--all-users: for every user.")] = None,
    only: OnlyOpt = None,
    only_genre: OnlyGenreOpt = None,
    k: KOpt = 10,
    n_candidates: NCandidatesOpt = 20,
    model: ModelOpt = None,
    backend: BackendName = "transformers",
    base_url: BaseUrlOpt = None,
    concurrency: ConcurrencyOpt = None,
    mode: ModeOpt = RankingMode.GENERATE,
    reasons: ReasonsOpt = ReasonsMode.LLM,
    no_reasons: Annotated[bool, typer.Option("--no-reasons", hidden=True, help="Same as --reasons none.")] = False,
    guided: GuidedOpt = False,
    fusion_weight: FusionWeightOpt = 1.0,
    tensor_parallel_size: TensorParallelOpt = None,
    gpu_memory_utilization: GpuMemoryOpt = None,
    device: DeviceOpt = None,
    backend_option: BackendOptionOpt = None,
    template: TemplateOpt = "listwise",
    item_noun: ItemNounOpt = None,
    max_new_tokens: MaxNewTokensOpt = 320,
    temperature: TemperatureOpt = 0.0,
    seed: SeedOpt = 0,
    timeout: TimeoutOpt = None,
    bm25_weight: Bm25WeightOpt = SHORTLIST_BM25_WEIGHT,
    popularity_weight: PopularityWeightOpt = SHORTLIST_POPULARITY_WEIGHT,
    cooccurrence_weight: CoWeightOpt = SHORTLIST_COOCCURRENCE_WEIGHT,
    cooccurrence_norm: CoNormOpt = CoNormalisation.COSINE,
    cooccurrence_window: CoWindowOpt = None,
    cooccurrence_ordered: CoOrderedOpt = False,
    cooccurrence_neighbours: CoNeighboursOpt = 100,
    cooccurrence_first_picks: CoFirstOpt = None,
    shortlist_by_length: ByLengthOpt = "auto",
    session_share: SessionShareOpt = SHORTLIST_SESSION_SHARE,
    session_seconds: SessionSecondsOpt = SHORTLIST_SESSION_SECONDS,
    sittings_share: SittingsShareOpt = SHORTLIST_SITTINGS_SHARE,
    sittings_neighbours: SittingsNeighboursOpt = SHORTLIST_SITTINGS_NEIGHBOURS,
    new_item_slots: NewItemSlotsOpt = 0,
    new_item_picks: NewItemPicksOpt = 1,
    new_item_query: NewItemQueryOpt = SHORTLIST_NEW_ITEM_QUERY,
    retriever: RetrieverOpt = Retriever.SPARSE,
    index: IndexOpt = None,
    picks_log: PicksLogOpt = None,
    allow_unknown_titles: Annotated[bool, typer.Option(help="Leave out history titles that match nothing (listed in the result) instead of failing.")] = False,
    allow_empty_history: Annotated[bool, typer.Option(help="With no history, rank the most popular items (cold start) instead of failing.")] = False,
    skip_bad_rows: SkipBadRowsOpt = False,
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table or json.")] = OutputFormat.table,
    verbose: VerboseOpt = False,
) -> None:
    """Recommend k items for a new user from a few picks, ranked and explained by an LLM."""
    from .quiet import quiet_engines, stdout_to_stderr

    quiet_engines(verbose)
    many = users_file is not None or all_users
    try:
        if sum([bool(history), user is not None, users_file is not None, all_users]) > 1:
            _fail("give one of --history, --user, --users-file or --all-users")
        if out is not None and not many:
            _fail("--out goes with --users-file or --all-users")
        if out is not None:
            _check_writable(out)  # before the data and the model load, not after them
        if not history and user is None and not many and not allow_empty_history:
            _fail("no history: pass --history TITLE (repeatable) or --user ID, "
                  "or --allow-empty-history for cold-start (popularity) recommendations")
        _check_picks_log(picks_log)  # serve makes it; rank only reads it
        rec = _make_recommender(
            backend=backend, model=model, device=device, base_url=base_url, concurrency=concurrency,
            tensor_parallel_size=tensor_parallel_size, gpu_memory_utilization=gpu_memory_utilization,
            backend_option=backend_option, batch_size=batch_size, items=items, interactions=interactions,
            column=column, encoding=encoding, skip_bad_rows=skip_bad_rows, dataset=dataset, data_path=data_path,
            n_candidates=n_candidates, bm25_weight=bm25_weight, popularity_weight=popularity_weight,
            retriever=retriever, cooccurrence_weight=cooccurrence_weight, cooccurrence_norm=cooccurrence_norm,
            cooccurrence_window=cooccurrence_window, cooccurrence_ordered=cooccurrence_ordered,
            cooccurrence_neighbours=cooccurrence_neighbours, cooccurrence_first_picks=cooccurrence_first_picks,
            shortlist_by_length=shortlist_by_length, session_share=session_share,
            session_seconds=session_seconds, sittings_share=sittings_share,
            sittings_neighbours=sittings_neighbours, new_item_slots=new_item_slots,
            new_item_picks=new_item_picks, new_item_query=new_item_query, index=index, picks_log=picks_log, template=template, item_noun=item_noun, k=k, mode=mode,
            reasons=ReasonsMode.NONE if no_reasons else reasons, guided=guided, fusion_weight=fusion_weight,
            max_new_tokens=max_new_tokens,
            temperature=temperature, seed=seed, timeout=timeout)
        if many:
            from .batch import UserRequest, read_users_file

            requests = (read_users_file(users_file) if users_file is not None
                        else [UserRequest(u) for u in rec.dataset.interactions.user_ids])
            if exclude:  # checked once here: an unknown id is one error, not one per user
                rec.exclude_rows(exclude)
                requests = [replace(r, exclude=(*r.exclude, *exclude)) for r in requests]
            if only or only_genre:  # the run's filter, checked once, for every user
                rec.allowed(only or (), only_genre or ())
                requests = [_with_run_filter(r, only or (), only_genre or ()) for r in requests]
            rec.ranker.prepare([], (), k)  # a broken template fails before the model load
            with stdout_to_stderr() as stdout:
                _load_model(rec, model)
                _rank_many(rec, requests, n_history, k, batch_size, allow_unknown_titles, allow_empty_history,
                           out, stdout)
            return
        # Every input check first (once), so a typo costs no model load.
        if user is not None:
            prepared = rec.prepare_user(user, n_history, k, exclude or (), only or (), only_genre or ())
        else:
            prepared = rec.prepare(history or [], k, allow_unmatched=allow_unknown_titles, exclude=exclude or (),
                                   only=only or (), only_genres=only_genre or ())
            if not prepared.prepared.history and not allow_empty_history:
                _fail("none of the history titles matched the catalog")
        with stdout_to_stderr():
            _load_model(rec, model)
            with err.status("Ranking ..."):
                result = rec.rank_prepared([prepared])[0]
    except ZsrecError as e:
        _fail(str(e))
    if format is OutputFormat.json:  # with --index, what the start did to the file (the index: line's fields)
        said = {**result.to_dict(), **({"index": rec.index_report.to_dict()} if rec.index_report else {})}
        typer.echo(json.dumps(said, indent=2, ensure_ascii=False))
    else:
        _print_table(result)


def _with_run_filter(request, only: list[str] | tuple, only_genres: list[str] | tuple):
    """A users-file line under the run's --only/--only-genre. A line with a filter of its own is an
    error: joining the two lists would widen one filter, intersecting them narrow the other, and
    neither is what both writers meant."""
    if request.only or request.only_genres:
        raise OptionError(f"user {request.user_id!r} has its own only/only_genres in the users file; give a "
                          "filter there or with --only/--only-genre, not both")
    return replace(request, only=tuple(only), only_genres=tuple(only_genres))


def _make_recommender(*, backend, model, device, base_url, concurrency, tensor_parallel_size, gpu_memory_utilization,
                      backend_option, batch_size, items, interactions, column, encoding, skip_bad_rows, dataset,
                      data_path, n_candidates, bm25_weight, popularity_weight, retriever, cooccurrence_weight,
                      cooccurrence_norm, cooccurrence_window, cooccurrence_ordered, cooccurrence_neighbours,
                      cooccurrence_first_picks, shortlist_by_length, session_share, session_seconds, sittings_share,
                      sittings_neighbours, new_item_slots, new_item_picks, new_item_query, index, picks_log,
                      template, item_noun, k, mode, reasons, guided, fusion_weight, max_new_tokens, temperature,
                      seed, timeout):
    """The data, the shortlist and the (not yet loaded) model, as ``rank`` and ``serve`` take them. A
    model that the settings will need, and that cannot be used for what is known without loading it
    (a path that is not there), fails here, before the data is read."""
    from .backends.base import GenerationConfig
    from .ranking import RankerConfig

    spec = _backend_spec(backend, model, device=device, base_url=base_url, concurrency=concurrency,
                         tensor_parallel_size=tensor_parallel_size,
                         gpu_memory_utilization=gpu_memory_utilization, backend_option=backend_option,
                         batch_size=batch_size)
    if RankerConfig(k=k, n_candidates=n_candidates, mode=mode, reasons=reasons, fusion_weight=fusion_weight).needs_model:
        spec.check_model()
    data = _load_data(dataset, data_path, items, interactions, column, encoding, skip_bad_rows)
    shortlist = _shortlist_config(
        n_candidates=n_candidates, bm25_weight=bm25_weight, popularity_weight=popularity_weight, retriever=retriever,
        cooccurrence_weight=cooccurrence_weight, cooccurrence_norm=cooccurrence_norm,
        cooccurrence_window=cooccurrence_window, cooccurrence_ordered=cooccurrence_ordered,
        cooccurrence_neighbours=cooccurrence_neighbours, cooccurrence_first_picks=cooccurrence_first_picks,
        shortlist_by_length=shortlist_by_length, session_share=session_share, session_seconds=session_seconds,
        sittings_share=sittings_share, sittings_neighbours=sittings_neighbours, new_item_slots=new_item_slots,
        new_item_picks=new_item_picks, new_item_query=new_item_query)
    rec = _recommender(  # a saved index is read, or built and written, there
        data, backend=spec, template=template, candidates=shortlist, index=index, picks_log=picks_log,
        k=k, mode=mode, reasons=reasons, guided=guided, fusion_weight=fusion_weight, **({"item_noun": item_noun} if item_noun else {}),
        generation=GenerationConfig(max_new_tokens=max_new_tokens, temperature=temperature,
                                    seed=seed, timeout=timeout),
    )
    _say_index(rec.index_report)
    return rec


def _recommender(data, **kwargs):
    """A Recommender over ``data``, with the index file's warnings quieted: its ``index_report`` says
    the same, part by part, and rank, serve and index each say it once in their own words."""
    from .recommender import Recommender

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="the index file")
        return Recommender(data, **kwargs)


def _check_picks_log(picks_log: Path | None) -> None:
    """``zsrec serve`` makes the picks log; the commands that only read it say at once that it is not there."""
    if picks_log is not None and not picks_log.is_file():
        _fail(f"--picks-log: no file at {picks_log} (zsrec serve --picks-log writes it)")


def _say_index(report) -> None:
    """A start that built the --index file, or made parts of it again, takes seconds to minutes on a
    large catalog: one line says so, and why, where a start that read it whole says nothing."""
    if report is None or not report.written:
        return
    if report.read:
        _say("index:", "cyan", f"{report.path} written again; made again: {'; '.join(report.rebuilt)}")
    else:
        _say("index:", "cyan", f"{report.path} built and written; later starts with the same data and "
                                "shortlist flags read it (zsrec index builds it ahead)")


def _shortlist_config(*, cooccurrence_norm, cooccurrence_window, cooccurrence_ordered, cooccurrence_neighbours,
                      cooccurrence_first_picks, shortlist_by_length, **fields):
    """The shortlist's settings from the flags that ``rank``, ``serve`` and ``index`` share."""
    from .candidates import CandidateConfig
    from .cooccurrence import CoOccurrenceConfig

    return CandidateConfig(cooccurrence=CoOccurrenceConfig(normalisation=cooccurrence_norm, window=cooccurrence_window,
                                                           ordered=cooccurrence_ordered,
                                                           neighbours=cooccurrence_neighbours,
                                                           first_picks=cooccurrence_first_picks),
                           by_length=shortlist_by_length, **fields)


def _backend_spec(name: str, model: str | None, backend_option: list[str] | None = None, batch_size: int | None = None,
                  **flags: object):
    """The backend to load, from the flags given: each must be an option the backend declares
    (``--base-url`` with transformers is an error that names the backend's options).

    ``--batch-size`` is also the transformers backend's forward-pass batch: on a GPU a 64-user chunk
    split into passes of the backend's default 8 would waste most of the speed-up batching gives."""
    from .backends import BackendSpec, declared_options

    spec = BackendSpec(name, model)
    declared = declared_options(spec.backend_class)
    given = {key: value for key, value in flags.items() if value is not None and value != []}
    for key in given:
        if key not in declared:
            flag = "--" + key.replace("_", "-")
            _fail(f"{flag} is not an option of backend {name!r} (its options: "
                  + ", ".join("--" + k.replace("_", "-") for k in declared if k in flags) + ")")
    for entry in backend_option or []:
        key, sep, raw = entry.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            _fail(f"--backend-option takes NAME=VALUE, got {entry!r}")
        given[key] = _option_value(raw.strip(), declared.get(key))
    spec = BackendSpec(name, model, given)
    spec.check()
    return spec.with_options(batch_size=batch_size) if batch_size is not None else spec


def _option_value(raw: str, param) -> object:
    """A --backend-option value as the type of the option's default (int, float, bool), else text."""
    default = getattr(param, "default", None)
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return raw.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        _fail(f"--backend-option {param.name}={raw!r}: expected a {type(default).__name__}")
    return raw


def _load_model(rec, model: str | None) -> None:
    """Load with a spinner; a model that cannot come up (out of memory, say) is a warning, not an
    exit: the generator's order is still a ranking, and every result says it fell back. A shortlist
    of one has nothing to rank, so no model is loaded for it."""
    if not rec.ranker.needs_model:
        return
    with err.status(Text(f"Loading model {model or 'smollm2-135m (embedded default)'} ...")):
        rec.ranker.try_backend()
    if rec.ranker.load_error:
        _say("warning:", "yellow", f"{rec.ranker.load_error}; ranking in candidate-generator order")


def _check_writable(path: Path, what: str = "--out") -> None:
    """Make the file's folder and check the file can be written, without opening it: an old file there
    is kept until the run has something to write."""
    if path.is_dir():
        _fail(f"{path}: is a folder; {what} names the file to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        _fail(f"{path}: a file stands where a folder is needed")
    except OSError as e:
        _fail(f"{path}: cannot make its folder ({e.strerror or e})")
    if not os.access(path.parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        _fail(f"{path}: cannot write there (permission denied)")


def _rank_many(rec, requests, n_history: int, k: int, batch_size: int, allow_unmatched: bool,
               allow_empty: bool, out: Path | None, stdout=None) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from .batch import BatchReport

    report = BatchReport()
    try:
        sink = open(out, "w", encoding="utf-8") if out is not None else (stdout or sys.stdout)  # noqa: SIM115
    except OSError as e:
        _fail(f"{out}: cannot write there ({e.strerror or e})")
    columns = (TextColumn("ranking"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
               TextColumn("{task.fields[fallbacks]} fell back"))
    try:
        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task("rank", total=len(requests), fallbacks=0)
            for outcome in rec.recommend_many(requests, n_history=n_history, k=k, batch_size=batch_size,
                                              allow_unmatched=allow_unmatched, allow_empty=allow_empty,
                                              report=report):
                sink.write(json.dumps(outcome.to_dict(), ensure_ascii=False) + "\n")
                sink.flush()
                progress.update(task, advance=1, fallbacks=len(report.fallbacks))
    finally:
        if out is not None:
            sink.close()
    err.print(report.summary(), soft_wrap=True)
    if report.ranked == 0:
        raise typer.Exit(1)


def _print_table(result) -> None:
    out = Console(markup=False, highlight=False)
    info = result.info
    if result.unmatched_history:
        _say("left out (no match):", "yellow", ", ".join(result.unmatched_history))
    read_as = _read_as(result.history)
    if read_as:
        _say("history read as:", "cyan", read_as)
    table = Table(title=f"Top {len(result.items)} for "
                        + (f"user {result.user_id}" if result.user_id else "this history"),
                  show_lines=False)
    scored = info.mode == "score"
    columns = [("#", {"justify": "right"}), ("id", {}), ("title", {})]
    if scored:  # the real score: the log-probability of the item's label
        columns.append(("log-prob", {"justify": "right"}))
    fused = any(it.source == "fused" for it in result.items)
    if fused:  # where the model alone put each item, beside the blended order
        columns.append(("llm #", {"justify": "right"}))
    columns += [("by", {}), ("reason", {"overflow": "fold"})]
    for col, kw in columns:
        table.add_column(col, **kw)
    for it in result.items:
        cells = [str(it.rank), it.item_id, it.title]
        if scored:
            cells.append("-" if it.logprob is None else f"{it.logprob:.2f}")
        if fused:
            cells.append("-" if it.llm_rank is None else str(it.llm_rank))
        table.add_row(*cells, it.source + (" (new)" if it.new_item_slot else ""), it.reason or "-")
    out.print(table)
    if info.note:
        status = info.note
    elif info.fallback:
        status = f"fallback to generator order ({info.fallback_reason})"
    else:
        status = f"LLM placed {info.parsed} of {info.n_candidates} candidates"
        cut_by = {"timeout": "--timeout", "length": "--max-new-tokens"}.get(info.finish_reason)
        if cut_by:  # the rest were appended because the answer was stopped, not because the model chose so
            status += f" before its answer was cut by {cut_by}"
        if fused:
            status += f"; its order fused with the shortlist's at weight {info.fusion_weight:g}"
    out.print(f"model {info.model} via {info.backend}, template {info.template}; {status}", soft_wrap=True)
    if info.history_cut:
        out.print(f"{info.history_cut} oldest history items were cut to fit the model's context", soft_wrap=True)
    if info.filter:
        out.print(f"only {info.filter}", soft_wrap=True)
    sources = [it.reason_source for it in result.items]
    if any(s != "none" for s in sources):
        out.print(f"reasons: {sources.count('llm')} from the LLM (checked against the data), "
                  f"{sources.count('evidence')} written from the data{_replaced(result.items)}", soft_wrap=True)
    out.print(_timings_line(info.timings), soft_wrap=True)


def _replaced(items) -> str:
    """Why reasons from the data stand where the LLM's were asked for: the LLM's failed a check, or
    it wrote none (its answer skipped the item, or it failed: the fallback line says so)."""
    from .reasons import ReasonFlag

    unwritten = sum(1 for it in items if it.reason_flags == [ReasonFlag.EMPTY.value])
    failed = sum(1 for it in items if it.reason_flags) - unwritten
    parts = [f"{failed} LLM reason{'s' if failed != 1 else ''} failed the checks and {'were' if failed != 1 else 'was'} replaced"
             if failed else "", f"the LLM wrote none for {unwritten}" if unwritten else ""]
    said = "; ".join(p for p in parts if p)
    return f" ({said})" if said else ""


def _read_as(history: list[dict[str, str]]) -> str:
    """What a typed entry was matched to, wherever it differs from the catalog title: a typo, a title
    without its year or an item id is matched silently otherwise, and the user may have meant another film."""
    pairs = [f"{e['query']!r} -> {e['title']}" for e in history if e.get("query") and e["query"].strip() != e["title"]]
    return "; ".join(pairs)


def _timings_line(timings: dict[str, float]) -> str:
    """Per-stage seconds of this ranking and their sum; the model load, paid once per process, apart."""
    stages = [(name, sec) for name, sec in timings.items() if name not in ("total", "model_load")]
    line = "time: " + ", ".join(f"{name} {sec:.2f}s" for name, sec in stages)
    line += f" = {timings.get('total', sum(s for _, s in stages)):.2f}s to rank"
    if "model_load" in timings:
        line += f"; model load {timings['model_load']:.2f}s (once per process, not in the ranking time)"
    return line


def _load_data(dataset, data_path, items, interactions, column, encoding, skip_bad_rows):
    """The catalog and its interactions: a named dataset (or folder), or the user's own files with a
    column mapping. ``rank``, ``serve`` and ``eval`` read data the same way, and say the same way
    how many malformed rows --skip-bad-rows dropped."""
    from .loaders import load_dataset, load_table

    if (items is None) != (interactions is None):
        _fail("--items and --interactions go together")
    if items is None:
        data = load_dataset(dataset, data_path, skip_bad_rows=skip_bad_rows)
    else:
        mapping = {}
        for entry in column or []:
            key, sep, value = entry.partition("=")
            if not sep or not key.strip() or not value.strip():
                _fail(f"--column takes NAME=COLUMN, got {entry!r}")
            mapping[key.strip()] = value.strip()
        try:
            "".encode(encoding)
        except LookupError:
            _fail(f"unknown encoding {encoding!r}")
        data = load_table(items, interactions, mapping, skip_bad_rows=skip_bad_rows, encoding=encoding)
    if data.skipped_rows:
        err.print(f"skipped {data.skipped_rows} malformed rows in {data.source}")
    return data


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    api_key: Annotated[Optional[str], typer.Option(envvar="ZSREC_API_KEY", help="Ask every /v1 request for this key (Authorization: Bearer KEY or X-API-Key); also from $ZSREC_API_KEY.")] = None,
    max_batch: Annotated[int, typer.Option(min=1, help="Requests ranked together in one backend call at most (1 turns batching off).")] = 16,
    batch_window_ms: Annotated[float, typer.Option(min=0.0, help="Milliseconds a batch waits for more requests after its first.")] = 10.0,
    max_queue: Annotated[int, typer.Option(min=1, help="Requests waiting at most; more get 503 with Retry-After.")] = 256,
    deadline: Annotated[float, typer.Option(min=0.001, help="Seconds a request may wait for the LLM; past it the shortlist's order is answered, flagged.")] = 30.0,
    max_history: Annotated[int, typer.Option(min=1, help="Most history entries a request may send (422 beyond).")] = 50,
    max_body_bytes: Annotated[int, typer.Option(min=1, help="Largest request body accepted (422 beyond).")] = 64 * 1024,
    drain_seconds: Annotated[float, typer.Option(min=0.0, help="On SIGTERM, how long in-flight requests may take to finish before the exit.")] = 60.0,
    accept_interactions: Annotated[bool, typer.Option(help="Take new picks at POST /v1/interactions, new items at POST /v1/items and items hidden or shown at /v1/items/hide and /show, all without a restart (off: 403).")] = True,
    warm: Annotated[bool, typer.Option(help="Before listening, make what requests would make on first need (who picked what, the user lookup, the genre index, the reason checker): seconds more of a start at 1M items, none at the requests.")] = True,
    dataset: DatasetOpt = "ml-100k",
    data_path: DataPathOpt = None,
    items: ItemsOpt = None,
    interactions: InteractionsOpt = None,
    column: ColumnOpt = None,
    encoding: EncodingOpt = "utf-8",
    skip_bad_rows: SkipBadRowsOpt = False,
    index: IndexOpt = None,
    picks_log: PicksLogOpt = None,
    k: KOpt = 10,
    n_candidates: NCandidatesOpt = 20,
    model: ModelOpt = None,
    backend: BackendName = "transformers",
    base_url: BaseUrlOpt = None,
    concurrency: ConcurrencyOpt = None,
    mode: ModeOpt = RankingMode.GENERATE,
    reasons: ReasonsOpt = ReasonsMode.LLM,
    guided: GuidedOpt = False,
    fusion_weight: FusionWeightOpt = 1.0,
    tensor_parallel_size: TensorParallelOpt = None,
    gpu_memory_utilization: GpuMemoryOpt = None,
    device: DeviceOpt = None,
    backend_option: BackendOptionOpt = None,
    template: TemplateOpt = "listwise",
    item_noun: ItemNounOpt = None,
    max_new_tokens: MaxNewTokensOpt = 320,
    temperature: TemperatureOpt = 0.0,
    seed: SeedOpt = 0,
    timeout: TimeoutOpt = None,
    bm25_weight: Bm25WeightOpt = SHORTLIST_BM25_WEIGHT,
    popularity_weight: PopularityWeightOpt = SHORTLIST_POPULARITY_WEIGHT,
    cooccurrence_weight: CoWeightOpt = SHORTLIST_COOCCURRENCE_WEIGHT,
    cooccurrence_norm: CoNormOpt = CoNormalisation.COSINE,
    cooccurrence_window: CoWindowOpt = None,
    cooccurrence_ordered: CoOrderedOpt = False,
    cooccurrence_neighbours: CoNeighboursOpt = 100,
    cooccurrence_first_picks: CoFirstOpt = None,
    shortlist_by_length: ByLengthOpt = "auto",
    session_share: SessionShareOpt = SHORTLIST_SESSION_SHARE,
    session_seconds: SessionSecondsOpt = SHORTLIST_SESSION_SECONDS,
    sittings_share: SittingsShareOpt = SHORTLIST_SITTINGS_SHARE,
    sittings_neighbours: SittingsNeighboursOpt = SHORTLIST_SITTINGS_NEIGHBOURS,
    new_item_slots: NewItemSlotsOpt = 0,
    new_item_picks: NewItemPicksOpt = 1,
    new_item_query: NewItemQueryOpt = SHORTLIST_NEW_ITEM_QUERY,
    retriever: RetrieverOpt = Retriever.SPARSE,
    verbose: VerboseOpt = False,
) -> None:
    """Serve recommendations over HTTP: POST /v1/recommend, POST /v1/interactions (new picks, counted in
    at once), GET /v1/items (title search; POST: new items; /hide, /show, /hidden), /v1/genres, /healthz, /readyz, /metrics,
    a web page at / and the API docs at /docs. The model is loaded once; concurrent requests are
    ranked together. Needs the serve extra: pip install 'zsrec[serve]'."""
    from .quiet import quiet_engines

    quiet_engines(verbose)
    try:
        import uvicorn

        from .serving.app import create_app
        from .serving.config import ServeConfig
        from .serving.service import RecommendService
    except ImportError as e:
        _fail(f"zsrec serve needs FastAPI and uvicorn ({e.name} is missing): pip install 'zsrec[serve]'")
    try:
        config = ServeConfig(max_batch=max_batch, batch_window=batch_window_ms / 1000, max_queue=max_queue,
                             deadline=deadline, max_body_bytes=max_body_bytes, max_history=max_history,
                             api_key=api_key, drain_seconds=drain_seconds, accept_interactions=accept_interactions)
        rec = _make_recommender(
            backend=backend, model=model, device=device, base_url=base_url, concurrency=concurrency,
            tensor_parallel_size=tensor_parallel_size, gpu_memory_utilization=gpu_memory_utilization,
            backend_option=backend_option, batch_size=max_batch, items=items, interactions=interactions,
            column=column, encoding=encoding, skip_bad_rows=skip_bad_rows, dataset=dataset, data_path=data_path,
            n_candidates=n_candidates, bm25_weight=bm25_weight, popularity_weight=popularity_weight,
            retriever=retriever, cooccurrence_weight=cooccurrence_weight, cooccurrence_norm=cooccurrence_norm,
            cooccurrence_window=cooccurrence_window, cooccurrence_ordered=cooccurrence_ordered,
            cooccurrence_neighbours=cooccurrence_neighbours, cooccurrence_first_picks=cooccurrence_first_picks,
            shortlist_by_length=shortlist_by_length, session_share=session_share,
            session_seconds=session_seconds, sittings_share=sittings_share,
            sittings_neighbours=sittings_neighbours, new_item_slots=new_item_slots,
            new_item_picks=new_item_picks, new_item_query=new_item_query, index=index, picks_log=picks_log, template=template, item_noun=item_noun, k=k, mode=mode,
            reasons=reasons, guided=guided, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
            timeout=timeout, fusion_weight=fusion_weight)
        rec.ranker.prepare([], (), k)  # a broken template fails now, not at the first request
        service = RecommendService(rec, max_history=max_history, settle=True, warm=warm)  # a process of its own
    except ZsrecError as e:
        _fail(str(e))
    warmed = f"made ahead in {sum(service.warmed.values()):.1f}s: {', '.join(service.warmed)}; " if warm else ""
    err.print(f"zsrec serving {rec.dataset.name} ({len(rec.dataset.catalog)} items) on http://{host}:{port}/ "
              f"(docs at /docs); {warmed}" + ("loading the model ..." if service.needs_model else
                                     "no model to load: fusion weight 0 and no reasons from the LLM"), soft_wrap=True)
    # uvicorn stops on SIGTERM or Ctrl-C: it closes the socket, lets in-flight requests finish (up to
    # --drain-seconds), then the app ranks anything still queued and exits.
    def stop() -> None:  # the load, done after the start, found the model unusable: exit with its error
        server.should_exit = True

    server = uvicorn.Server(uvicorn.Config(create_app(service, config, stop), host=host, port=port,
                                           log_level="info" if verbose else "warning",
                                           timeout_graceful_shutdown=drain_seconds or None))
    # uvicorn re-sends the signal it stopped on to the handler that was there before; a no-op one
    # makes a clean drain exit with code 0, as orchestrators expect.
    signal.signal(signal.SIGTERM, lambda *_: None)
    server.run()
    if service.model_error:
        _fail(service.model_error)


@app.command("index")
def build_index(
    index: Annotated[Path, typer.Argument(help="The file (.npz) to write: what --index reads.")],
    dataset: DatasetOpt = "ml-100k",
    data_path: DataPathOpt = None,
    items: ItemsOpt = None,
    interactions: InteractionsOpt = None,
    column: ColumnOpt = None,
    encoding: EncodingOpt = "utf-8",
    skip_bad_rows: SkipBadRowsOpt = False,
    picks_log: PicksLogOpt = None,
    bm25_weight: Bm25WeightOpt = SHORTLIST_BM25_WEIGHT,
    popularity_weight: PopularityWeightOpt = SHORTLIST_POPULARITY_WEIGHT,
    cooccurrence_weight: CoWeightOpt = SHORTLIST_COOCCURRENCE_WEIGHT,
    cooccurrence_norm: CoNormOpt = CoNormalisation.COSINE,
    cooccurrence_window: CoWindowOpt = None,
    cooccurrence_ordered: CoOrderedOpt = False,
    cooccurrence_neighbours: CoNeighboursOpt = 100,
    cooccurrence_first_picks: CoFirstOpt = None,
    shortlist_by_length: ByLengthOpt = "auto",
    session_share: SessionShareOpt = SHORTLIST_SESSION_SHARE,
    session_seconds: SessionSecondsOpt = SHORTLIST_SESSION_SECONDS,
    sittings_share: SittingsShareOpt = SHORTLIST_SITTINGS_SHARE,
    sittings_neighbours: SittingsNeighboursOpt = SHORTLIST_SITTINGS_NEIGHBOURS,
    check: Annotated[bool, typer.Option("--check", help="Only say whether FILE is current for these data and flags (exit 0) or not (exit 1: missing, or parts a start would make again, named): nothing is built or written.")] = False,
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table (one line) or json.")] = OutputFormat.table,
) -> None:
    """Build the file of the shortlist's indexes, title search and user lookup ahead of time (an image
    build, a deploy step), so that zsrec rank and zsrec serve, given --index FILE with the same data
    and shortlist flags, read it rather than build it. No model is loaded. A file that holds them for
    these data and settings is read and left as it is; one whose parts do not fit is written again,
    and the line says which parts and why. With --check, only whether it is current is said (and the
    exit code says it too), from the file's settings and digests: nothing is built or written."""
    try:
        if check and index.is_dir():
            _fail(f"{index}: is a folder; zsrec index --check FILE names the file to check")
        if check and not index.exists():  # nothing to compare: the data need not be read
            _check_answer(format, {"path": str(index), "exists": False, "stale": [], "current": False},
                          f"no file at {index}: zsrec index {index} builds it")
        if not check:
            _check_writable(index, "zsrec index FILE")  # before the data is read
        _check_picks_log(picks_log)
        t0 = time.perf_counter()
        data = _load_data(dataset, data_path, items, interactions, column, encoding, skip_bad_rows)
        read_s = time.perf_counter() - t0
        shortlist = _shortlist_config(
            bm25_weight=bm25_weight, popularity_weight=popularity_weight, cooccurrence_weight=cooccurrence_weight,
            cooccurrence_norm=cooccurrence_norm, cooccurrence_window=cooccurrence_window,
            cooccurrence_ordered=cooccurrence_ordered, cooccurrence_neighbours=cooccurrence_neighbours,
            cooccurrence_first_picks=cooccurrence_first_picks, shortlist_by_length=shortlist_by_length,
            session_share=session_share, session_seconds=session_seconds, sittings_share=sittings_share,
            sittings_neighbours=sittings_neighbours)
        if check:
            _say_check(index, data, shortlist, picks_log, read_s, format)  # exits with its answer
        rec = _recommender(data, candidates=shortlist, index=index, picks_log=picks_log,
                           reasons=ReasonsMode.EVIDENCE, fusion_weight=0.0)
        index_s = time.perf_counter() - t0 - read_s
    except ZsrecError as e:
        _fail(str(e))
    report = rec.index_report
    assert report is not None
    holds = [name for name, _, _ in rec.generator.saved_parts()] + ["title search", "user lookup"]
    picks = rec.dataset.interactions
    out = {**report.to_dict(), "holds": holds, "items": len(rec.dataset.catalog), "picks": len(picks),
           "users": len(picks.user_ids), "data_seconds": round(read_s, 3), "index_seconds": round(index_s, 3),
           "bytes": index.stat().st_size}
    if format is OutputFormat.json:
        typer.echo(json.dumps(out, indent=2))
        return
    size = f"{out['items']:,} items, {out['picks']:,} picks; data read in {read_s:.1f} s"
    if report.current:
        typer.echo(f"{index} is current for these data and settings: read in {index_s:.1f} s, nothing written ({size})")
    elif report.read:
        typer.echo(f"{index} written again in {index_s:.1f} s ({out['bytes'] / 1e6:.1f} MB), made again: "
                   f"{'; '.join(report.rebuilt)} ({size})")
    else:
        typer.echo(f"{index} built in {index_s:.1f} s and written ({out['bytes'] / 1e6:.1f} MB): "
                   f"{', '.join(holds)} ({size})")


def _say_check(index: Path, data, shortlist, picks_log: Path | None, read_s: float, format: OutputFormat) -> None:
    """``zsrec index --check`` over data read: whether a start would read FILE whole, and if not, what it
    would make again."""
    from .index_file import check_index_file

    t0 = time.perf_counter()
    found = check_index_file(index, data, shortlist, picks_log)
    check_s = time.perf_counter() - t0
    took = f"checked in {check_s:.1f} s; {found.items:,} items, {found.picks:,} picks; data read in {read_s:.1f} s"
    said = (f"{index} is current for these data and settings: a start reads it and writes nothing ({took})"
            if found.current else
            f"{index} is not current: a start would make again {'; '.join(found.stale)}; zsrec index {index} "
            f"writes it again ({took}; nothing built or written)")
    _check_answer(format, {**found.to_dict(), "data_seconds": round(read_s, 3), "check_seconds": round(check_s, 3)},
                  said)


def _check_answer(format: OutputFormat, out: dict, line: str) -> None:
    """``zsrec index --check``'s answer, and its exit: 0 where the file is current, 1 where not (as
    ``diff`` exits; 2 stays an error's)."""
    typer.echo(json.dumps(out, indent=2) if format is OutputFormat.json else line)
    raise typer.Exit(0 if out["current"] else 1)


@app.command("eval")
def evaluate(
    dataset: DatasetOpt = "ml-100k",
    data_path: DataPathOpt = None,
    items: ItemsOpt = None,
    interactions: InteractionsOpt = None,
    column: ColumnOpt = None,
    encoding: EncodingOpt = "utf-8",
    skip_bad_rows: SkipBadRowsOpt = False,
    history_len: Annotated[str, typer.Option(help="History lengths, comma-separated.")] = "1,3,5,10",
    users: Annotated[int, typer.Option(min=1, help="Test users (held out from all training).")] = 200,
    methods: Annotated[str, typer.Option(help="random, pop, bm25, cooc, generator, sasrec, ease, itemknn, llm[:template], llm-score[:template], and X+fusion for an LLM method X.")] = "random,pop,bm25,generator,sasrec,llm,llm+fusion",
    candidates: Annotated[str, typer.Option(help="Candidate settings, comma-separated: generator, sampled (= sampled-uniform,sampled-pop), sampled-uniform, sampled-pop, full.")] = "generator,sampled,full",
    n_candidates: Annotated[int, typer.Option(min=2, help="Shortlist size (the generator's list, and the target plus this many less one in the sampled settings), as --n-candidates of zsrec rank.")] = 20,
    seed: Annotated[int, typer.Option(help="Seed for the user split, negative sampling and shuffles.")] = 0,
    out: Annotated[Path, typer.Option(help="Output folder; an existing run there is continued.")] = Path("results"),
    model: ModelOpt = None,
    backend: BackendName = "transformers",
    base_url: BaseUrlOpt = None,
    concurrency: ConcurrencyOpt = None,
    guided: GuidedOpt = False,
    tensor_parallel_size: TensorParallelOpt = None,
    gpu_memory_utilization: GpuMemoryOpt = None,
    device: DeviceOpt = None,
    backend_option: BackendOptionOpt = None,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Generation budget per LLM answer.")] = 160,
    item_noun: ItemNounOpt = None,
    fusion_weight: Annotated[float, typer.Option(min=0.0, max=1.0, help="Weight of the LLM's rank in X+fusion.")] = 0.5,
    tune_fusion: Annotated[bool, typer.Option(help="Choose the fusion weight on validation users instead (the LLM ranks their shortlists too).")] = False,
    validation_users: Annotated[int, typer.Option(min=1, help="Training users held out to choose hyper-parameters and fusion weights.")] = 200,
    permutations: Annotated[int, typer.Option(min=1, help="Rank each list in this many shuffled orders (position bias) and Borda-average them.")] = 1,
    bm25_weight: Annotated[float, typer.Option(min=0.0, help="Weight of text similarity in the generator's shortlist.")] = SHORTLIST_BM25_WEIGHT,
    popularity_weight: Annotated[float, typer.Option(min=0.0, help="Weight of popularity in the generator's shortlist.")] = SHORTLIST_POPULARITY_WEIGHT,
    cooccurrence_weight: CoWeightOpt = SHORTLIST_COOCCURRENCE_WEIGHT,
    cooccurrence_norm: CoNormOpt = CoNormalisation.COSINE,
    cooccurrence_window: CoWindowOpt = None,
    cooccurrence_ordered: CoOrderedOpt = False,
    cooccurrence_neighbours: CoNeighboursOpt = 100,
    cooccurrence_first_picks: CoFirstOpt = None,
    shortlist_by_length: ByLengthOpt = "auto",
    session_share: SessionShareOpt = SHORTLIST_SESSION_SHARE,
    session_seconds: SessionSecondsOpt = SHORTLIST_SESSION_SECONDS,
    sittings_share: SittingsShareOpt = SHORTLIST_SITTINGS_SHARE,
    sittings_neighbours: SittingsNeighboursOpt = SHORTLIST_SITTINGS_NEIGHBOURS,
    sasrec_epochs: Annotated[int, typer.Option(min=0, help="SASRec training epochs; 0 chooses hidden size, dropout and epochs on validation users (early stopping; minutes).")] = 60,
    batch_size: Annotated[int, typer.Option(min=1, help="Users per LLM call, and per forward pass of the transformers backend (raise it on a GPU).")] = 8,
    fresh: Annotated[bool, typer.Option(help="Delete an earlier run in --out and start over (else it is continued, if its settings match).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the model engines' own logs (on stderr).")] = False,
) -> None:
    """Cold-start evaluation of the LLM ranker against popularity, BM25, the generator and SASRec.

    An earlier run in --out is continued: finished rankings are kept. It must have been made with the
    same users and candidates (users, seed, shortlist and model settings) or the command stops and
    says what differs; methods, candidate settings and history lengths may be added. The report
    covers what this command asked for."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from .backends.base import GenerationConfig
    from .cooccurrence import CoOccurrenceConfig
    from .evaluation.protocol import EvalConfig
    from .evaluation.methods import MethodSpec
    from .evaluation.runner import Evaluation, parse_methods
    from .evaluation.storage import RunFolder
    from .quiet import quiet_engines, stdout_to_stderr

    quiet_engines(verbose)
    try:
        lens = tuple(int(x) for x in history_len.split(",") if x.strip())
    except ValueError:
        _fail(f"--history-len takes numbers like 1,3,5, got {history_len!r}")
    settings: list[str] = []
    for s in (x.strip() for x in candidates.split(",") if x.strip()):
        settings += ["sampled-uniform", "sampled-pop"] if s == "sampled" else [s]
    try:
        names = parse_methods(methods)
        config = EvalConfig(history_lens=lens, n_test_users=users, seed=seed, settings=tuple(dict.fromkeys(settings)),
                            n_candidates=n_candidates,
                            fusion_weight=None if tune_fusion else fusion_weight, permutations=permutations,
                            n_validation_users=validation_users,
                            bm25_weight=bm25_weight,
                            popularity_weight=popularity_weight, cooccurrence_weight=cooccurrence_weight,
                            cooccurrence=CoOccurrenceConfig(normalisation=cooccurrence_norm, window=cooccurrence_window,
                                                            ordered=cooccurrence_ordered,
                                                            neighbours=cooccurrence_neighbours,
                                                            first_picks=cooccurrence_first_picks),
                            by_length=shortlist_by_length, session_share=session_share,
                            session_seconds=session_seconds, sittings_share=sittings_share,
                            sittings_neighbours=sittings_neighbours)
        spec = _backend_spec(backend, model, device=device, base_url=base_url, concurrency=concurrency,
                             tensor_parallel_size=tensor_parallel_size,
                             gpu_memory_utilization=gpu_memory_utilization, backend_option=backend_option,
                             batch_size=batch_size)
        stored = not fresh and RunFolder(out).has_rows()  # the run checks once it knows what is left to rank
        if any(MethodSpec.parse(name).is_llm for name in names) and not stored:
            spec.check_model()  # before the data is read and the trained baselines are fitted
        data = _load_data(dataset, data_path, items, interactions, column, encoding, skip_bad_rows)
        if fresh:
            RunFolder(out).clear()
        run = Evaluation(data, config, names, out, backend=spec, guided=guided, item_noun=item_noun,
                         generation=GenerationConfig(max_new_tokens=max_new_tokens), sasrec_epochs=sasrec_epochs,
                         batch_size=batch_size, report_all=False)
        run.command = "zsrec eval " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "zsrec eval"
        columns = (TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with stdout_to_stderr(), Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task("eval", total=None)
            summary = run.run(lambda done, total: progress.update(task, completed=done, total=total))
    except ZsrecError as e:
        _fail(str(e))
    err.print(f"{len(summary['results'])} result rows; report: {out / 'report.md'}, rankings: {out / 'rankings.jsonl'}")
    for line in _fusion_to_run(summary.get("tuned") or {}):
        err.print(line, soft_wrap=True)
    typer.echo((out / "report.md").read_text())


def _fusion_to_run(tuned: dict) -> list[str]:
    """For each X+fusion whose weight this run chose: the flags that run it in zsrec rank and serve,
    so the weight the report names is the one deployed."""
    from .evaluation.methods import MethodSpec

    lines = []
    for name, chosen in tuned.items():
        if not name.endswith("+fusion"):
            continue
        spec, weight = MethodSpec.parse(name), float(chosen["params"]["weight"])
        flags = ["--mode score"] if spec.kind == "llm-score" else []
        flags += [f"--template {spec.template}"] if spec.template else []
        lines.append(f"{name}: fusion weight {weight:g}, chosen on validation users; zsrec rank and zsrec serve "
                     f"run it with {' '.join([*flags, f'--fusion-weight {weight:g}'])}")
    return lines


@app.command()
def parse(
    candidates: Annotated[Path, typer.Option(help="JSON list of the candidates in shown order: strings (titles) or objects with id and title.")],
    input: Annotated[Optional[Path], typer.Option("--input", "-i", help="LLM output file (default: stdin).")] = None,
    cut: Annotated[bool, typer.Option(
        "--cut", help="The answer was cut off (a timeout or the token budget): an unfinished last line that "
                      "is only a number may be the start of another, so it is not read as a pick.")] = False,
) -> None:
    """Parse any LLM's ranking text into candidate ids with reasons (JSON on stdout)."""
    from .parsing import parse_ranking

    try:
        raw = json.loads(candidates.read_text(encoding="utf-8"))
    except FileNotFoundError:
        _fail(f"{candidates}: file not found")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        _fail(f"{candidates}: not valid JSON ({e})")
    if not isinstance(raw, list) or not raw:
        _fail(f"{candidates}: expected a non-empty JSON list of candidates")
    ids, titles = [], []
    for i, c in enumerate(raw, start=1):
        if isinstance(c, str):
            ids.append(str(i))
            titles.append(c)
        elif isinstance(c, dict) and ("title" in c or "id" in c):
            ids.append(str(c.get("id", i)))
            titles.append(str(c.get("title", c.get("id"))))
        else:
            _fail(f"{candidates}: entry {i} is neither a title string nor an object with id/title")
    try:
        text = input.read_text(encoding="utf-8", errors="replace") if input else sys.stdin.read()
    except OSError as e:
        _fail(f"{input}: {e.strerror or e}")
    parsed = parse_ranking(text, titles, cut=cut)
    out = {
        "ranking": [
            {"rank": r, "id": ids[pos], "title": titles[pos], "candidate_number": pos + 1,
             "reason": parsed.reasons.get(pos, ""), "source": "llm" if r <= parsed.from_llm else "appended"}
            for r, pos in enumerate(parsed.order, start=1)
        ],
        "from_llm": parsed.from_llm,
        "fallback": parsed.fallback,
        "repairs": [{"kind": r.kind.value, "text": r.text} for r in parsed.repairs],
    }
    typer.echo(json.dumps(out, indent=2, ensure_ascii=False))


@app.command()
def templates() -> None:
    """List the built-in prompt templates."""
    from .prompts import available_templates, prompts_dir

    for name in available_templates():
        typer.echo(f"{name}\t{prompts_dir() / (name + '.j2')}")


def main(argv: list[str] | None = None) -> None:
    """The ``zsrec`` command. A usage error (an unknown option, a value out of range) is one line on
    stderr and exit code 2, like every other input error."""
    # What the library warns about (a signal it turned off, and why) is one plain line, not a source line.
    warnings.showwarning = lambda message, *_args, **_kw: _say("warning:", "bold yellow", str(message))
    try:
        code = app(args=argv, prog_name="zsrec", standalone_mode=False)
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130) from None
    except Exception as e:
        message = getattr(e, "format_message", None)
        if message is None or not hasattr(e, "exit_code"):
            raise  # a bug: its traceback is what a report needs
        if type(e).__name__ == "NoArgsIsHelpError":
            typer.echo(e.ctx.get_help())  # type: ignore[attr-defined]
            raise SystemExit(2) from None
        _say("error:", "bold red", message())
        raise SystemExit(e.exit_code) from None
    raise SystemExit(code if isinstance(code, int) else 0)
