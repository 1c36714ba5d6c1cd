"""`wooforce salesforce setup` (issue 17): from an org without Wooforce's fields to the first delivered order with CLI
commands only, idempotent, a dry run that changes nothing, and specific errors (missing permission, a name taken
by a field hidden from the integration user, the custom-field limit, a field of the wrong type left alone)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from agent.delivery.engine import Deliverer
from agent.setup import PERMISSION_SET, field_defs
from shared.crypto import Vault
from shared.mapping import load_mapping
from shared.settings import Settings
from shared.stores import StoreManager
from tests.support import woo
from tests.support.agent_fixtures import CLIENT_ID, CLIENT_SECRET

pytestmark = pytest.mark.integration


@pytest.fixture
def bare_emu(sf_emu):
    """An org as Salesforce hands it over: standard fields only."""
    sf_emu.set_custom_fields(False)
    yield sf_emu
    sf_emu.set_user_permissions(None)
    sf_emu.set_custom_field_limit(500)
    sf_emu.set_custom_fields(True)


@pytest.fixture
def master_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def cli(pg_dsn, tmp_path, db, master_key):
    base = {k: v for k, v in os.environ.items() if not k.startswith("WOOFORCE_")}
    env = {**base, "WOOFORCE_DATABASE_URL": pg_dsn, "WOOFORCE_MASTER_KEY": master_key,
           "WOOFORCE_DATA_DIR": str(tmp_path / "data"), "WOOFORCE_LOG_LEVEL": "WARNING"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)

    return run


@pytest.fixture
def connected(cli, bare_emu) -> str:
    added = cli("stores", "add", "--name", "Fresh org shop", "--json")
    assert added.returncode == 0, added.stderr
    sid: str = json.loads(added.stdout)["store_id"]
    tested = cli("stores", "set-salesforce", sid, "--instance-url", bare_emu.url, "--client-id", CLIENT_ID,
                 "--client-secret", CLIENT_SECRET, "--ca-file", str(bare_emu.ca_path), "--test")
    assert tested.returncode == 0, tested.stderr
    return sid


def _custom(emu, sobject: str) -> set[str]:
    return {f.name for f in emu.state.schema[sobject].fields.values() if f.custom}


async def test_a_bare_org_reaches_its_first_delivered_order_with_cli_commands(cli, connected, bare_emu, db,
                                                                           master_key, tmp_path, settings):
    sid = connected
    check = cli("salesforce", "check", "--store", sid)
    assert check.returncode == 1 and "Order: missing" in check.stdout and "Wooforce_Key__c" in check.stdout

    plan = cli("salesforce", "setup", "--store", sid, "--dry-run", "--json")
    assert plan.returncode == 0, plan.stderr
    planned = json.loads(plan.stdout)
    wanted = {d.full_name for d in field_defs(load_mapping())}
    assert {c["field"] for c in planned["create"]} == wanted and planned["created"] == []
    assert planned["permission_set"] == "create" and planned["assignment"] == "create"
    assert _custom(bare_emu, "Order") == set() and bare_emu.records("PermissionSet") == []  # nothing changed

    done = cli("salesforce", "setup", "--store", sid)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"created permission set {PERMISSION_SET}" in done.stdout
    assert "Woo_Total__c" in _custom(bare_emu, "Order") and "Wooforce_Key__c" in _custom(bare_emu, "OrderItem")
    key = bare_emu.state.schema["Account"].field("Wooforce_Key__c")
    assert key.external_id and key.unique and not key.case_sensitive and key.length == 255
    assert bare_emu.state.schema["Order"].field("Woo_Total__c").type == "currency"
    [ps] = bare_emu.records("PermissionSet")
    assert len(bare_emu.records("FieldPermissions")) == len(wanted)
    [assigned] = bare_emu.records("PermissionSetAssignment")
    assert assigned["PermissionSetId"] == ps["Id"] and assigned["AssigneeId"] == bare_emu.integration_user_id

    again = cli("salesforce", "setup", "--store", sid, "--json")
    second = json.loads(again.stdout)
    assert again.returncode == 0 and not second["changed"] and second["create"] == [] and second["grants"] == []
    assert sorted(second["present"]) == sorted(wanted)
    assert "nothing to change" in cli("salesforce", "setup", "--store", sid).stdout
    assert len(bare_emu.records("FieldPermissions")) == len(wanted)

    assert cli("salesforce", "check", "--store", sid).returncode == 0
    # then an event (as the collector stores it) and one delivery pass
    stores = StoreManager(db, Vault.from_settings(Settings(_env_file=None, master_key=master_key,
                                                           data_dir=tmp_path)))
    await woo.Feeder(db).put(sid, "order", woo.order(1001, customer_id=7, products=(3,)))
    deliverer = Deliverer(db, stores, settings.model_copy(update={"master_key": master_key}))
    try:
        stats = await deliverer.drain()
    finally:
        deliverer.close()
    assert stats.outcomes["delivered"] == 1
    [order] = bare_emu.records("Order")
    assert order["Wooforce_Key__c"] == f"{sid}:order:1001" and order["Woo_Total__c"] is not None


async def test_errors_are_specific_and_nothing_existing_is_altered(cli, connected, bare_emu):
    sid = connected
    bare_emu.set_user_permissions({"ManageProfilesPermissionsets", "AssignPermissionSets"})
    denied = cli("salesforce", "setup", "--store", sid, "--json")
    report = json.loads(denied.stdout)
    assert denied.returncode == 1 and [e["reason"] for e in report["errors"]] == ["missing_permission"]
    assert "Customize Application" in report["errors"][0]["message"] and _custom(bare_emu, "Account") == set()
    bare_emu.set_user_permissions(None)

    # a field the integration user cannot see (created by an admin, no field-level security) and one of the wrong type
    bare_emu.state.add_field("Account", _hidden_text("Woo_Email_Hash__c"))
    bare_emu.add_field("Order", "Woo_Total__c", "string", 20)
    bare_emu.set_custom_field_limit(1)  # Product2 has room for one custom field
    out = cli("salesforce", "setup", "--store", sid, "--json")
    report = json.loads(out.stdout)
    assert out.returncode == 1
    reasons = {e["field"]: e["reason"] for e in report["errors"] if e.get("field")}
    assert reasons["Account.Woo_Email_Hash__c"] == "name_collision"
    assert {r for f, r in reasons.items() if f.startswith("Product2.")} == {"field_limit"}
    assert {"field": "Order.Woo_Total__c", "want": "Currency(16, 2)", "have": "type string"} in report["wrong"]
    assert bare_emu.state.schema["Order"].field("Woo_Total__c").type == "string"  # reported, never altered
    assert len(_custom(bare_emu, "Product2")) == 1
    # the hidden field is granted: the next run sees it
    bare_emu.set_custom_field_limit(500)
    third = json.loads(cli("salesforce", "setup", "--store", sid, "--json").stdout)
    assert "Account.Woo_Email_Hash__c" in third["present"] and not third["errors"]
    assert [w["field"] for w in third["wrong"]] == ["Order.Woo_Total__c"]


def _hidden_text(name: str):
    from emulators.salesforce.schema import custom_field

    f = custom_field(name, "string", 64)
    f.fls = True
    return f
