"""Bulk API 2.0 ingest jobs (insert/update/upsert/delete, CSV). Processing runs in the background
(``process_job``, scheduled by the app on UploadComplete) with the same DML validation as REST."""
from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass, field

from . import dml
from .api import Call, Resp, route
from .dml import Ctx
from .errors import ApiError, DmlFailure, MultipleMatches, RecordError
from .sfids import make_id
from .state import OrgState
from .values import fmt_dt

OPERATIONS = {"insert", "update", "upsert", "delete"}
CHUNK = 200


@dataclass
class Job:
    id: str
    object: str
    operation: str
    external_id: str | None
    created_by: str
    created: str
    version: float
    line_ending: str
    ctx: Ctx
    state: str = "Open"
    modstamp: str = ""
    data: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    successes: list[tuple[str, bool, list[str]]] = field(default_factory=list)
    failures: list[tuple[str, str, list[str]]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    processed: int = 0
    error_message: str | None = None
    task: asyncio.Task | None = None

    def info(self, extra: bool) -> dict:
        out = {"id": self.id, "operation": self.operation, "object": self.object, "createdById": self.created_by,
               "createdDate": self.created, "systemModstamp": self.modstamp or self.created, "state": self.state}
        if self.external_id:
            out["externalIdFieldName"] = self.external_id
        out.update(concurrencyMode="Parallel", contentType="CSV", apiVersion=self.version)
        if extra:
            out.update(jobType="V2Ingest", lineEnding=self.line_ending, columnDelimiter="COMMA",
                       numberRecordsProcessed=self.processed, numberRecordsFailed=len(self.failures), retries=0,
                       totalProcessingTime=0, apiActiveProcessingTime=0, apexProcessingTime=0)
            if self.error_message:
                out["errorMessage"] = self.error_message
        return out


def _job(org: OrgState, job_id: str) -> Job:
    job = org.bulk_jobs.get(job_id)
    if job is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return job


@route("POST", r"/jobs/ingest", "bulk2.create")
def create_job(org: OrgState, call: Call, m) -> Resp:
    body = call.json()
    o = org.sobject(str(body.get("object", "")))
    if o is None:
        raise ApiError(400, "INVALIDENTITY", f"Entity '{body.get('object')}' is not supported by the Bulk API.")
    op = body.get("operation")
    if op not in OPERATIONS:
        raise ApiError(400, "INVALIDJOB", f"Invalid operation: {op}")
    ext = body.get("externalIdFieldName")
    if op == "upsert":
        f = o.field(ext or "")
        if f is None or not (f.external_id or f.id_lookup):
            raise ApiError(400, "INVALIDJOB", f"Invalid external ID field: {ext}")
        ext = f.name
    if body.get("contentType", "CSV") != "CSV":
        raise ApiError(400, "INVALIDJOB", "contentType must be CSV")
    org.counter += 1
    now = fmt_dt(org.now())
    job = Job(id=make_id("750", org.counter), object=o.name, operation=op, external_id=ext if op == "upsert" else None,
              created_by=call.ctx.user_id, created=now, version=float(call.version),
              line_ending=body.get("lineEnding", "LF"), ctx=call.ctx)
    org.bulk_jobs[job.id] = job
    info = job.info(False)
    info.update(contentUrl=f"services/data/v{call.version}/jobs/ingest/{job.id}/batches",
                lineEnding=job.line_ending, columnDelimiter="COMMA")
    return Resp(200, info)


@route("PUT", r"/jobs/ingest/(?P<id>\w+)/batches", "bulk2.upload")
def upload(org: OrgState, call: Call, m) -> Resp:
    job = _job(org, m["id"])
    if job.state != "Open":
        raise ApiError(409, "INVALIDJOBSTATE", f"Unable to upload data: job is in state {job.state}")
    job.data.append(call.body_text)
    return Resp(201)


@route("PATCH", r"/jobs/ingest/(?P<id>\w+)", "bulk2.state")
def set_state(org: OrgState, call: Call, m) -> Resp:
    job = _job(org, m["id"])
    state = call.json().get("state")
    if state == "UploadComplete" and job.state == "Open":
        job.state = "UploadComplete"
        job.modstamp = fmt_dt(org.now())
        if org.bulk_scheduler is not None:
            org.bulk_scheduler(job)
    elif state == "Aborted" and job.state in ("Open", "UploadComplete", "InProgress"):
        job.state = "Aborted"
        job.modstamp = fmt_dt(org.now())
    else:
        raise ApiError(400, "INVALIDJOBSTATE", f"Invalid state transition from {job.state} to {state}")
    return Resp(200, job.info(False))


@route("GET", r"/jobs/ingest/(?P<id>\w+)", "bulk2.info")
def job_info(org: OrgState, call: Call, m) -> Resp:
    return Resp(200, _job(org, m["id"]).info(True))


@route("GET", r"/jobs/ingest", "bulk2.list")
def list_jobs(org: OrgState, call: Call, m) -> Resp:
    return Resp(200, {"done": True, "records": [j.info(False) for j in org.bulk_jobs.values()],
                      "nextRecordsUrl": None})


@route("DELETE", r"/jobs/ingest/(?P<id>\w+)", "bulk2.delete")
def delete_job(org: OrgState, call: Call, m) -> Resp:
    job = _job(org, m["id"])
    if job.state not in ("UploadComplete", "JobComplete", "Aborted", "Failed"):
        raise ApiError(400, "INVALIDJOBSTATE", f"Unable to delete a job in state {job.state}")
    org.bulk_jobs.pop(job.id)
    return Resp(204)


def _csv(rows: list[list[str]], header: list[str], first: list[str]) -> str:
    buf = io.StringIO()
    buf.write(",".join(f'"{h}"' for h in first) + ("," if header else "") + ",".join(header) + "\n")
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    w.writerows(rows)
    return buf.getvalue()


@route("GET", r"/jobs/ingest/(?P<id>\w+)/successfulResults", "bulk2.successful")
def successful(org: OrgState, call: Call, m) -> Resp:
    job = _job(org, m["id"])
    rows = [[rid, "true" if created else "false", *vals] for rid, created, vals in job.successes]
    return Resp(200, _csv(rows, job.header, ["sf__Id", "sf__Created"]), content_type="text/csv")


@route("GET", r"/jobs/ingest/(?P<id>\w+)/failedResults", "bulk2.failed")
def failed(org: OrgState, call: Call, m) -> Resp:
    job = _job(org, m["id"])
    rows = [[rid, err, *vals] for rid, err, vals in job.failures]
    return Resp(200, _csv(rows, job.header, ["sf__Id", "sf__Error"]), content_type="text/csv")


@route("GET", r"/jobs/ingest/(?P<id>\w+)/unprocessedrecords", "bulk2.unprocessed")
def unprocessed(org: OrgState, call: Call, m) -> Resp:
    job = _job(org, m["id"])
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([job.header, *job.unprocessed])
    return Resp(200, buf.getvalue() if job.header else "", content_type="text/csv")


def _row_body(header: list[str], row: list[str]) -> dict:
    body: dict = {}
    for col, val in zip(header, row):
        if val == "":
            continue
        value = None if val == "#N/A" else val
        if "." in col:
            rel, fld = col.split(".", 1)
            body[rel] = {fld: value}
        else:
            body[col] = value
    return body


def _apply_row(org: OrgState, job: Job, body: dict) -> tuple[str, bool]:
    o = org.schema[job.object]
    if job.operation == "delete":
        rid = dml.resolve_id(org, o, str(body.get("Id", "")))
        dml.delete(org, job.ctx, o, rid)
        return rid, False
    rid_raw = next((v for k, v in body.items() if k.lower() == "id"), None)
    parsed = dml.deserialize(org, o, {k: v for k, v in body.items() if k.lower() != "id"})
    if job.operation == "insert":
        return dml.save(org, job.ctx, o, parsed, None), True
    if job.operation == "update":
        rid = dml.resolve_id(org, o, str(rid_raw or ""))
        return dml.save(org, job.ctx, o, parsed, org.get(o.name, rid)), False
    return dml.upsert(org, job.ctx, o, job.external_id, parsed.values.get(job.external_id), parsed)


async def process_job(org: OrgState, job: Job, chunk_delay_s: float = 0.0) -> None:
    await asyncio.sleep(0)
    if job.state != "UploadComplete":
        return
    job.state = "InProgress"
    job.modstamp = fmt_dt(org.now())
    rows: list[list[str]] = []
    for text in job.data:
        parsed = list(csv.reader(io.StringIO(text.replace("\r\n", "\n"))))
        if not parsed:
            continue
        if not job.header:
            job.header = parsed[0]
        rows.extend(r for r in parsed[1:] if r)
    if not job.header:
        job.state, job.error_message = "Failed", "InvalidBatch : Failed to parse CSV header"
        return
    for start in range(0, len(rows), CHUNK):
        if job.state == "Aborted":
            job.unprocessed = rows[start:]
            return
        for row in rows[start:start + CHUNK]:
            try:
                rid, created = _apply_row(org, job, _row_body(job.header, row))
                job.successes.append((rid, created, row))
            except (DmlFailure, ApiError) as e:
                err: RecordError = e.errors[0]
                job.failures.append(("", err.bulk(), row))
            except MultipleMatches as e:
                job.failures.append(("", f"DUPLICATE_EXTERNAL_ID:more than one record found for external id "
                                         f"field: {[i[:15] for i in e.ids]}:{job.external_id} --", row))
            job.processed += 1
        org.commit()
        await asyncio.sleep(chunk_delay_s)
    job.state = "JobComplete"
    job.modstamp = fmt_dt(org.now())

