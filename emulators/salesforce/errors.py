"""Salesforce error envelopes.

- ``ApiError``: request-level error, HTTP status + JSON array ``[{message, errorCode, fields?}]``.
- ``RecordError``: one DML error of one record; rendered with ``errorCode`` in REST bodies and with
  ``statusCode`` inside sObject Collections results.
- OAuth errors are a JSON object ``{error, error_description}`` (see oauth.py).
"""
from __future__ import annotations

from dataclasses import dataclass

ROLLED_BACK_MSG = "Record rolled back because not all records were valid and the request was using AllOrNone header"
HALTED_MSG = "The transaction was rolled back since another operation in the same transaction failed."
NOT_FOUND_MSG = "The requested resource does not exist"


@dataclass
class RecordError:
    code: str
    message: str
    fields: list[str] | None = None  # None -> key omitted in REST bodies

    def rest(self) -> dict:
        out: dict = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            out["fields"] = list(self.fields)
        return out

    def collection(self) -> dict:
        return {"statusCode": self.code, "message": self.message, "fields": list(self.fields or [])}

    def bulk(self) -> str:
        return f"{self.code}:{self.message}:{','.join(self.fields or [])} --"


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.errors = [RecordError(code, message, fields)]

    @classmethod
    def of(cls, status: int, errors: list[RecordError]) -> ApiError:
        err = cls(status, errors[0].code, errors[0].message, errors[0].fields)
        err.errors = list(errors)
        return err

    def body(self) -> list[dict]:
        return [e.rest() for e in self.errors]


class DmlFailure(Exception):
    """A record failed DML validation; carries one or more RecordErrors."""

    def __init__(self, errors: list[RecordError]):
        super().__init__("; ".join(f"{e.code}: {e.message}" for e in errors))
        self.errors = errors


class MultipleMatches(Exception):
    def __init__(self, ids: list[str]):
        super().__init__(f"{len(ids)} records match")
        self.ids = ids


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", NOT_FOUND_MSG)


def rolled_back() -> RecordError:
    return RecordError("ALL_OR_NONE_OPERATION_ROLLED_BACK", ROLLED_BACK_MSG, [])


DAILY_LIMIT_MSG = "TotalRequests Limit exceeded."  # the rolling 24-hour API allocation is used up
CONCURRENT_LIMIT_MSG = "ConcurrentPerOrgLongTxn Limit exceeded."  # 25 long-running (>= 20 s) requests at once


def limit_exceeded(message: str | None = None) -> ApiError:
    """403 REQUEST_LIMIT_EXCEEDED: the daily limit by default; ``message`` names another (CONCURRENT_LIMIT_MSG)."""
    return ApiError(403, "REQUEST_LIMIT_EXCEEDED", message or DAILY_LIMIT_MSG)


def invalid_session() -> ApiError:
    return ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")


def server_unavailable() -> ApiError:
    return ApiError(503, "SERVER_UNAVAILABLE", "Server Unavailable")


def lock_row() -> RecordError:
    return RecordError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record", [])
