"""The Merkle tree over the sealed audit events, as RFC 6962 section 2.1 defines it (and RFC 9162 section 2.1 restates
it): proofs that an event is in the log, and that a later tree head extends an earlier one. Pure: no I/O.

A leaf is an event's canonical bytes as its seal keeps them (``audit_seals.body``, see ``audit.chain``): what the
hash chain commits to, so an inclusion proof ties the event's own fields, as an export lists them, to a signed root
without the seals around it. Its position is its seal's number less one, so the order of commit is in the tree.

- leaf hash: SHA-256(0x00 || leaf bytes); node hash: SHA-256(0x01 || left || right) (RFC 6962 section 2.1);
- MTH(D[n]) splits at k, the largest power of two below n: the left subtree is always complete. Every hash a proof
  needs is therefore a complete, aligned subtree, or a right edge made of a few of them (``pieces``), which the
  store keeps (``store.merkle``): a proof reads O(log^2 n) stored nodes, never the log;
- the verifiers follow RFC 9162 sections 2.1.3.2 and 2.1.4.2 step by step and reject a proof with one element too
  many or too few, not only one that computes a different root (a client that stopped at the root it expected once
  let immudb accept a falsified proof).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from signoff.errors import SignoffError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) (RFC 6962 section 2.1)

Node = tuple[int, int]  # (level, index): the complete subtree over leaves [index << level, (index + 1) << level)


class ProofError(SignoffError):
    """A proof does not hold: the message says which check failed."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """k, the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over the given leaf hashes, by the definition (for tests and small trees; ``Frontier`` streams)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    if len(leaf_hashes) == 1:
        return leaf_hashes[0]
    k = _split(len(leaf_hashes))
    return node_hash(root(leaf_hashes[:k]), root(leaf_hashes[k:]))


@dataclass
class Frontier:
    """The right edge of a growing tree (its "compact range"): one hash per set bit of the size, largest first.
    ``append`` takes the next leaf hash and returns every complete subtree that leaf finished, as ``(level, index,
    hash)``: what the store keeps."""

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        index = self.size
        made = [(0, index, leaf)]
        value, level = leaf, 0
        while (index >> level) & 1:  # a left sibling of the same height waits on the edge: join them
            value = node_hash(self.hashes.pop(), value)
            level += 1
            made.append((level, index >> level, value))
        self.hashes.append(value)
        self.size += 1
        return made

    def root(self) -> bytes:
        """The tree's root: the right fold of its edge, largest subtree first (``fold``)."""
        return fold(self.hashes) if self.hashes else EMPTY_ROOT

    @classmethod
    def at(cls, size: int, hashes: Sequence[bytes]) -> Frontier:
        """The edge of a tree of ``size`` leaves from the hashes of ``pieces(0, size)``, in that order."""
        if len(hashes) != size.bit_count():
            raise ValueError(f"a tree of {size} leaves has {size.bit_count()} edge hashes, not {len(hashes)}")
        return cls(size, list(hashes))


def pieces(start: int, end: int) -> list[Node]:
    """The complete subtrees that make up leaves [start, end), largest first, for a range that starts on a multiple
    of a power of two at least as large as the range (every range a proof names does): its hash is their right fold
    (``fold``)."""
    found: list[Node] = []
    at, n = start, end - start
    while n:
        level = n.bit_length() - 1
        found.append((level, at >> level))
        at += 1 << level
        n -= 1 << level
    return found


def fold(hashes: Sequence[bytes]) -> bytes:
    """The hash of a range from the hashes of its ``pieces``: MTH splits off the largest complete subtree first."""
    value = hashes[-1]
    for left in reversed(hashes[:-1]):
        value = node_hash(left, value)
    return value


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make the audit path of leaf ``index`` in a tree of ``size`` (RFC 6962 section
    2.1.1, PATH), from the leaf up."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    found: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            found.append((start + k, end))
            end = start + k
        else:
            found.append((start, start + k))
            start += k
    return found[::-1]


def consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make the consistency proof from a tree of ``old`` leaves to one of ``new``
    (RFC 6962 section 2.1.2, SUBPROOF), in the proof's order. Empty when the sizes are equal or ``old`` is 0."""
    if not 0 <= old <= new:
        raise ValueError(f"no consistency proof from a tree of {old} leaves to one of {new}")
    if old in (0, new):
        return []
    found: list[tuple[int, int]] = []
    start, end, whole = 0, new, True
    m = old
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            found.append((start + k, end))
            end = start + k
        else:
            found.append((start, start + k))
            m -= k
            start += k
            whole = False
    if not whole:
        found.append((start, end))
    return found[::-1]


def hashes_of(ranges: Sequence[tuple[int, int]], nodes: Callable[[Iterable[Node]], dict[Node, bytes]]) -> list[bytes]:
    """The hash of each range, from the stored complete subtrees ``nodes`` returns (all asked for in one call)."""
    wanted = [pieces(start, end) for start, end in ranges]
    found = nodes({node for parts in wanted for node in parts})
    missing = [node for parts in wanted for node in parts if node not in found]
    if missing:
        raise LookupError(f"the stored tree lacks node(s) {sorted(set(missing))[:5]}: it is not built that far")
    return [fold([found[node] for node in parts]) for parts in wanted]


def _check(proof: Sequence[bytes]) -> None:
    """Every element a hash: a root of another length never equals a computed one, so roots need no check."""
    for i, value in enumerate(proof):
        if len(value) != HASH_SIZE:
            raise ProofError(f"proof element {i} is {len(value)} bytes, not {HASH_SIZE}")


def _walk(fn: int, sn: int, path: Sequence[bytes], count: int, what: str) -> Iterator[tuple[bytes, bool]]:
    """RFC 9162's walk up a proof's path (sections 2.1.3.2 and 2.1.4.2): each element with whether it is the left
    sibling of the hash so far. ``fn`` and ``sn`` are the last node's and the tree's last leaf's positions; a path
    with an element more or fewer than they allow fails (``count`` and ``what`` say so)."""
    for p in path:
        if sn == 0:
            raise ProofError(f"the proof has {count} elements, more than {what} needs")
        left = bool(fn & 1) or fn == sn
        yield p, left
        if left:
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"the proof has {count} elements, fewer than {what} needs")


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes) -> None:
    """Check that ``leaf`` (a leaf hash) is leaf ``index`` of the tree of ``size`` leaves with ``expected_root``
    (RFC 9162 section 2.1.3.2). Every element is used exactly once, and the path must end at the root exactly as
    it runs out: a proof with an element added, removed, swapped or altered fails."""
    _check(proof)
    if len(leaf) != HASH_SIZE:
        raise ProofError(f"the leaf hash is {len(leaf)} bytes, not {HASH_SIZE}")
    if index < 0 or index >= size:
        raise ProofError(f"leaf index {index} is not below the tree size {size}")
    r = leaf
    for p, left in _walk(index, size - 1, proof, len(proof), f"the path of leaf {index}"):
        r = node_hash(p, r) if left else node_hash(r, p)
    if r != expected_root:
        raise ProofError("the proof leads to another root: the leaf, its position or a proof element differs")


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree of ``new`` leaves with ``new_root`` extends the one of ``old`` leaves with ``old_root``
    (RFC 9162 section 2.1.4.2, and for equal sizes an empty proof and equal roots)."""
    _check(proof)
    if old < 0 or new < old:
        raise ProofError(f"a tree of {new} leaves cannot extend one of {old}")
    if old == 0:  # every tree extends the empty one: such a "proof" would prove nothing (and RFC 9162 has none)
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if old == new:
        if proof:
            raise ProofError(f"two trees of equal size {old} need an empty proof, not {len(proof)} elements")
        if old_root != new_root:
            raise ProofError(f"two trees of size {old} have different roots: the log forked")
        return
    if not proof:
        raise ProofError(f"the proof from {old} to {new} leaves is empty")
    path = list(proof)
    if old & (old - 1) == 0:  # a power of two: the old root is itself a node of the new tree
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c, left in _walk(fn, sn, path[1:], len(proof), f"from {old} to {new} leaves"):
        if left:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
        else:
            sr = node_hash(sr, c)
    if fr != old_root:
        raise ProofError(f"the proof does not lead to the root of the tree of {old} leaves")
    if sr != new_root:
        raise ProofError(f"the proof does not lead to the root of the tree of {new} leaves")
