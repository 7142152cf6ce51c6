"""MongoDB adapter: one DBA-owned collection per template, filters only of explicit `$eq`.

A template's records live in its `collection` (default: the template name), which the DBA creates
with its `$jsonSchema` validator and unique indexes; BEDS never creates one. A document holds the
template's internal column names (e.g. `cst_name`) and `_id` = the BEDS guid. The views and
procedures a template names in `objects` are MariaDB's; here an op only has to have an entry.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from bson.errors import BSONError
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
    WriteError,
)

from beds_actors.adapters.base import Adapter
from beds_actors.config import DbEndpoint, StoreConfig
from beds_actors.core.errors import BedsError, ErrorCode
from beds_actors.core.namaste import Record
from beds_actors.registry import DbObject, Template
from beds_actors.registry.models import GUID

log = logging.getLogger("beds.adapter.mongodb")

Document = dict[str, Any]
ID = "_id"  # the document key holding a record's guid
_IN_CHUNK = 500  # keys per multi-key read
_DUPLICATE_KEY = frozenset({11000, 11001, 12582})  # the server codes of a duplicate key
_VALIDATION = 121  # DocumentValidationFailure: the collection's $jsonSchema refused the document
_AUTH_FAILED = 18
_UNAUTHORIZED = 13
_INDEX_NAME = re.compile(r"index: (\S+) dup key")


# --- documents, filters and records (pure) ---------------------------------------------


def key_of(tpl: Template, field: str) -> str:
    """The document key of a template field: `_id` for the guid, else its internal column."""
    fld = tpl.fields.get(field)
    if fld is None:  # validation stops this earlier; a key must never come from anywhere else
        raise BedsError(
            ErrorCode.VALIDATION_FAILED, f"template {tpl.name!r}: unknown field {field[:64]!r}"
        )
    return ID if field == GUID else fld.column


def utc(text: str) -> datetime:
    """An ISO-8601 text as an aware UTC datetime cut to milliseconds (what a BSON date holds)."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BedsError(
            ErrorCode.VALIDATION_FAILED, f"{text[:64]!r} is not an ISO-8601 date-time"
        ) from None
    # A naive value is UTC by contract (docs/protocol.md §11), as on MariaDB.
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)


def to_bson(tpl: Template, field: str, value: Any) -> Any:
    """A validated external value as stored: datetimes as UTC dates, float fields as doubles.

    Anything else, a mapping included, is passed on unchanged: it is data wherever it is put.
    """
    kind = tpl.fields[field].type
    if kind == "datetime" and isinstance(value, str):
        return utc(value)
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # a $jsonSchema `bsonType: "double"` refuses an int
    return value


def query_filter(tpl: Template, query: Mapping[str, Any]) -> Document:
    """Equality on every query field: `{key: {"$eq": value}}`, so no value is ever an operator."""
    return {key_of(tpl, f): {"$eq": to_bson(tpl, f, v)} for f, v in query.items()}


def guid_filter(guid: str) -> Document:
    """The filter addressing one record by its guid."""
    return {ID: {"$eq": guid}}


def projection(tpl: Template) -> Document:
    """The template's keys only: what else a document holds never leaves the database layer."""
    return {ID: 1, **{f.column: 1 for name, f in tpl.fields.items() if name != GUID}}


def document(tpl: Template, values: Mapping[str, Any]) -> Document:
    """The document a create inserts; absent or null values are left out (read back as null)."""
    if not isinstance(values.get(GUID), str):
        raise BedsError(
            ErrorCode.INTERNAL_ERROR,
            f"template {tpl.name!r}: a create reached the adapter without its BEDS-assigned guid",
        )
    return {key_of(tpl, f): to_bson(tpl, f, v) for f, v in values.items() if v is not None}


def changes(tpl: Template, values: Mapping[str, Any]) -> Document:
    """The `$set` of an update: non-null values only (null keeps a value, as on MariaDB)."""
    return {
        key_of(tpl, f): to_bson(tpl, f, v)
        for f, v in values.items()
        if v is not None and f != GUID  # the guid is the _id: immutable
    }


def record(tpl: Template, doc: Mapping[str, Any]) -> Record:
    """Map document keys to external field names, every field present (absent keys are null)."""
    return {
        name: _external(fld.type, doc.get(ID if name == GUID else fld.column))
        for name, fld in tpl.fields.items()
    }


def _external(kind: str, value: Any) -> Any:
    """A stored value as the MariaDB adapter returns it: date-times as naive UTC ISO-8601."""
    if value is None:
        return None
    if kind == "bool":
        return bool(value)
    if kind == "int" and isinstance(value, int):
        return int(value)  # bson's Int64 is an int subclass; return the plain type
    if kind == "float" and isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat()
    return value


