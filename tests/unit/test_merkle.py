"""The Merkle tree against the published RFC 6962 test vectors, and proofs that were truncated, extended, reordered
or fuzzed: every one refused.

Vectors: transparency-dev/merkle (the Go implementation behind Trillian and Tessera, successor of the Certificate
Transparency Go repository's merkle package), Apache License 2.0. ``vectors/rfc6962_proofs.json`` holds the values
of every file under its testdata/inclusion and testdata/consistency at commit 417fb0c3, each with the file it came
from; the hashes below are those of its rfc6962/rfc6962_test.go and testonly/constants.go.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signoff.audit import merkle

VECTORS = json.loads((Path(__file__).parent / "vectors" / "rfc6962_proofs.json").read_text(encoding="utf-8"))

# testonly/constants.go: LeafInputs, and RootHashes for the trees of 0 to 8 of them.
LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def _b(text: str) -> bytes:
    return base64.b64decode(text) if text else b""


def test_the_hashes_of_rfc6962_test_go() -> None:
    assert merkle.EMPTY_ROOT.hex() == ROOTS[0]
    assert merkle.leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert merkle.leaf_hash(b"L123456").hex() == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    node = merkle.node_hash(b"N123", b"N456").hex()
    assert node == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"


def test_the_published_roots_of_trees_of_0_to_8_leaves() -> None:
    hashes = [merkle.leaf_hash(bytes.fromhex(leaf)) for leaf in LEAVES]
    edge = merkle.Frontier()
    assert edge.root().hex() == ROOTS[0]
    for size in range(1, 9):
        edge.append(hashes[size - 1])
        assert merkle.root(hashes[:size]).hex() == ROOTS[size]
        assert edge.root().hex() == ROOTS[size]


def _verify(kind: str, vector: dict[str, Any]) -> None:
    proof = [_b(p) for p in vector["proof"] or []]
    if kind == "inclusion":
        merkle.verify_inclusion(
            vector["leafIdx"], vector["treeSize"], _b(vector["leafHash"]), proof, _b(vector["root"])
        )
    else:
        merkle.verify_consistency(vector["size1"], vector["size2"], _b(vector["root1"]), _b(vector["root2"]), proof)


@pytest.mark.parametrize(
    ("kind", "vector"),
    [(kind, v) for kind in ("inclusion", "consistency") for v in VECTORS[kind]],
    ids=lambda value: value["file"].removeprefix("testdata/") if isinstance(value, dict) else value,
)
def test_the_published_proof_vectors(kind: str, vector: dict[str, Any]) -> None:
    if vector["wantErr"]:
        with pytest.raises(merkle.ProofError):
            _verify(kind, vector)
    else:
        _verify(kind, vector)


def test_the_vector_files_are_all_there() -> None:
    assert (len(VECTORS["inclusion"]), len(VECTORS["consistency"])) == (98, 98)
    assert sum(not v["wantErr"] for v in VECTORS["inclusion"] + VECTORS["consistency"]) > 10


class Tree:
    """A tree of ``n`` distinct leaves with every complete subtree stored, as the store keeps them."""

    def __init__(self, n: int) -> None:
        self.leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
        self.nodes: dict[merkle.Node, bytes] = {}
        edge = merkle.Frontier()
        for leaf in self.leaves:
            for level, index, value in edge.append(leaf):
                self.nodes[(level, index)] = value

    def get(self, wanted: Any) -> dict[merkle.Node, bytes]:
        return {node: self.nodes[node] for node in wanted if node in self.nodes}

    def root(self, size: int) -> bytes:
        return merkle.root(self.leaves[:size])

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return merkle.hashes_of(merkle.inclusion_ranges(index, size), self.get)

    def consistency(self, old: int, new: int) -> list[bytes]:
        return merkle.hashes_of(merkle.consistency_ranges(old, new), self.get)


def test_proofs_from_stored_subtrees_verify_for_every_leaf_and_every_pair_of_sizes() -> None:
    tree = Tree(40)
    for size in range(1, 41):
        assert merkle.fold([tree.nodes[node] for node in merkle.pieces(0, size)]) == tree.root(size)
        for index in range(size):
            merkle.verify_inclusion(index, size, tree.leaves[index], tree.inclusion(index, size), tree.root(size))
        for old in range(1, size + 1):
            merkle.verify_consistency(old, size, tree.root(old), tree.root(size), tree.consistency(old, size))


def test_a_proof_reads_a_logarithmic_number_of_nodes() -> None:
    for size in (1000, 1_000_003, 2**40 + 12345):
        asked = {node for start, end in merkle.inclusion_ranges(size // 3, size) for node in merkle.pieces(start, end)}
        assert len(asked) <= size.bit_length() ** 2
        asked = {
            node for start, end in merkle.consistency_ranges(size // 3, size) for node in merkle.pieces(start, end)
        }
        assert len(asked) <= size.bit_length() ** 2


TREE = Tree(70)
sizes = st.integers(min_value=1, max_value=70)


@st.composite
def inclusions(draw: st.DrawFn) -> tuple[int, int, list[bytes]]:
    size = draw(sizes)
    index = draw(st.integers(min_value=0, max_value=size - 1))
    return index, size, TREE.inclusion(index, size)


@st.composite
def consistencies(draw: st.DrawFn) -> tuple[int, int, list[bytes]]:
    new = draw(st.integers(min_value=2, max_value=70))
    old = draw(st.integers(min_value=1, max_value=new - 1))
    return old, new, TREE.consistency(old, new)


@st.composite
def damaged(draw: st.DrawFn, proof: list[bytes]) -> list[bytes]:
    """The proof truncated, extended, reordered, with an element dropped, replaced or one bit flipped."""
    kinds = ["extend", "insert", "random"]
    if proof:
        kinds += ["truncate", "drop", "flip", "cut"]
    if len(set(proof)) > 1:
        kinds.append("swap")
    kind = draw(st.sampled_from(kinds))
    changed = list(proof)
    if kind == "truncate":
        return changed[: draw(st.integers(min_value=0, max_value=len(proof) - 1))]
    if kind == "extend":
        return changed + draw(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=3))
    if kind == "insert":
        at = draw(st.integers(min_value=0, max_value=len(proof)))
        return [*changed[:at], draw(st.sampled_from([*TREE.leaves, bytes(32)])), *changed[at:]]
    if kind == "random":
        return draw(st.lists(st.binary(min_size=32, max_size=32), min_size=len(proof), max_size=len(proof) + 1))
    at = draw(st.integers(min_value=0, max_value=len(proof) - 1))
    if kind == "drop":
        del changed[at]
    elif kind == "flip":
        bit = draw(st.integers(min_value=0, max_value=255))
        value = bytearray(changed[at])
        value[bit // 8] ^= 1 << (bit % 8)
        changed[at] = bytes(value)
    elif kind == "cut":
        changed[at] = changed[at][: draw(st.integers(min_value=0, max_value=31))]
    else:
        other = draw(st.integers(min_value=0, max_value=len(proof) - 1).filter(lambda i: proof[i] != proof[at]))
        changed[at], changed[other] = changed[other], changed[at]
    return changed


@settings(max_examples=400, deadline=None)
@given(case=inclusions(), data=st.data())
def test_a_damaged_inclusion_proof_is_refused(case: tuple[int, int, list[bytes]], data: st.DataObject) -> None:
    index, size, proof = case
    merkle.verify_inclusion(index, size, TREE.leaves[index], proof, TREE.root(size))
    changed = data.draw(damaged(proof))
    if changed != proof:
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(index, size, TREE.leaves[index], changed, TREE.root(size))


@settings(max_examples=400, deadline=None)
@given(case=consistencies(), data=st.data())
def test_a_damaged_consistency_proof_is_refused(case: tuple[int, int, list[bytes]], data: st.DataObject) -> None:
    old, new, proof = case
    merkle.verify_consistency(old, new, TREE.root(old), TREE.root(new), proof)
    changed = data.draw(damaged(proof))
    if changed != proof:
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(old, new, TREE.root(old), TREE.root(new), changed)


@settings(max_examples=200, deadline=None)
@given(case=inclusions(), other=st.integers(min_value=0, max_value=69))
def test_an_inclusion_proof_does_not_prove_another_leaf(case: tuple[int, int, list[bytes]], other: int) -> None:
    index, size, proof = case
    if other != index:
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(index, size, TREE.leaves[other], proof, TREE.root(size))
        if other < size:
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(other, size, TREE.leaves[index], proof, TREE.root(size))


def test_a_frontier_rebuilt_from_its_pieces_goes_on_as_the_original() -> None:
    tree = Tree(23)
    edge = merkle.Frontier.at(13, [tree.nodes[node] for node in merkle.pieces(0, 13)])
    for leaf in tree.leaves[13:]:
        edge.append(leaf)
    assert edge.root() == tree.root(23)
    with pytest.raises(ValueError, match="3 edge hashes, not 2"):
        merkle.Frontier.at(13, [bytes(32)] * 2)
