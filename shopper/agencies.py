"""The `agencies` table mirrors the site files: one row per agency shopper shops at."""

from __future__ import annotations

import json

from shopper.clock import get_clock, to_iso


def sync(db, sites: dict) -> int:
    """Insert or update one row per site (by id); rows of removed sites stay for their history."""
    stamp = to_iso(get_clock().now())
    rows = [
        {
            "id": site.id,
            "name": site.name,
            "name_en": site.name_en,
            "homepage": site.homepage,
            "class": site.scoring_class,
            "timezone": site.timezone,
            "site_file": str(site.path),
            "email_domains_json": json.dumps(list(site.email_domains)),
            "created_at": stamp,
        }
        for site in sites.values()
    ]
    existing = {r["id"]: r["created_at"] for r in db["agencies"].rows}
    for row in rows:
        row["created_at"] = existing.get(row["id"]) or stamp
    db["agencies"].upsert_all(rows, pk="id", alter=False)
    return len(rows)