# --- errors (pure) -----------------------------------------------------------------------


def translate(
    exc: PyMongoError | BSONError, *, store: str, where: str, tpl: Template | None = None
) -> BedsError:
    """Turn a driver error into a contract error code with a message the caller can act on."""
    if isinstance(exc, ConnectionFailure) or (isinstance(exc, OperationFailure) and exc.timeout):
        return BedsError(
            ErrorCode.BACKEND_UNAVAILABLE,
            f"store {store!r}: MongoDB at {where} unavailable: {_reason(exc)}",
        )
    if isinstance(exc, BulkWriteError) and exc.details.get("writeErrors"):
        return write_error(exc.details["writeErrors"][0], store=store, where=where, tpl=tpl)
    if isinstance(exc, WriteError):
        details = {"code": exc.code, "errmsg": str(exc), **(exc.details or {})}
        return write_error(details, store=store, where=where, tpl=tpl)
    if isinstance(exc, OperationFailure) and exc.code == _AUTH_FAILED:
        return BedsError(
            ErrorCode.INTERNAL_ERROR,
            f"store {store!r}: MongoDB at {where} refused the login — check the user and "
            f"password of stores.{store} (MongoDB users authenticate against `admin`)",
        )
    if isinstance(exc, OperationFailure) and exc.code == _UNAUTHORIZED:
        return BedsError(
            ErrorCode.INTERNAL_ERROR,
            f"store {store!r}: MongoDB at {where} denied the operation: {_reason(exc)} — grant "
            "the store's user readWrite on its database",
        )
    return _unexpected(exc, store=store, where=where)


def write_error(
    details: Mapping[str, Any], *, store: str, where: str, tpl: Template | None
) -> BedsError:
    """A refused write (one `writeErrors` entry, or a WriteError's details) as a contract error."""
    code = details.get("code")
    text = str(details.get("errmsg", ""))
    if code in _DUPLICATE_KEY:
        index = _INDEX_NAME.search(text)
        values = ", ".join(
            f"{_field_name(tpl, key)} = {value!r}"
            for key, value in (details.get("keyValue") or {}).items()
        )
        return BedsError(
            ErrorCode.CONFLICT,
            f"duplicate value: {values or 'a unique value'} is already used"
            + (f" (unique index {index[1]!r})" if index else ""),
        )
    if code == _VALIDATION:
        fields = sorted({_field_name(tpl, k) for k in _properties(details.get("errInfo"))})
        what = f"template {tpl.name!r}, collection {tpl.collection!r}" if tpl else "a collection"
        return BedsError(
            ErrorCode.VALIDATION_FAILED,
            f"the store refused the values ({what}): the DBA's validator does not accept "
            + (f"field(s) {', '.join(fields)}" if fields else "the document"),
        )
    return _unexpected(OperationFailure(text, code), store=store, where=where)


def _unexpected(exc: PyMongoError | BSONError, *, store: str, where: str) -> BedsError:
    code = getattr(exc, "code", None)
    log.error("MongoDB error %s on store %s at %s: %s", code, store, where, exc)
    return BedsError(
        ErrorCode.INTERNAL_ERROR,
        f"MongoDB error {code if code is not None else type(exc).__name__} on store {store!r} at "
        f"{where}: {_reason(exc)} — check the server log and that the collection, its validator "
        "and its indexes are what the template expects",
    )


def _reason(exc: Exception) -> str:
    """The driver's message without the topology dump server selection appends."""
    return str(exc).split(", Timeout:", 1)[0].split(", full error:", 1)[0][:300]


def _field_name(tpl: Template | None, key: str) -> str:
    """The external name of a document key (internal names stay inside, docs/protocol.md §11)."""
    if tpl is not None:
        if key == ID:
            return GUID
        for name, fld in tpl.fields.items():
            if fld.column == key:
                return name
    return "a field"


def _properties(info: Any) -> Iterator[str]:
    """Document keys a $jsonSchema failure report (`errInfo`) names, at any depth."""
    if isinstance(info, Mapping):
        if isinstance(info.get("propertyName"), str):
            yield info["propertyName"]
        missing = info.get("missingProperties")
        if isinstance(missing, list):
            yield from (m for m in missing if isinstance(m, str))
        for value in info.values():
            yield from _properties(value)
    elif isinstance(info, list):
        for item in info:
            yield from _properties(item)


