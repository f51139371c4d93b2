"""Scoring and order. A clause scores a document by its best matching field, plus a little of
the others: field weight x the clause's idf over the whole directory (as in BM25F) x saturated
term frequency; fields are short, so there is no length normalisation. Documents matching more
clauses rank first, then by the sum of clause scores, then by name."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from directory.search.clauses import Clause
from directory.search.postings import Postings, docnums_in, union_of
from directory.search.view import View

TIEBREAK = 0.1  # a clause scores its best field plus this share of the others
BM25_K1 = 1.2
STRENGTH_HALF = 10.0  # the clause-score sum that adds 0.5 to a hit's score


def _saturation(frequency: float) -> float:
    """BM25's term-frequency saturation: 1.0 for one occurrence."""
    return frequency * (BM25_K1 + 1) / (frequency + BM25_K1)


@dataclass(frozen=True)
class Ranked:
    docnum: int
    matched: int  # clauses matched
    strength: float  # the sum of its clause scores

    @property
    def score(self) -> float:
        """Clauses matched plus a fraction for how well: decreasing down the result list."""
        return self.matched + self.strength / (self.strength + STRENGTH_HALF)


class Ranking:
    """The documents matching a list of clauses within ``allowed``, and their order.

    A clause's idf is that of the word (or phrase) in the whole directory, whichever field
    holds it, as in BM25F: within a clause only the field weights decide (name > services >
    notes), and a word found in a name is not worth more for being rare in names."""

    def __init__(self, view: View, clauses: list[Clause], allowed: int) -> None:
        self.view = view
        self.clauses: list[tuple[Clause, list[Postings], float]] = []
        self.clause_bits: list[int] = []
        for clause in clauses:
            postings = [view.postings(leaf.field, leaf.terms) for leaf in clause.leaves]
            bits = union_of(p.bits for p in postings) & allowed
            if bits:  # a clause that matches nothing does not count (an unplaceable typo)
                words = [p.bits for p, leaf in zip(postings, clause.leaves, strict=True)
                         if not leaf.constant]  # fmt: skip
                self.clauses.append((clause, postings, view.idf(union_of(words).bit_count())))
                self.clause_bits.append(bits)
        self.matches = union_of(self.clause_bits)

    def top(self, count: int) -> list[Ranked]:
        """The first ``count`` documents in rank order (fewer if fewer match)."""
        candidates = self._candidates(count)
        matched: dict[int, int] = {}
        strength: dict[int, float] = {}
        for clause, postings, idf in self.clauses:
            for docnum, score in self._clause_scores(clause, postings, idf, candidates).items():
                matched[docnum] = matched.get(docnum, 0) + 1
                strength[docnum] = strength.get(docnum, 0.0) + score
        rank = self.view.name_rank()
        order = heapq.nsmallest(
            count, matched, key=lambda d: (-matched[d], -strength[d], rank.get(d, 0), d)
        )
        return [Ranked(docnum, matched[docnum], strength[docnum]) for docnum in order]

    def _candidates(self, count: int) -> int:
        """The documents matching at least k clauses, for the largest k that still gives
        ``count`` of them: nobody matching fewer clauses can be among the first ``count``."""
        at_least: list[int] = []  # at_least[k]: the documents matching more than k clauses
        for bits in self.clause_bits:
            at_least.append(0)
            for k in range(len(at_least) - 1, 0, -1):
                at_least[k] |= at_least[k - 1] & bits
            at_least[0] |= bits
        return next(
            (bits for bits in reversed(at_least) if bits.bit_count() >= count), self.matches
        )

    @staticmethod
    def _clause_scores(clause: Clause, postings: list[Postings], idf: float, candidates: int,
                       ) -> dict[int, float]:  # fmt: skip
        """Document -> the clause's score: its best leaf, plus TIEBREAK of the others."""
        best: dict[int, float] = {}
        total: dict[int, float] = {}
        for leaf, found in zip(clause.leaves, postings, strict=True):
            base = leaf.weight if leaf.constant else leaf.weight * idf
            for docnum in docnums_in(found.bits & candidates):
                repeats = found.repeats.get(docnum)
                score = base * _saturation(repeats) if repeats else base
                total[docnum] = total.get(docnum, 0.0) + score
                best[docnum] = max(best.get(docnum, 0.0), score)
        return {docnum: best[docnum] + TIEBREAK * (total[docnum] - best[docnum]) for docnum in best}
