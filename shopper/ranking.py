"""The ranking of article 11 (评议考核的结果排名……予以公布), with ties and movement.

Ties get the same rank and the next rank skips ("standard competition ranking": 1, 2, 2, 4);
scores are compared as published, to two decimals. An agency with no assessed score is listed
after the ranked ones without a rank: not being assessed is neither first nor last place.
Movement compares with the previous period (quarter before a quarter, month before a month).
"""

from __future__ import annotations

from dataclasses import dataclass

from shopper.scoring import AgencyScore, Period, load_scores, score_agencies


@dataclass
class RankRow:
    rank: int | None
    agency_id: str
    name: str
    total: float | None
    previous_rank: int | None
    score: AgencyScore

    @property
    def movement(self) -> int | None:
        """Places gained (positive) or lost (negative) since the previous period."""
        if self.rank is None or self.previous_rank is None:
            return None
        return self.previous_rank - self.rank

    @property
    def movement_label(self) -> str:
        if self.rank is None:
            return "—"
        if self.previous_rank is None:
            return "new"
        m = self.movement
        return "=" if m == 0 else (f"▲{m}" if m > 0 else f"▼{-m}")

    def as_dict(self) -> dict:
        return {
            "rank": self.rank,
            "agency_id": self.agency_id,
            "name": self.name,
            "total": None if self.total is None else round(self.total, 2),
            "previous_rank": self.previous_rank,
            "movement": self.movement,
            "movement_label": self.movement_label,
            "score": self.score.as_dict(),
        }


def competition_ranks(values: list[float | None]) -> list[int | None]:
    """Ranks of `values` (higher is better) as 1, 2, 2, 4; None stays unranked."""
    keyed = sorted((round(v, 2), i) for i, v in enumerate(values) if v is not None)
    keyed.reverse()
    ranks: list[int | None] = [None] * len(values)
    previous, rank = None, 0
    for position, (value, index) in enumerate(keyed, start=1):
        if value != previous:
            rank, previous = position, value
        ranks[index] = rank
    return ranks


def _fresh(db, period: Period) -> bool:
    """Stored scores of `period` newer than every finding and import (so still right)."""
    computed = db.execute("SELECT max(computed_at) FROM scores WHERE period = ?", [str(period)]).fetchone()[0]
    if computed is None:
        return False
    changed = db.execute(
        "SELECT max(x) FROM (SELECT max(COALESCE(updated_at, created_at)) AS x FROM findings "
        "UNION ALL SELECT max(imported_at) FROM imported_scores)"
    ).fetchone()[0]
    return changed is None or changed < computed


def _scores(db, period: Period, config, recompute: bool) -> list[AgencyScore]:
    if recompute or not _fresh(db, period):
        return score_agencies(db, period, config)
    return load_scores(db, period)


def rank_scores(scores: list[AgencyScore], previous: list[AgencyScore] | None = None) -> list[RankRow]:
    ranks = competition_ranks([s.total for s in scores])
    before: dict[str, int | None] = {}
    if previous:
        before = {s.agency_id: r for s, r in zip(previous, competition_ranks([s.total for s in previous]))}
    rows = [RankRow(r, s.agency_id, s.name, s.total, before.get(s.agency_id), s) for s, r in zip(scores, ranks)]
    rows.sort(key=lambda row: (row.rank is None, row.rank or 0, row.agency_id))
    return rows


def ranking(db, period, config=None, *, recompute: bool = False) -> list[RankRow]:
    """The ranking of `period` with movement against the previous period. Scores are computed
    (and stored) when the stored ones are missing or older than a finding or an import; with
    `recompute` the period's scores are computed afresh in any case (e.g. after a weights change)."""
    period = Period.parse(period)
    current = _scores(db, period, config, recompute)
    previous = _scores(db, period.previous(), config, False)
    return rank_scores(current, previous)