def client_options(cfg: StoreConfig, ep: DbEndpoint, *, direct: bool) -> dict[str, Any]:
    """AsyncMongoClient keywords for an endpoint; an empty user means no authentication."""
    timeout_ms = int(cfg.connect_timeout_s * 1000)
    options: dict[str, Any] = {
        "host": ep.host,
        "port": ep.port,
        "tz_aware": True,
        "serverSelectionTimeoutMS": timeout_ms,
        "connectTimeoutMS": timeout_ms,
        "maxPoolSize": cfg.pool_size,
        "appname": "beds",
        # A secondary endpoint is read as that very server, not as a door to its replica set.
        "directConnection": direct,
    }
    if ep.user:
        options.update(username=ep.user, password=ep.password)
    return options


# --- the adapter -------------------------------------------------------------------------


class MongoDbAdapter(Adapter):
    """NamasteCore over AsyncMongoClient: master for writes, secondary (if any) for reads."""

    def __init__(self, store_name: str, cfg: StoreConfig) -> None:
        self.store_name = store_name
        self.cfg = cfg
        self._clients: dict[bool, AsyncMongoClient[Document]] = {}  # keyed by "is secondary"
        self._present: set[tuple[bool, str]] = set()  # collections seen to exist, per client

    async def start(self) -> None:
        """Check the servers now if they answer; the clients connect lazily either way."""
        for read in (False, True) if self.cfg.secondary is not None else (False,):
            try:
                await self._ping(read=read)
            except BedsError as exc:
                log.warning(
                    "store %s not reachable at start, will retry on use: %s", self.store_name, exc
                )

    async def stop(self) -> None:
        """Close the clients and their pools."""
        clients = list(self._clients.values())
        self._clients.clear()
        self._present.clear()
        for client in clients:
            await client.close()

    async def ping(self) -> None:
        """Run the `ping` command on the master (no data access)."""
        await self._ping(read=False)

    async def create(self, tpl: Template, values: Mapping[str, Any]) -> Record:
        """Insert one document; the same guid again returns the stored one (idempotent create)."""
        self._object(tpl, "create")
        doc = document(tpl, values)
        with self._errors(read=False, tpl=tpl):
            coll = await self._collection(tpl, read=False)
            try:
                await coll.insert_one(doc)
            except DuplicateKeyError:
                existing = await coll.find_one(guid_filter(doc[ID]), projection(tpl))
                if existing is None:  # the duplicate is on another unique index: a conflict
                    raise
                return record(tpl, existing)
        return record(tpl, doc)

    async def fetch(self, tpl: Template, query: Mapping[str, Any], limit: int) -> list[Record]:
        """Records equal to every query value, at most `limit` of them, in no set order."""
        self._object(tpl, "fetch")
        condition = query_filter(tpl, query)
        with self._errors(read=True, tpl=tpl):
            coll = await self._collection(tpl, read=True)
            if limit <= 0:  # for MongoDB a limit of 0 means "no limit"
                return []
            docs = await coll.find(condition, projection(tpl), limit=limit).to_list()
        return [record(tpl, doc) for doc in docs]

    def can_fetch_by_guids(self, tpl: Template) -> bool:
        """Every template with a fetch entry: a multi-key read is native here."""
        return "fetch" in tpl.objects

    async def fetch_by_guids(self, tpl: Template, guids: Sequence[str]) -> dict[str, Record]:
        """`find({_id: {$in: [...]}})` in chunks; guids are strings, so never operators."""
        self._object(tpl, "fetch")
        unique = list(dict.fromkeys(str(g) for g in guids))
        found: dict[str, Record] = {}
        with self._errors(read=True, tpl=tpl):
            coll = await self._collection(tpl, read=True)
            for start in range(0, len(unique), _IN_CHUNK):
                chunk = unique[start : start + _IN_CHUNK]
                async for doc in coll.find({ID: {"$in": chunk}}, projection(tpl)):
                    found[str(doc[ID])] = record(tpl, doc)
        return found

    def can_create_many(self, tpl: Template) -> bool:
        """Every template with a create entry: a bulk insert is native here."""
        return "create" in tpl.objects

    async def purge(self, tpl: Template, older_than_days: float) -> int:
        """Nothing to do: a MongoDB collection expires old documents with its TTL index,
        which the DBA creates with the retention period (docs/lineage.md)."""
        return 0

    async def create_many(
        self, tpl: Template, rows: Sequence[Mapping[str, Any]]
    ) -> dict[str, Record]:
        """One unordered `insert_many`; rows whose guid exists already return the stored record.

        If any other row is refused, this raises its error; run_batch then creates the rows one
        by one, so each refused row fails alone and the inserted ones return their records.
        """
        self._object(tpl, "create")
        docs = [document(tpl, row) for row in rows]
        with self._errors(read=False, tpl=tpl):
            coll = await self._collection(tpl, read=False)
            refused: dict[int, Mapping[str, Any]] = {}
            try:
                await coll.insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                if exc.details.get("writeConcernErrors"):
                    raise
                refused = {int(e["index"]): e for e in exc.details.get("writeErrors", [])}
            made = {str(d[ID]): record(tpl, d) for i, d in enumerate(docs) if i not in refused}
            if refused:
                ids = list(dict.fromkeys(str(docs[i][ID]) for i in refused))
                async for doc in coll.find({ID: {"$in": ids}}, projection(tpl)):
                    made[str(doc[ID])] = record(tpl, doc)
        for i, error in refused.items():
            if str(docs[i][ID]) not in made:
                raise write_error(error, store=self.store_name, where=self._where(False), tpl=tpl)
        return made

    async def update(self, tpl: Template, guid: str, values: Mapping[str, Any]) -> Record:
        """Set the given non-null fields; the record after the change, or not_found."""
        self._object(tpl, "update")
        setting = changes(tpl, values)
        with self._errors(read=False, tpl=tpl):
            coll = await self._collection(tpl, read=False)
            if setting:
                doc = await coll.find_one_and_update(
                    guid_filter(guid),
                    {"$set": setting},
                    projection=projection(tpl),
                    return_document=ReturnDocument.AFTER,
                )
            else:  # nothing to change ($set refuses an empty document): the record as it is
                doc = await coll.find_one(guid_filter(guid), projection(tpl))
        if doc is None:
            raise BedsError(ErrorCode.NOT_FOUND, f"{tpl.name} {guid!r} not found")
        return record(tpl, doc)

    async def delete(self, tpl: Template, guid: str) -> Record:
        """Remove one document; not_found when there is none."""
        self._object(tpl, "delete")
        with self._errors(read=False, tpl=tpl):
            coll = await self._collection(tpl, read=False)
            result = await coll.delete_one(guid_filter(guid))
        if result.deleted_count == 0:
            raise BedsError(ErrorCode.NOT_FOUND, f"{tpl.name} {guid!r} not found")
        return {"guid": guid, "deleted": True}

    # --- helpers -----------------------------------------------------------------------

    def _object(self, tpl: Template, op: str) -> DbObject:
        """The op's `objects` entry: without one the op is refused, exactly as on MariaDB."""
        obj = tpl.objects.get(op)  # type: ignore[call-overload]
        if obj is None:
            raise BedsError(ErrorCode.UNKNOWN_OP, f"template {tpl.name!r} does not support {op!r}")
        return obj

    async def _ping(self, *, read: bool) -> None:
        with self._errors(read=read):
            await self._client(read=read).admin.command("ping")

    def _endpoint(self, read: bool) -> DbEndpoint:
        return self.cfg.secondary if read and self.cfg.secondary else self.cfg.master

    def _where(self, read: bool) -> str:
        return self._endpoint(read).where

    def _client(self, *, read: bool) -> AsyncMongoClient[Document]:
        """The endpoint's client, made on first use (making one does not connect)."""
        secondary = read and self.cfg.secondary is not None
        client = self._clients.get(secondary)
        if client is None:
            ep = self._endpoint(read)
            client = AsyncMongoClient(**client_options(self.cfg, ep, direct=secondary))
            self._clients[secondary] = client
        return client

    async def _collection(self, tpl: Template, *, read: bool) -> AsyncCollection[Document]:
        """The template's collection; refused if the DBA has not created it.

        MongoDB would create a missing collection on the first insert, without the DBA's
        validator and unique indexes, so BEDS looks once per client before using it.
        """
        ep = self._endpoint(read)
        database = self._client(read=read)[ep.database]
        key = (read and self.cfg.secondary is not None, tpl.collection)
        if key not in self._present:
            names = await database.list_collection_names(filter={"name": {"$eq": tpl.collection}})
            if tpl.collection not in names:
                raise BedsError(
                    ErrorCode.INTERNAL_ERROR,
                    f"store {self.store_name!r} at {ep.where}: collection {tpl.collection!r} "
                    f"(template {tpl.name!r}) does not exist — the DBA creates it with its "
                    "validator and unique indexes (README, Templates); BEDS never does",
                )
            self._present.add(key)
        return database[tpl.collection]

    @contextmanager
    def _errors(self, *, read: bool, tpl: Template | None = None) -> Iterator[None]:
        """Driver errors raised inside become BedsErrors naming this store and endpoint."""
        try:
            yield
        except (PyMongoError, BSONError) as exc:
            raise translate(exc, store=self.store_name, where=self._where(read), tpl=tpl) from None
