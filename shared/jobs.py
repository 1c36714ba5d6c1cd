"""Kinds and statuses of ``jobs`` rows (work requested from outside the agent), and the erasure job's shape.

An erasure job (kind ``erasure``) carries no personal data: its params are the entities to blank in Salesforce
(``[resource, id]`` pairs of its store) and the sha256 of the customer's email (the guest buyer's key). Its
progress is ``{"records", "erased", "failed": [{"sobject", "sf_id", "error"}]}``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any


class JobKind(StrEnum):
    BACKFILL = "backfill"
    SYNC = "sync"
    ERASURE = "erasure"
    IMPORT = "import"  # from Salesforce into the store (agent/twoway/imports.py)


class JobStatus(StrEnum):
    REQUESTED = "requested"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})


class ErasureState(StrEnum):
    """What callers see of a Salesforce erasure (``salesforce`` in the erase result, ``state`` of a job)."""
    NOT_REQUESTED = "not_requested"
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    DONE = "done"
    PARTIAL = "partial"
    FAILED = "failed"


def erasure_params(entities: Iterable[tuple[str, int]], guest_email_hash: str) -> dict[str, Any]:
    """The params of one store's erasure job: sorted ``[resource, id]`` pairs and the guest key's email hash."""
    return {"entities": [[r, int(i)] for r, i in sorted(set(entities))], "guest_email_hash": guest_email_hash}


IMPORT_RESOURCES = {"products": "product", "customers": "customer"}


def import_params(resource: str, dry_run: bool) -> dict[str, Any]:
    """The params of an import job: from Salesforce, one resource (``product`` or ``customer``), dry run or not."""
    if resource not in IMPORT_RESOURCES and resource not in IMPORT_RESOURCES.values():
        raise ValueError(f"cannot import {resource!r}: use {', '.join(IMPORT_RESOURCES)}")
    return {"from": "salesforce", "resource": IMPORT_RESOURCES.get(resource, resource), "dry_run": bool(dry_run)}


def empty_import_progress() -> dict[str, Any]:
    return {"total": None, "done": 0, "created": 0, "linked": 0, "would_create": 0, "would_link": 0, "failed": [],
            "last_id": ""}


def empty_progress() -> dict[str, Any]:
    return {"records": 0, "erased": 0, "failed": []}


def erasure_state(status: str, progress: Mapping[str, Any] | None, error: str | None) -> ErasureState:
    if status == JobStatus.REQUESTED:
        return ErasureState.QUEUED
    if status == JobStatus.RUNNING:
        return ErasureState.RETRYING if error else ErasureState.RUNNING
    if status == JobStatus.DONE:
        return ErasureState.PARTIAL if (progress or {}).get("failed") else ErasureState.DONE
    return ErasureState.FAILED


def erasure_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A job row as the API, the console and the CLI show it: ``result`` is the final progress once finished."""
    progress = {**empty_progress(), **(row["progress"] or {})}
    finished = row["status"] in FINISHED
    return {"job_id": row["id"], "store_id": row["store_id"], "status": row["status"],
            "state": erasure_state(row["status"], progress, row["error"]).value, "attempts": row["attempts"],
            "progress": progress, "result": progress if finished else None, "error": row["error"],
            "requested_by": row["requested_by"], "created_at": row["created_at"], "updated_at": row["updated_at"]}
