"""In-memory org: schema, records with external-id indexes and an undo journal, users, sessions, counters."""
from __future__ import annotations

import random
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import orgmodel
from .schema import Field, SObject, base_schema
from .sfids import make_id
from .values import fmt_dt

INTEGRATION_USERNAME = "integration@wooforce.example"
ADMIN_USERNAME = "admin@wooforce.example"
# user permissions the setup calls need (API names of the profile/permission-set flags); every user of the emulated
# org holds them unless a test takes them away (``SalesforceEmulator.set_user_permissions``)
SETUP_PERMISSIONS = frozenset({"CustomizeApplication", "ModifyMetadata", "ManageProfilesPermissionsets",
                               "AssignPermissionSets"})
FLS_OBJECTS = frozenset({"PermissionSet", "FieldPermissions", "PermissionSetAssignment"})
CUSTOM_FIELD_LIMIT = 500  # custom fields per object (Enterprise Edition); /_emulator/config custom_field_limit

_UNINDEXED_REFS = {"OwnerId", "CreatedById", "LastModifiedById"}
_OPS = {
    "eq": lambda v, x: v == x, "ne": lambda v, x: v != x,
    "gt": lambda v, x: v is not None and v > x, "lt": lambda v, x: v is not None and v < x,
    "gte": lambda v, x: v is not None and v >= x, "lte": lambda v, x: v is not None and v <= x,
    "empty": lambda v, x: v in (None, ""), "not_empty": lambda v, x: v not in (None, ""),
    "contains": lambda v, x: isinstance(v, str) and str(x).lower() in v.lower(),
    "in": lambda v, x: v in x, "not_in": lambda v, x: v not in x,
}


@dataclass
class ValidationRule:
    """Fires (record rejected) when ``predicate(record)`` is true, or when the simple ``condition``
    ``{"field": F, "op": eq|ne|gt|lt|gte|lte|empty|not_empty|contains|in|not_in, "value": V}`` holds."""
    name: str
    sobject: str
    message: str
    predicate: Callable[[dict], bool] | None = None
    condition: dict | None = None
    error_field: str | None = None
    active: bool = True

    def fires(self, record: dict) -> bool:
        if not self.active:
            return False
        if self.predicate is not None:
            return bool(self.predicate(record))
        cond = self.condition or {}
        value = next((v for k, v in record.items() if k.lower() == str(cond.get("field", "")).lower()), None)
        return bool(_OPS[cond.get("op", "eq")](value, cond.get("value")))

    def describe(self) -> dict:
        return {"name": self.name, "sobject": self.sobject, "message": self.message, "condition": self.condition,
                "errorField": self.error_field, "active": self.active, "python": self.predicate is not None}


@dataclass
class Session:
    user_id: str
    expires_at: datetime
    client_id: str


@dataclass
class JwtApp:
    consumer_key: str
    public_key: Any  # cryptography public key
    usernames: set[str] = field(default_factory=set)


@dataclass
class CcClient:
    client_id: str
    secret: str
    username: str | None


