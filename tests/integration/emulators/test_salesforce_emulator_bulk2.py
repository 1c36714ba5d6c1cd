"""Salesforce emulator: Bulk API 2.0 ingest lifecycle, run in-process with the async API and aiohttp."""
from __future__ import annotations

import csv
import io
import ssl
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from emulators.salesforce import SalesforceEmulator
from tests.fixtures import load


def fx(path: str) -> dict:
    return load("salesforce/" + path)


@pytest.fixture
async def emu(tmp_path):
    async with SalesforceEmulator(ca_path=tmp_path / "ca.pem") as emulator:
        yield emulator


@pytest.fixture
async def sf_aio(emu):
    ctx = ssl.create_default_context(cafile=str(emu.ca_path))
    headers = {"Authorization": f"Bearer {emu.issue_token()}"}
    async with aiohttp.ClientSession(base_url=emu.url, headers=headers,
                                     connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        yield session


B = "/services/data/v66.0/jobs/ingest"


async def _run_job(emu, sf_aio, obj: str, ext: str, data: str) -> str:
    async with sf_aio.post(f"{B}/", json={"object": obj, "externalIdFieldName": ext, "contentType": "CSV",
                                          "operation": "upsert", "lineEnding": "LF"}) as r:
        assert r.status == 200
        job = await r.json()
    ref = fx("bulk2/create_upsert_job.json")["body"]
    assert set(job) == set(ref) and job["state"] == "Open" and job["externalIdFieldName"] == ext
    assert job["contentUrl"] == f"services/data/v66.0/jobs/ingest/{job['id']}/batches"
    async with sf_aio.put(f"{B}/{job['id']}/batches/", data=data, headers={"Content-Type": "text/csv"}) as r:
        assert r.status == fx("bulk2/upload_job_data_201.json")["status"] and await r.read() == b""
    async with sf_aio.patch(f"{B}/{job['id']}/", json={"state": "UploadComplete"}) as r:
        closed = await r.json()
    assert r.status == 200 and set(closed) == set(fx("bulk2/close_upload_complete.json")["body"])
    assert closed["state"] == "UploadComplete"
    await emu.state.bulk_jobs[job["id"]].task  # processing runs in the background
    return job["id"]


async def test_bulk2_upsert_lifecycle_and_results(emu, sf_aio):
    emu.insert("Account", {"Name": "Existing", "Wooforce_Key__c": "123"})
    data = fx("bulk2/upload_job_data_201.json")["request"]["body"].replace("customExtIdField__c", "Wooforce_Key__c")
    data = data.replace("name,", "Name,") + "999,,5\n"
    before = emu.api_calls
    job_id = await _run_job(emu, sf_aio, "Account", "Wooforce_Key__c", data)
    async with sf_aio.get(f"{B}/{job_id}/") as r:
        info = await r.json()
    ref = fx("bulk2/job_info_job_complete.json")["body"]
    assert set(ref) <= set(info) and info["state"] == "JobComplete"
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (13, 1)
    async with sf_aio.get(f"{B}/{job_id}/successfulResults/") as r:
        assert r.headers["Content-Type"].startswith("text/csv")
        ok_text = await r.text()
    ref_text = fx("bulk2/successful_results.json")["body"]
    assert ok_text.splitlines()[0] == '"sf__Id","sf__Created",Wooforce_Key__c,Name,NumberOfEmployees'
    assert ref_text.splitlines()[0].startswith('"sf__Id","sf__Created",')
    rows = list(csv.DictReader(io.StringIO(ok_text)))
    assert len(rows) == 12 and {r["sf__Created"] for r in rows if r["Wooforce_Key__c"] == "123"} == {"false"}
    assert sum(r["sf__Created"] == "true" for r in rows) == 11
    assert ok_text.splitlines()[1].startswith('"001')
    accounts = {a["Wooforce_Key__c"]: a for a in emu.records("Account")}
    assert accounts["123"]["Name"] == "GenePoint" and accounts["234"]["NumberOfEmployees"] == 1467
    assert accounts["234"]["Name"] == "United Oil & Gas, UK"
    async with sf_aio.get(f"{B}/{job_id}/failedResults/") as r:
        failed_text = await r.text()
    ref_failed = fx("bulk2/failed_results.json")["body"].splitlines()
    lines = failed_text.splitlines()
    assert lines[0] == '"sf__Id","sf__Error",Wooforce_Key__c,Name,NumberOfEmployees'
    assert lines[1] == '"","REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --","999","","5"'
    assert ref_failed[1].split('","')[1] == lines[1].split('","')[1]
    assert emu.api_calls == before + 6  # create, upload, close, info, 2 results


async def test_bulk2_relationship_columns_and_not_found(emu, sf_aio):
    emu.insert("Account", {"Name": "Parent", "Wooforce_Key__c": "acc-1"})
    data = "Wooforce_Key__c,LastName,Account.Wooforce_Key__c\nc1,One,acc-1\nc2,Two,nope\n"
    job_id = await _run_job(emu, sf_aio, "Contact", "Wooforce_Key__c", data)
    contacts = emu.records("Contact")
    assert [(c["Wooforce_Key__c"], c["AccountId"]) for c in contacts] == [("c1", emu.records("Account")[0]["Id"])]
    async with sf_aio.get(f"{B}/{job_id}/failedResults/") as r:
        failed = list(csv.reader(io.StringIO(await r.text())))
    assert failed[1][1] == ("INVALID_FIELD:Foreign key external ID: nope not found for field Wooforce_Key__c in "
                            "entity Account: --")
    async with sf_aio.get(f"{B}/750000000000000AAA") as r:
        ref = fx("bulk2/job_not_found_404.json")
        assert (r.status, await r.json()) == (ref["status"], ref["body"])
    async with sf_aio.put(f"{B}/{job_id}/batches", data="x") as r:
        assert r.status == 409  # only while Open
    async with sf_aio.delete(f"{B}/{job_id}") as r:
        assert r.status == 204
    assert emu.state.bulk_jobs == {}


async def test_bulk2_lock_row_fault_applies_per_record(emu, sf_aio):
    emu.faults.add("lock_row", times=1)
    job_id = await _run_job(emu, sf_aio, "Account", "Wooforce_Key__c", "Wooforce_Key__c,Name\na,A\nb,B\n")
    async with sf_aio.get(f"{B}/{job_id}") as r:
        assert (await r.json())["numberRecordsFailed"] == 1
    async with sf_aio.get(f"{B}/{job_id}/failedResults") as r:
        assert "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record:" in await r.text()


async def test_session_ttl_and_today_follow_the_injected_clock(tmp_path):
    now = [datetime(2026, 3, 1, 12, 0, tzinfo=UTC)]
    async with SalesforceEmulator(ca_path=tmp_path / "ca.pem", clock=lambda: now[0], session_ttl_s=36 * 3600) as emu:
        ctx = ssl.create_default_context(cafile=str(emu.ca_path))
        async with aiohttp.ClientSession(base_url=emu.url, connector=aiohttp.TCPConnector(ssl=ctx),
                                         headers={"Authorization": f"OAuth {emu.issue_token()}"}) as http:
            emu.insert("Account", {"Name": "A"})
            q = "/services/data/v66.0/query?q=SELECT+Id,CreatedDate+FROM+Account+WHERE+CreatedDate+=+TODAY"
            async with http.get(q) as r:
                body = await r.json()
                assert r.status == 200, body
                assert body["records"][0]["CreatedDate"] == "2026-03-01T12:00:00.000+0000"
            now[0] += timedelta(days=1)
            async with http.get(q.replace("TODAY", "YESTERDAY")) as r:
                assert (await r.json())["totalSize"] == 1
            now[0] += timedelta(hours=12, seconds=1)  # access tokens expire after session_ttl_s
            async with http.get(q) as r:
                assert r.status == 401 and (await r.json())[0]["errorCode"] == "INVALID_SESSION_ID"
