"""Ids in text numbered a block at a time (zsrec/text_ids.py): exactly as a dict of each id numbers
them, however the hashes fall, however wide the blocks' arrays, however much the table grows."""

import numpy as np
import pytest

from zsrec import text_ids
from zsrec.text_ids import TextIds, hashes


def reference(blocks):
    """Each block's codes as a dict gives them: ids not met before numbered next, in sorted order."""
    code_of: dict[bytes, int] = {}
    out = []
    for block in blocks:
        for key in sorted(set(block.tolist()) - set(code_of)):
            code_of[key] = len(code_of)
        out.append([code_of[key] for key in block.tolist()])
    return out, list(code_of)


def random_blocks(seed: int, n_blocks: int, size: int, pool: int):
    """Blocks drawn from a pool of ids of 1 to 30 characters, each block's array as wide as its longest."""
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789-_", dtype=np.uint8)
    ids = list({bytes(rng.choice(letters, int(rng.integers(1, 31)))) for _ in range(pool)})
    return [np.array([ids[k] for k in rng.integers(0, len(ids), size)], dtype="S") for _ in range(n_blocks)]


def check(blocks):
    table = TextIds()
    want, order = reference(blocks)
    for block, expected in zip(blocks, want):
        codes, fresh = table.codes(block)
        assert codes.tolist() == expected
        assert sorted(fresh.tolist()) == fresh.tolist()
        # never over half full: a probe for an id not held meets a free slot soon, and always does
        assert 2 * table.count <= len(table._slot_code)
    assert table.texts().tolist() == order and table.count == len(order)


def test_codes_are_a_dicts_and_the_table_grows():
    """20 blocks from 30k ids: the table grows from 1,024 slots many times over."""
    check(random_blocks(0, 20, 5000, 30_000))


@pytest.mark.parametrize("buckets", [1, 3, 64])
def test_ids_that_hash_alike_are_told_apart_by_their_bytes(monkeypatch, buckets):
    """Every id's hash forced into a few values (1: all the same): the codes are still a dict's."""
    real = text_ids.hashes
    monkeypatch.setattr(text_ids, "hashes", lambda ids: real(ids) % np.uint64(buckets) + np.uint64(1))
    check(random_blocks(1, 6, 300, 700))


def test_an_ids_hash_does_not_depend_on_the_arrays_width():
    """A block's array is as wide as its longest id; the same id in a wider block hashes the same."""
    ids = [b"a", b"abcdefgh", b"abcdefghi", b"B00004TUBL"]
    for width in (10, 11, 16, 17, 40):
        assert hashes(np.array(ids, dtype=f"S{width}")).tolist() == hashes(np.array(ids, dtype="S")).tolist()
    assert len(set(hashes(np.array(ids, dtype="S")).tolist())) == len(ids)
