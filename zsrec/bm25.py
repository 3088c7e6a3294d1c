"""BM25 as one sparse matrix: a query's scores are a sparse matrix product, not a loop over documents.

Scores are rank-bm25's BM25Okapi exactly (same idf with its epsilon floor, same k1/b saturation), so
the sparse index can replace it without changing a shortlist; the test suite checks identical top-20
on ML-100K. The index is ``term_docs`` (terms x documents, CSR) holding each term's BM25 weight in
each document, so scoring a weighted query touches only the postings of its own terms, and a batch
of queries is one product of two sparse matrices.
"""

from __future__ import annotations

import json
import os
import threading
from array import array
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from .npz_files import read_npz, write_npz

try:  # scipy's own scatter-add kernel, called on slices of the index: no copy of the postings
    from scipy.sparse._sparsetools import csc_matvec as _scatter_add
except ImportError:  # pragma: no cover - a scipy that moved it: the public (copying) product below
    _scatter_add = None

INT32 = next(code for code in "ilh" if array(code).itemsize == 4)  # the array module's 4-byte int
EMPTY_DOC = "<empty>"  # rank-bm25 cannot index an empty document; both indexes use this stand-in

# A dense query reading at least this many postings is summed over slices of the catalog on several
# threads (scipy's kernel releases the GIL): at 1M items a query of common words reads ~4M postings,
# and one core's memory bandwidth was most of a shortlist's time (benchmarks/cooccurrence_scale.py).
SPLIT_POSTINGS = 1_000_000
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _forget_threads() -> None:
    """A forked child has none of its parent's threads: it makes its own pool on first use."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_threads)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _threads() -> ThreadPoolExecutor:
    """One small pool for the process, made on first use (a shortlist of a small catalog never needs it)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=min(4, _cores()), thread_name_prefix="zsrec-bm25")
        return _pool


def _compact(tf: np.ndarray) -> np.ndarray:
    """Term counts in the smallest unsigned type that holds them: a byte each, nearly always."""
    return tf.astype(np.min_scalar_type(int(tf.max(initial=0))))


@dataclass(frozen=True)
class TermCounts:
    """Each document's raw term counts (documents x terms, CSR, in the order the words came) and its
    length: what BM25's weights are computed from. Kept beside a built index because adding a
    document moves every weight (document frequencies, the mean length), and recomputing them from
    these counts is a few array passes, where reading every document's text again was most of an
    item add's cost (``Recommender.add_items``; benchmarks/add_interactions.py)."""

    indptr: np.ndarray  # int64, one more than the documents
    cols: np.ndarray  # int32 term ids
    tf: np.ndarray  # counts, in the smallest unsigned type that holds them
    doc_len: np.ndarray  # words per document (1 for an empty one, as EMPTY_DOC stands in)
    k1: float
    b: float
    epsilon: float

    @classmethod
    def count(cls, docs: Iterable[Sequence[str]], vocabulary: dict[str, int], k1: float, b: float,
              epsilon: float) -> TermCounts:
        """Counts of ``docs``; words not in ``vocabulary`` are added to it, numbered as they come.
        ``docs`` is read once, a document at a time, and the counts go to typed arrays as they come:
        with every document's words held at once and a Python int per posting, a build of 1M long
        items peaked 2.6 GB above the data and took twice as long (0.7 GB now;
        benchmarks/index_build.py)."""
        ends = array("q", [0])  # int64, as indptr
        term_ids = array(INT32)
        counts = array("q")
        lengths = array("q")
        for doc in docs:
            lengths.append(max(1, len(doc)))
            local: dict[int, int] = {}
            for word in doc or (EMPTY_DOC,):
                j = vocabulary.setdefault(word, len(vocabulary))
                local[j] = local.get(j, 0) + 1
            term_ids.extend(local)
            counts.extend(local.values())
            ends.append(len(term_ids))
        return cls(np.frombuffer(ends, dtype=np.int64), np.frombuffer(term_ids, dtype=np.int32),
                   _compact(np.frombuffer(counts, dtype=np.int64)), np.frombuffer(lengths, dtype=np.int64),
                   k1, b, epsilon)

    def then(self, more: TermCounts) -> TermCounts:
        """These documents and then ``more`` (counted with this vocabulary, grown)."""
        return TermCounts(np.concatenate([self.indptr, more.indptr[1:] + self.indptr[-1]]),
                          np.concatenate([self.cols, more.cols]), _compact(np.concatenate([self.tf, more.tf])),
                          np.concatenate([self.doc_len, more.doc_len]), self.k1, self.b, self.epsilon)


