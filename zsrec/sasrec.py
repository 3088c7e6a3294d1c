"""A compact SASRec (Kang & McAuley, 2018): the trained sequential baseline zsrec is measured against.

What a team would train instead of prompting an LLM: item embeddings plus learned positions, causal
self-attention blocks, and a next-item objective with one sampled negative per position (binary
cross-entropy), as in the paper. Small and CPU-friendly: ML-100K trains in about a minute. It is
written here rather than imported because the maintained implementations (RecBole and others) pin
old torch/numpy versions or pull in a framework; this file is the whole model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SASRecConfig:
    max_len: int = 50
    hidden: int = 64
    blocks: int = 2
    heads: int = 1
    dropout: float = 0.2
    epochs: int = 200
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0


class SASRec:
    """Fit on item-row sequences (oldest first); score every catalog item for a new history."""

    def __init__(self, n_items: int, config: SASRecConfig | None = None):
        import torch
        from torch import nn

        self.config = cfg = config or SASRecConfig()
        self.n_items = n_items
        torch.manual_seed(cfg.seed)

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.items = nn.Embedding(n_items + 1, cfg.hidden, padding_idx=0)  # row i -> id i + 1
                self.positions = nn.Embedding(cfg.max_len, cfg.hidden)
                layer = nn.TransformerEncoderLayer(cfg.hidden, cfg.heads, cfg.hidden, cfg.dropout,
                                                   batch_first=True, norm_first=True)
                self.encoder = nn.TransformerEncoder(layer, cfg.blocks, enable_nested_tensor=False)
                self.norm = nn.LayerNorm(cfg.hidden)
                self.drop = nn.Dropout(cfg.dropout)
                causal = torch.triu(torch.ones(cfg.max_len, cfg.max_len, dtype=torch.bool), diagonal=1)
                self.register_buffer("causal", causal)

            def forward(self, seq):  # batch x max_len, left-padded with 0
                keep = (seq > 0).unsqueeze(-1).float()
                pos = torch.arange(seq.shape[1], device=seq.device)
                x = self.items(seq) * math.sqrt(cfg.hidden) + self.positions(pos)
                x = self.drop(x) * keep
                h = self.encoder(x, mask=self.causal[: seq.shape[1], : seq.shape[1]])
                return self.norm(h) * keep

        self.net = Net()
        for emb in (self.net.items, self.net.positions):
            nn.init.normal_(emb.weight, std=1.0 / math.sqrt(cfg.hidden))
        self.train_seconds = 0.0
        self.losses: list[float] = []
        self.checks: list[tuple[int, float]] = []  # (epoch, validation score) when fit validates
        self.best_epochs = 0
        self.best_score = float("-inf")

    def _pad(self, seqs: Sequence[Sequence[int]]) -> np.ndarray:
        """Catalog rows to ids (row + 1), keeping the last ``max_len``, left-padded with 0."""
        L = self.config.max_len
        out = np.zeros((len(seqs), L), dtype=np.int64)
        for i, s in enumerate(seqs):
            s = list(s)[-L:]
            if s:
                out[i, L - len(s):] = np.asarray(s, dtype=np.int64) + 1
        return out

    def fit(self, sequences: Sequence[Sequence[int]], validate: Callable[[SASRec], float] | None = None,
            every: int = 10, patience: int = 3) -> SASRec:
        """Train for ``config.epochs``; with ``validate`` (a score, higher is better, on held-out
        users), check it every ``every`` epochs, stop after ``patience`` checks without a gain, and
        keep the weights of the best check (``best_epochs``, ``best_score``)."""
        import copy

        import torch

        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        # Every part of a long history trains, in windows of max_len + 1 ending at its last item.
        seqs = []
        for full in sequences:
            full = list(full)
            for end in range(len(full), 1, -cfg.max_len):
                seqs.append(full[max(0, end - cfg.max_len - 1):end])
        inputs = self._pad([s[:-1] for s in seqs])
        targets = self._pad([s[1:] for s in seqs])
        seen = [set(s) for s in seqs]
        opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, betas=(0.9, 0.98))
        t0 = time.perf_counter()
        self.net.train()
        best_state, checks_without_gain = None, 0
        for epoch in range(1, cfg.epochs + 1):
            order = rng.permutation(len(seqs))
            total = 0.0
            for start in range(0, len(order), cfg.batch_size):
                idx = order[start:start + cfg.batch_size]
                negs = rng.integers(1, self.n_items + 1, size=targets[idx].shape)
                for r, i in enumerate(idx):  # resample negatives the user actually saw
                    bad = np.isin(negs[r] - 1, list(seen[i]))
                    while bad.any():
                        negs[r, bad] = rng.integers(1, self.n_items + 1, size=int(bad.sum()))
                        bad = np.isin(negs[r] - 1, list(seen[i]))
                x = torch.from_numpy(inputs[idx])
                pos = torch.from_numpy(targets[idx])
                neg = torch.from_numpy(negs)
                h = self.net(x)
                pos_logit = (h * self.net.items(pos)).sum(-1)
                neg_logit = (h * self.net.items(neg)).sum(-1)
                mask = (pos > 0).float()
                loss = (torch.nn.functional.softplus(-pos_logit) + torch.nn.functional.softplus(neg_logit))
                loss = (loss * mask).sum() / mask.sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            self.losses.append(total / len(seqs))
            if validate is not None and (epoch % every == 0 or epoch == cfg.epochs):
                self.net.eval()
                score = validate(self)
                self.net.train()
                self.checks.append((epoch, score))
                if score > self.best_score:
                    self.best_score, self.best_epochs = score, epoch
                    best_state, checks_without_gain = copy.deepcopy(self.net.state_dict()), 0
                else:
                    checks_without_gain += 1
                    if checks_without_gain >= patience:
                        break
        if best_state is not None:
            self.net.load_state_dict(best_state)
        else:
            self.best_epochs = cfg.epochs
        self.net.eval()
        self.train_seconds = time.perf_counter() - t0
        return self

    def scores(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        """(users x catalog items) scores from each history's last hidden state."""
        import torch

        with torch.inference_mode():
            h = self.net(torch.from_numpy(self._pad(histories)))[:, -1, :]
            return (h @ self.net.items.weight[1:].T).numpy().astype(np.float64)