class OrgState:
    def __init__(self, *, daily_api_max: int = 100_000, clock: Callable[[], datetime] | None = None,
                 seed: int | None = None, session_ttl_s: float = 7200.0, custom_fields: bool = True):
        self.clock = clock or (lambda: datetime.now(UTC))
        self.custom_fields = custom_fields  # False: reset() seeds an org without Wooforce's custom fields
        self.custom_field_limit = CUSTOM_FIELD_LIMIT
        self.acting_user: str | None = None  # the API caller of the request being served (None: control API)
        self.rng = random.Random(seed)
        self.daily_api_max = daily_api_max
        self.session_ttl_s = session_ttl_s
        self.org_id = make_id("00D", 4242)
        self.sessions: dict[str, Session] = {}
        self.jwt_apps: dict[str, JwtApp] = {}
        self.cc_clients: dict[str, CcClient] = {}
        self.signing_secret = secrets.token_bytes(32)
        self.bulk_scheduler: Callable[[Any], None] | None = None  # set by the app: schedules bulk processing
        self.jwt_audiences: set[str] = {"https://login.salesforce.com", "https://test.salesforce.com"}
        # org features (Setup switches an admin turns on): Person Accounts; multi-currency with these ISO codes, the
        # corporate currency first (None: a single-currency org). reset() keeps them (orgmodel.py)
        self.person_accounts = False
        self.currencies: tuple[str, ...] | None = None
        self.reset()

    # ---- lifecycle -------------------------------------------------------------------------------
    def reset(self) -> None:
        """Fresh data: base schema, seed users + standard price book, zero counters. Keeps app registrations
        and sessions."""
        self.schema: dict[str, SObject] = base_schema(self.custom_fields)
        self.user_permissions: dict[str, frozenset[str]] = {}  # user id -> permissions (absent: SETUP_PERMISSIONS)
        self.tooling_ids: dict[tuple[str, str], str] = {}  # (sobject, field) -> the CustomField's Tooling id
        self._fls_version = 0
        self._fls_cache: dict[str, tuple[int, dict[str, bool]]] = {}
        orgmodel.apply_features(self.schema, self.person_accounts, self.currencies)
        self.records: dict[str, dict[str, dict]] = {name: {} for name in self.schema}
        self.index: dict[tuple[str, str], dict[str, set[str]]] = {}
        self._index_cache: dict[str, list[str]] = {}
        self.journal: list[tuple[str, str, dict | None]] = []
        self.counter = 1000
        self.autonumbers: Counter = Counter()
        self.rules: list[ValidationRule] = []
        self.api_usage = 0
        self.stats: Counter = Counter()
        self.query_cursors: dict[str, tuple[list[dict], int]] = {}
        self.bulk_jobs: dict[str, Any] = {}
        self.deleted_log: list[tuple[str, str, datetime, int]] = []  # (sobject, Id, when, journal position)
        self._last_now = datetime(1970, 1, 1, tzinfo=UTC)
        for (obj, fname) in self._indexed_fields():
            self.index[(obj, fname)] = {}
        now = fmt_dt(self.now())
        self.integration_user_id = make_id("005", 1)
        self.admin_user_id = make_id("005", 2)
        for uid, username, first, last in ((self.integration_user_id, INTEGRATION_USERNAME, "Wooforce", "Integration"),
                                           (self.admin_user_id, ADMIN_USERNAME, "Alex", "Admin")):
            self.put("User", {"Id": uid, "Username": username, "FirstName": first, "LastName": last,
                              "Name": f"{first} {last}", "Email": username, "Alias": last[:8].lower(),
                              "IsActive": True, "UserType": "Standard", **self.system_fields(now, uid)})
        self.standard_pricebook_id = make_id("01s", 3)
        self.put("Pricebook2", {"Id": self.standard_pricebook_id, "Name": "Standard Price Book", "IsActive": True,
                                "IsStandard": True, "IsArchived": False, "Description": None,
                                **self.system_fields(now, self.admin_user_id)})
        orgmodel.seed(self, now)
        self.journal.clear()

    def system_fields(self, now: str, user_id: str) -> dict:
        return {"IsDeleted": False, "CreatedDate": now, "CreatedById": user_id, "LastModifiedDate": now,
                "LastModifiedById": user_id, "SystemModstamp": now}

    def now(self) -> datetime:
        """Non-decreasing clock (SystemModstamp never goes backwards)."""
        t = self.clock()
        if t < self._last_now:
            t = self._last_now
        self._last_now = t
        return t

    def new_id(self, sobject: str) -> str:
        self.counter += 1
        return make_id(self.schema[sobject].key_prefix, self.counter)

    def next_autonumber(self, sobject: str, width: int) -> str:
        self.autonumbers[sobject] += 1
        return str(self.autonumbers[sobject] + (99 if sobject == "Order" else 0)).zfill(width)

    # ---- schema ----------------------------------------------------------------------------------
    def sobject(self, name: str) -> SObject | None:
        if name in self.schema:
            return self.schema[name]
        low = name.lower()
        return next((o for n, o in self.schema.items() if n.lower() == low), None)

    def sobject_by_prefix(self, prefix: str) -> SObject | None:
        return next((o for o in self.schema.values() if o.key_prefix == prefix), None)

    def _indexed_fields(self):
        """External-id/idLookup/unique fields, plus parent lookups used for child scans (FK index)."""
        for o in self.schema.values():
            for f in o.fields.values():
                if f.indexed or (f.type == "reference" and f.name not in _UNINDEXED_REFS):
                    yield o.name, f.name

    def add_field(self, sobject: str, f: Field) -> None:
        o = self.schema[sobject]
        if o.field(f.name):
            raise ValueError(f"{sobject}.{f.name} exists")
        o.add(f)
        if f.indexed:
            self.index[(sobject, f.name)] = {}
            self._index_cache.clear()

    def remove_field(self, sobject: str, name: str) -> None:
        o = self.schema[sobject]
        f = o.field(name)
        if f is None or not f.custom:
            raise ValueError(f"{sobject}.{name} is not a custom field")
        del o.fields[f.name.lower()]
        self.index.pop((sobject, f.name), None)
        self._index_cache.clear()
        for rec in self.records[sobject].values():
            rec.pop(f.name, None)

    # ---- permissions and field-level security ---------------------------------------------------------
    def has_permission(self, user_id: str | None, permission: str) -> bool:
        if user_id is None:
            return True
        return permission in self.user_permissions.get(user_id, SETUP_PERMISSIONS)

    def field_access(self, user_id: str) -> dict[str, bool]:
        """``"sobject.field"`` (lower case) -> editable, for the fields a user's permission sets grant."""
        cached = self._fls_cache.get(user_id)
        if cached is not None and cached[0] == self._fls_version:
            return cached[1]
        sets = {a["PermissionSetId"] for a in self.records["PermissionSetAssignment"].values()
                if a["AssigneeId"] == user_id}
        access: dict[str, bool] = {}
        for fp in self.records["FieldPermissions"].values():
            if fp["ParentId"] in sets and fp.get("PermissionsRead"):
                name = str(fp["Field"]).lower()
                access[name] = access.get(name, False) or bool(fp.get("PermissionsEdit"))
        self._fls_cache[user_id] = (self._fls_version, access)
        return access

    def visible(self, sobject: str, f: Field, user_id: str | None = None) -> bool:
        """Whether the field exists for ``user_id`` (default: the request's caller): a Tooling-created field only
        once a permission set assigned to them grants read access."""
        user_id = self.acting_user if user_id is None else user_id
        if not f.fls or user_id is None:
            return True
        return f"{sobject}.{f.name}".lower() in self.field_access(user_id)

    def editable(self, sobject: str, f: Field, user_id: str | None = None) -> bool:
        user_id = self.acting_user if user_id is None else user_id
        if not f.fls or user_id is None:
            return True
        return self.field_access(user_id).get(f"{sobject}.{f.name}".lower(), False)

    # ---- records ---------------------------------------------------------------------------------
    @staticmethod
    def norm(f: Field, value) -> str | None:
        if value is None or value == "":
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and f.type in ("double", "currency",
                                                                                          "int", "percent"):
            return repr(float(value))
        text = str(value)
        return text if f.case_sensitive else text.lower()

    def find_by(self, sobject: str, f: Field, value) -> list[str]:
        if f.name == "Id":
            from .sfids import to18
            rid = to18(str(value))
            return [rid] if rid and rid in self.records[sobject] else []
        key = self.norm(f, value)
        if key is None:
            return []
        idx = self.index.get((sobject, f.name))
        if idx is None:
            return [r["Id"] for r in self.records[sobject].values() if self.norm(f, r.get(f.name)) == key]
        return sorted(idx.get(key, ()))

    def get(self, sobject: str, rid: str) -> dict | None:
        return self.records[sobject].get(rid)

    def _index_update(self, sobject: str, old: dict | None, new: dict | None) -> None:
        o = self.schema[sobject]
        for fname in self._index_fields_of(sobject):
            idx = self.index[(sobject, fname)]
            f = o.field(fname)
            if f is None:
                continue
            rid = (new or old)["Id"]
            if old is not None and (k := self.norm(f, old.get(fname))) is not None:
                idx.get(k, set()).discard(rid)
            if new is not None and (k := self.norm(f, new.get(fname))) is not None:
                idx.setdefault(k, set()).add(rid)

    def _index_fields_of(self, sobject: str) -> list[str]:
        cached = self._index_cache.get(sobject)
        if cached is None:
            cached = self._index_cache[sobject] = [f for (o, f) in self.index if o == sobject]
        return cached

    def children(self, sobject: str, fk: str, parent_id: str) -> list[dict]:
        """Records of ``sobject`` whose lookup ``fk`` points at ``parent_id`` (FK index)."""
        return [self.records[sobject][i] for i in self.find_by(sobject, self.schema[sobject].field(fk), parent_id)]

    def put(self, sobject: str, record: dict) -> None:
        old = self.records[sobject].get(record["Id"])
        if sobject in FLS_OBJECTS:
            self._fls_version += 1
        self.journal.append((sobject, record["Id"], old))
        self._index_update(sobject, old, record)
        self.records[sobject][record["Id"]] = record

    def remove(self, sobject: str, rid: str) -> None:
        old = self.records[sobject].pop(rid, None)
        if old is not None:
            self._fls_version += sobject in FLS_OBJECTS
            self.journal.append((sobject, rid, old))
            self._index_update(sobject, old, None)

    def note_deleted(self, sobject: str, rid: str) -> None:
        """A record deleted through the API (for getDeleted); a rollback of its transaction forgets it."""
        self.deleted_log.append((sobject, rid, self.now(), len(self.journal)))

    def deleted_between(self, sobject: str, start: datetime, end: datetime) -> list[tuple[str, datetime]]:
        return [(rid, t) for o, rid, t, _ in self.deleted_log if o == sobject and start <= t <= end]

    def savepoint(self) -> int:
        return len(self.journal)

    def rollback(self, sp: int) -> None:
        self._fls_version += 1
        self.deleted_log = [d for d in self.deleted_log if d[3] < sp]
        while len(self.journal) > sp:
            sobject, rid, old = self.journal.pop()
            current = self.records[sobject].get(rid)
            self._index_update(sobject, current, None) if current else None
            if old is None:
                self.records[sobject].pop(rid, None)
            else:
                self.records[sobject][rid] = old
                self._index_update(sobject, None, old)

    def commit(self) -> None:
        self.journal.clear()

    # ---- users & sessions ------------------------------------------------------------------------
    def user_by_username(self, username: str) -> dict | None:
        ids = self.find_by("User", self.schema["User"].field("Username"), username)
        return self.get("User", ids[0]) if ids else None

    def ensure_user(self, username: str) -> dict:
        user = self.user_by_username(username)
        if user is None:
            uid = self.new_id("User")
            local = username.split("@")[0]
            user = {"Id": uid, "Username": username, "FirstName": None, "LastName": local, "Name": local,
                    "Email": username, "Alias": local[:8], "IsActive": True, "UserType": "Standard",
                    **self.system_fields(fmt_dt(self.now()), self.admin_user_id)}
            self.put("User", user)
            self.commit()
        return user

    def new_session(self, user_id: str, client_id: str) -> str:
        token = f"{self.org_id[:15]}!AR{secrets.token_urlsafe(72)}"
        self.sessions[token] = Session(user_id, self.clock() + timedelta(seconds=self.session_ttl_s), client_id)
        return token

    def session(self, token: str) -> Session | None:
        s = self.sessions.get(token)
        if s is None:
            return None
        if s.expires_at <= self.clock():
            self.sessions.pop(token, None)
            return None
        return s

    def expire_sessions(self) -> None:
        self.sessions.clear()
