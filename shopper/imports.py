"""Import the other two sources of article 7: the public online evaluation (网上公众评议, article
8) and the invited experts' tracking (特邀专家跟踪考核, article 9).

The file is CSV with a header naming the columns `agency_id`, `period` and `score` (0–100), in
any order; Chinese headers 部门编号/机构代码, 期间/考核期, 得分/分数 are understood too. Files saved
from Excel in GB18030 are read as well as UTF-8. A bad row is reported with its line number and the
reason and skipped; the good rows are kept. Importing the same file again changes nothing.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

from shopper.clock import get_clock, to_iso
from shopper.errors import ShopperError
from shopper.scoring import Period

SOURCES = ("public", "experts")
_HEADERS = {
    "agency_id": ("agency_id", "agency", "id", "部门编号", "机构代码", "部门"),
    "period": ("period", "期间", "考核期", "评议期"),
    "score": ("score", "得分", "分数", "评分"),
}


@dataclass
class ImportResult:
    source: str
    path: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)

    @property
    def kept(self) -> int:
        return self.inserted + self.updated + self.unchanged

    def summary(self) -> str:
        return (f"{self.path}: {self.kept} rows kept ({self.inserted} new, {self.updated} changed, "
                f"{self.unchanged} unchanged), {len(self.errors)} skipped")


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ShopperError(f"cannot read {path}: {err.strerror}") from err
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ShopperError(f"{path}: neither UTF-8 nor GB18030; save the file as UTF-8 CSV")


def _columns(header: list[str], path: Path) -> dict[str, int]:
    names = [h.strip().lower() for h in header]
    found = {}
    for column, aliases in _HEADERS.items():
        for i, name in enumerate(names):
            if name in aliases:
                found[column] = i
                break
        else:
            raise ShopperError(
                f"{path}: the header has no {column} column (found: {', '.join(header) or 'nothing'}); "
                "the first line must name agency_id, period and score"
            )
    return found


def import_scores(db, source: str, path: str | Path) -> ImportResult:
    """Import one CSV of `source` ("public" or "experts") into `imported_scores`."""
    if source not in SOURCES:
        raise ShopperError(f"unknown source {source!r}; use public or experts")
    path = Path(path)
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ShopperError(f"{path} is empty; the first line must name agency_id, period and score") from None
    cols = _columns(header, path)
    known = {row[0] for row in db.execute("SELECT id FROM agencies")}
    result = ImportResult(source, str(path))
    good: dict[tuple[str, str], tuple[float, int]] = {}
    width = max(cols.values()) + 1
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) < width:
            result.errors.append((line, f"only {len(cells)} columns, expected agency_id, period and score"))
            continue
        agency = cells[cols["agency_id"]].strip()
        period_text = cells[cols["period"]].strip()
        score_text = cells[cols["score"]].strip()
        if not agency:
            result.errors.append((line, "no agency id"))
            continue
        if agency not in known:
            result.errors.append((line, f"unknown agency {agency!r} (not in the agencies table)"))
            continue
        try:
            period = str(Period.parse(period_text))
        except ShopperError:
            result.errors.append((line, f"period {period_text!r} is not like 2026Q4 or 2026-11"))
            continue
        try:
            score = float(score_text)
        except ValueError:
            result.errors.append((line, f"score {score_text!r} is not a number"))
            continue
        if math.isnan(score) or not 0 <= score <= 100:
            result.errors.append((line, f"score {score_text} is outside 0–100"))
            continue
        if (agency, period) in good:
            first_line = good[(agency, period)][1]
            result.errors.append((line, f"{agency} {period} already given on line {first_line}; kept that one"))
            continue
        good[(agency, period)] = (score, line)

    existing = {
        (a, p): s for a, p, s in db.execute("SELECT agency_id, period, score FROM imported_scores WHERE source = ?", [source])
    }
    imported_at = to_iso(get_clock().now())
    with db.conn:
        for (agency, period), (score, _) in good.items():
            before = existing.get((agency, period))
            if before is not None and abs(before - score) < 1e-9:
                result.unchanged += 1
                continue
            db.execute(
                "INSERT INTO imported_scores (agency_id, period, source, score, imported_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (agency_id, period, source) DO UPDATE SET score = excluded.score, "
                "imported_at = excluded.imported_at",
                [agency, period, source, score, imported_at],
            )
            if before is None:
                result.inserted += 1
            else:
                result.updated += 1
    return result