class SparseBM25:
    def __init__(self, term_docs: sparse.csr_matrix, vocabulary: dict[str, int], meta: dict | None = None,
                 counts: TermCounts | None = None):
        self.term_docs = term_docs
        self.vocabulary = vocabulary
        self.meta = meta or {}  # what the index was built from, checked on load by the caller
        self.doc_freq = np.diff(term_docs.indptr)  # postings per term: what scoring a term costs
        self.counts = counts  # what the weights came from (built here); None for a loaded index

    @classmethod
    def build(cls, docs: Iterable[Sequence[str]], k1: float = 1.5, b: float = 0.75,
              epsilon: float = 0.25) -> SparseBM25:
        vocabulary: dict[str, int] = {}
        return cls._weighed(TermCounts.count(docs, vocabulary, k1, b, epsilon), vocabulary)

    def with_docs(self, docs: Iterable[Sequence[str]]) -> SparseBM25:
        """A new index over these documents and then ``docs``, equal to the bit to ``build`` over
        all of them (the same counts, vocabulary numbering and arithmetic), with only ``docs`` read.
        This index is left as it is: shortlists go on reading it meanwhile."""
        if self.counts is None:
            raise ValueError("this index was loaded from a file without its term counts: build it over every document")
        vocabulary = dict(self.vocabulary)
        c = self.counts
        more = TermCounts.count(docs, vocabulary, c.k1, c.b, c.epsilon)
        return self._weighed(c.then(more), vocabulary)

    @classmethod
    def _weighed(cls, counts: TermCounts, vocabulary: dict[str, int]) -> SparseBM25:
        k1, b, cols, indptr = counts.k1, counts.b, counts.cols, counts.indptr
        n_docs, n_terms = len(counts.doc_len), len(vocabulary)
        tf = counts.tf.astype(np.float64)
        doc_len = counts.doc_len.astype(np.float64)
        df = np.bincount(cols, minlength=n_terms).astype(np.float64)
        idf = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
        idf[idf < 0] = counts.epsilon * idf.mean()  # rank-bm25's floor for terms in more than half the documents
        norm = np.repeat(k1 * (1 - b + b * doc_len / doc_len.mean()), np.diff(indptr))
        weights = idf[cols] * tf * (k1 + 1) / (tf + norm)
        doc_terms = sparse.csr_matrix((weights, cols, indptr), shape=(n_docs, n_terms))
        return cls(doc_terms.T.tocsr(), vocabulary, counts=counts)

    @property
    def n_docs(self) -> int:
        return self.term_docs.shape[1]

    def query_matrix(self, queries: Sequence[Mapping[str, float]]) -> sparse.csr_matrix:
        """Queries as rows of term weights; words the index never saw score nothing, as in rank-bm25."""
        indptr, cols, vals = [0], [], []
        for q in queries:
            for word, w in q.items():
                j = self.vocabulary.get(word)
                if j is not None:
                    cols.append(j)
                    vals.append(w)
            indptr.append(len(cols))
        return sparse.csr_matrix((np.asarray(vals, dtype=np.float64), np.asarray(cols, dtype=np.int32),
                                  np.asarray(indptr, dtype=np.int64)), shape=(len(queries), len(self.vocabulary)))

    def match(self, queries: Sequence[Mapping[str, float]]) -> sparse.csr_matrix:
        """Scores as a (queries x documents) sparse matrix: only documents sharing a word are stored."""
        return self.match_rows(self.query_matrix(queries))

    def match_rows(self, query_rows: sparse.csr_matrix) -> sparse.csr_matrix:
        out = (query_rows @ self.term_docs).tocsr()
        out.sort_indices()
        return out

    def dense_scores(self, query_row: sparse.csr_matrix) -> np.ndarray:
        """Scores of every document for one query row (from ``query_matrix``): the postings of the
        query's terms summed in C. Faster than ``match`` when the query's words are common and most
        documents would be in the sparse result anyway. Each term's postings are added in place from
        the index's own arrays; selecting the rows first (``term_docs[terms]``) would copy millions of
        postings on a large catalog, which cost as much as the sum itself."""
        terms, weights = query_row.indices, query_row.data
        out = np.zeros(self.n_docs)
        if len(terms) == 0:
            return out
        global _scatter_add
        m = self.term_docs
        if _scatter_add is not None and m.data.dtype == np.float64:
            indptr = m.indptr
            spans = [(int(indptr[t]), int(indptr[t + 1]), np.array([w], dtype=np.float64))
                     for t, w in zip(terms.tolist(), np.asarray(weights, dtype=np.float64).tolist())
                     if indptr[t + 1] > indptr[t]]
            try:
                parts = min(4, _cores()) if sum(e - s for s, e, _ in spans) >= SPLIT_POSTINGS else 1
                if parts == 1:
                    self._add_postings(spans, out)
                else:
                    # each thread sums every term's postings over its own slice of the documents: the
                    # slices are disjoint and each document's terms are added in the same order, so
                    # the scores are the same to the bit
                    bounds = np.linspace(0, self.n_docs, parts + 1).astype(m.indices.dtype)
                    cuts = [s + np.searchsorted(m.indices[s:e], bounds) for s, e, _ in spans]
                    sliced = [[(int(c[p]), int(c[p + 1]), w) for c, (_, _, w) in zip(cuts, spans)]
                              for p in range(parts)]
                    list(_threads().map(lambda part: self._add_postings(part, out), sliced))
                return out
            except (TypeError, ValueError):  # a scipy whose kernel takes other arguments: the public product
                _scatter_add = None
        return np.asarray(m[terms].T @ weights, dtype=np.float64).ravel()

    def _add_postings(self, spans: Sequence[tuple[int, int, np.ndarray]], out: np.ndarray) -> None:
        """``out[doc] += w * weight`` over the postings start..end of each (start, end, [w]), in place."""
        m = self.term_docs
        for start, end, w in spans:
            if end > start:
                _scatter_add(self.n_docs, 1, np.array([0, end - start], dtype=m.indptr.dtype),
                             m.indices[start:end], m.data[start:end], w, out)

    def scores_at(self, query_row: sparse.csr_matrix, rows: np.ndarray) -> np.ndarray:
        """Scores of the given documents only (``rows`` sorted, distinct) for one query row, the
        terms summed in the query's order as ``dense_scores`` sums them: a few hundred new items of
        a 1M-item catalog are scored without a pass over every document. Each term's postings are
        searched for the rows, or the rows for the postings, whichever list is shorter."""
        out = np.zeros(len(rows))
        if not len(rows):
            return out
        m = self.term_docs
        for t, w in zip(query_row.indices.tolist(), np.asarray(query_row.data, dtype=np.float64).tolist()):
            start, end = int(m.indptr[t]), int(m.indptr[t + 1])
            if end == start:
                continue
            docs, vals = m.indices[start:end], m.data[start:end]
            if len(rows) <= end - start:
                at = np.minimum(np.searchsorted(docs, rows), len(docs) - 1)
                hit = docs[at] == rows
                out[hit] += w * vals[at[hit]]
            else:
                at = np.minimum(np.searchsorted(rows, docs), len(rows) - 1)
                hit = rows[at] == docs
                out[at[hit]] += w * vals[hit]
        return out

    def scores(self, query: Mapping[str, float]) -> np.ndarray:
        """Dense scores over every document, for callers that want the whole vector."""
        return self.dense_scores(self.query_matrix([query]))

    def save(self, path: str | Path, extra: dict[str, np.ndarray] | None = None) -> None:
        """One .npz file at exactly ``path``, written atomically (a crash leaves no half index);
        ``extra`` arrays (another index kept beside this one) are stored in the same file."""
        m = self.term_docs
        words = np.array(sorted(self.vocabulary, key=self.vocabulary.__getitem__), dtype=str)
        write_npz(path, {"data": m.data, "indices": m.indices, "indptr": m.indptr, "shape": np.array(m.shape),
                         "words": words, "meta": np.array(json.dumps(self.meta)), **(extra or {})})

    @classmethod
    def load(cls, path: str | Path) -> SparseBM25:
        """The index ``save`` wrote; an unreadable file is a ``DataError`` naming it."""
        with read_npz(path) as f:
            return cls.from_arrays(f)

    @classmethod
    def from_arrays(cls, f: Mapping[str, np.ndarray]) -> SparseBM25:
        """The index from the arrays ``save`` writes (an open file holding them, and others beside)."""
        m = sparse.csr_matrix((f["data"], f["indices"], f["indptr"]), shape=tuple(f["shape"]))
        vocabulary = {w: i for i, w in enumerate(f["words"].tolist())}
        return cls(m, vocabulary, json.loads(str(f["meta"])))
