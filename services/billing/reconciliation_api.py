"""Reconciliation routes (/api/v2/reconciliation, NorPay envelope): imports of processor
settlement files and bank statements matched against the ledger, their exceptions and
resolutions, and the sandbox rails' own files (formats: reconciliation_formats.py;
matching: reconciliation.py).

Who: a MERCHANT (user or API key) its own; ADMIN its company's merchants and SUPER any,
naming the merchant with `merchantId` (query, or a form field of the upload). Another
tenant's or mode's import is a 404.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import asyncpg
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer
from pydantic.alias_generators import to_camel

from services.billing import reconciliation as recon
from services.billing import reconciliation_formats as formats
from services.billing import reconciliation_imports as imports
from services.billing import reconciliation_store as store
from services.billing import sandbox_files
from services.billing.context import CLIENT, now
from services.billing.ledger_api import tenant
from shared.authz import require
from shared.http.app import POOL
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, read_json
from shared.http.pagination import page_of, query_choice
from shared.http.routes import Routes, get, post
from shared.internal_answers import MerchantAccount, handler_answer
from shared.principal import Principal

# The largest file an import takes. A bigger upload is a 413 before it is read (by its
# Content-Length) or as soon as it passes the limit (a chunked one).
MAX_FILE_BYTES = 32 * 1024 * 1024
_MULTIPART_SLACK = 64 * 1024  # boundaries, part headers and the small form fields
_MAX_FIELD_BYTES = 1024
_CHUNK = 256 * 1024
_FIELDS = ("source", "format", "rail", "merchantId")
# What each source's files may be, and the rail a bank statement is of by default: the
# one bank accounts are paid over.
_FORMATS_OF = {"processor": ("sandbox", "csv"), "bank": ("camt053", "csv")}
BANK_RAIL = "ZIMSWITCH"
IMPORT_GATE = web.AppKey("reconciliation_import_gate", asyncio.Semaphore)
UPLOAD_GATE = web.AppKey("reconciliation_upload_gate", asyncio.Semaphore)
MATCHER = web.AppKey("reconciliation_matcher", ProcessPoolExecutor)
UPLOADS_AT_ONCE = 3  # files held in memory by one process at most, while they arrive
UPLOAD_SECONDS = 120  # the whole file must have arrived by then


# Schemas -------------------------------------------------------------------------------

class ImportForm(BaseModel):
    """The upload's form fields (besides `file`)."""
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    source: recon.Source
    format: formats.Format
    rail: formats.Rail | None = None
    merchant_id: str | None = Field(default=None, alias="merchantId",
                                    pattern=r"^[1-9][0-9]{0,17}$")


class ResolveException(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    note: str = Field(min_length=1, max_length=1000)


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class Summary(_Out):
    matched: int
    missing_from_ledger: int
    missing_from_file: int
    amount_mismatch: int
    date_mismatch: int
    exceptions: int
    resolved: int
    unresolved: int


class FileTotal(_Out):
    currency: str
    credits: str  # minor units
    debits: str


class ImportOut(_Out):
    import_id: str
    merchant_id: int
    livemode: bool
    source: str
    format: str
    rail: str | None
    filename: str | None
    sha256: str
    line_count: int
    period_start: str  # YYYY-MM-DD
    period_end: str
    summary: Summary
    totals: list[FileTotal]
    created_by: str
    created_at: str  # Unix seconds


class Resolution(_Out):
    note: str
    resolved_by: str
    resolved_at: str


class ExceptionOut(_Out):
    exception_id: str
    kind: str
    line: int | None
    references: list[str]
    currency: str
    file_amount: str | None  # signed minor units, as the file shows it (credit +)
    ledger_amount: str | None
    file_date: str | None
    ledger_date: str | None
    movement_id: str | None
    movement_type: str | None
    description: str
    resolution: Resolution | None


class ImportPagination(BaseModel):
    """The seed's {page, per_page, total}, and `totalIsEstimate` only when the total is
    the planner's estimate (shared.db.bounded_total), as Page.envelope answers."""

    page: int
    per_page: int
    total: int
    total_is_estimate: bool = Field(default=False, alias="totalIsEstimate")

    @model_serializer(mode="wrap")
    def _estimate_only_when_so(self, handler: SerializerFunctionWrapHandler) -> object:
        out = handler(self)
        if not self.total_is_estimate and isinstance(out, dict):
            out.pop("totalIsEstimate", None)
            out.pop("total_is_estimate", None)
        return out


class ImportDetail(ImportOut):
    exceptions: list[ExceptionOut]
    pagination: ImportPagination


class ImportList(_Out):
    imports: list[ImportOut]
    pagination: ImportPagination


def _epoch(value: datetime) -> str:
    return str(int(value.timestamp()))


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _units(value: int | None) -> str | None:
    return str(value) if value is not None else None


def render_import(r: store.ImportRecord) -> ImportOut:
    c = r.counts
    return ImportOut(
        import_id=r.import_id, merchant_id=r.merchant_id, livemode=r.livemode,
        source=r.source, format=r.format, rail=r.rail, filename=r.filename, sha256=r.sha256,
        line_count=r.line_count, period_start=r.period_start.isoformat(),
        period_end=r.period_end.isoformat(),
        summary=Summary(matched=c["matched"], missing_from_ledger=c["missing_from_ledger"],
                        missing_from_file=c["missing_from_file"],
                        amount_mismatch=c["amount_mismatch"],
                        date_mismatch=c["date_mismatch"], exceptions=r.exceptions,
                        resolved=r.resolved, unresolved=r.exceptions - r.resolved),
        totals=[FileTotal(currency=cur, credits=t["credits"], debits=t["debits"])
                for cur, t in sorted(r.totals.items())],
        created_by=r.created_by, created_at=_epoch(r.created_at))


def render_exception(e: store.ExceptionRecord) -> ExceptionOut:
    resolution = None
    if e.resolved_at is not None:
        resolution = Resolution(note=e.resolution_note or "", resolved_by=e.resolved_by or "",
                                resolved_at=_epoch(e.resolved_at))
    return ExceptionOut(
        exception_id=e.exception_id, kind=e.kind, line=e.line_number,
        references=list(e.references), currency=e.currency,
        file_amount=_units(e.file_amount), ledger_amount=_units(e.ledger_amount),
        file_date=_day(e.file_date), ledger_date=_day(e.ledger_date),
        movement_id=e.movement_id, movement_type=e.movement_type, description=e.description,
        resolution=resolution)


def _dump(model: BaseModel) -> dict:
    return model.model_dump(by_alias=True)


# The import use case -------------------------------------------------------------------

# Helpers -------------------------------------------------------------------------------

def _invalid(field: str, detail: str) -> ApiError:
    return ApiError(Errors.VALIDATION, field=field, detail=f"{field}: {detail}")


async def _field(part: BodyPartReader) -> str:
    raw = bytearray()
    while chunk := await part.read_chunk(_MAX_FIELD_BYTES):
        raw += chunk
        if len(raw) > _MAX_FIELD_BYTES:
            raise _invalid(part.name or "field", f"at most {_MAX_FIELD_BYTES} bytes")
    try:
        return raw.decode().strip()
    except UnicodeDecodeError:
        raise _invalid(part.name or "field", "not UTF-8 text") from None


def _filename(part: BodyPartReader) -> str | None:
    name = "".join(ch for ch in (part.filename or "") if ch.isprintable()).strip()
    return name[:255] or None


@dataclass(frozen=True)
class Upload:
    """An uploaded file, spooled to a temporary file as it arrives (never held in the
    service's memory), with its SHA-256, its name and the other form fields."""
    path: Path
    sha256: str
    filename: str | None
    fields: dict[str, str]


async def read_upload(request: web.Request, spool: Path) -> Upload:
    """The uploaded file, written to `spool` (at most MAX_FILE_BYTES, else a 413 without
    reading the rest), and the other form fields."""
    if request.content_type != "multipart/form-data":
        raise _invalid("file", "send multipart/form-data with the file in a part named file")
    if request.content_length is not None and \
            request.content_length > MAX_FILE_BYTES + _MULTIPART_SLACK:
        raise ApiError(Errors.BODY_TOO_LARGE, limit=MAX_FILE_BYTES)
    digest: str | None = None
    filename: str | None = None
    fields: dict[str, str] = {}
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise _invalid("file", "nested multipart bodies are not taken")
            if part.name == "file":
                if digest is not None:
                    raise _invalid("file", "one file per import")
                sha, size = hashlib.sha256(), 0
                with spool.open("wb") as out:
                    while chunk := await part.read_chunk(_CHUNK):
                        size += len(chunk)
                        if size > MAX_FILE_BYTES:
                            raise ApiError(Errors.BODY_TOO_LARGE, limit=MAX_FILE_BYTES)
                        sha.update(chunk)
                        out.write(chunk)
                digest, filename = sha.hexdigest(), _filename(part)
            elif part.name in _FIELDS:
                if part.name in fields:
                    raise _invalid(part.name, "given twice")
                fields[part.name] = await _field(part)
            else:
                name = (part.name or "")[:50]
                raise ApiError(Errors.VALIDATION, field=name or None,
                               detail=f"{name or 'a part without a name'}: unknown field; "
                               f"expected file, {', '.join(_FIELDS)}")
    except (ValueError, AssertionError, HttpProcessingError) as exc:  # a broken body
        why = exc.message if isinstance(exc, HttpProcessingError) else str(exc)
        raise _invalid("file", f"malformed multipart body: {why.strip()[:200]}") from None
    if digest is None:
        raise _invalid("file", "is required (a part named file)")
    return Upload(spool, digest, filename, fields)


async def _merchant_to_write(request: web.Request, who: Principal,
                             named: str | None) -> tuple[int, int]:
    """(company, merchant) an import is made for: a MERCHANT's own; the merchant an ADMIN
    (of its company) or SUPER names."""
    if who.role == "MERCHANT":
        if not who.merchant_id or not who.company_id:
            raise ApiError(Errors.FORBIDDEN)
        return int(who.company_id), int(who.merchant_id)
    raw = named or request.query.get("merchantId")
    if not raw:
        raise _invalid("merchantId", "choose the merchant the file is for")
    if not (raw.isascii() and raw.isdigit() and 0 < len(raw) <= 18):
        raise _invalid("merchantId", "must be an id")
    body = await request.app[CLIENT].get_json("auth", f"/internal/merchants/{int(raw)}")
    found = None if not body else handler_answer(MerchantAccount, body, "auth")
    if not found or (who.role == "ADMIN" and str(found.company_id) != who.company_id):
        raise ApiError(Errors.NOT_FOUND, resource="Merchant")
    return found.company_id, int(raw)


def _rail_of(form: ImportForm) -> str:
    if form.format not in _FORMATS_OF[form.source]:
        raise _invalid("format", f"a {form.source} file is one of "
                       f"{', '.join(_FORMATS_OF[form.source])}")
    if form.source == "processor":
        if form.rail is None:
            raise _invalid("rail", "the rail whose settlement file this is, one of "
                           f"{', '.join(formats.RAILS)}")
        return form.rail
    rail = form.rail or BANK_RAIL
    if rail not in formats.PAYOUT_RAILS:
        raise _invalid("rail", f"payouts go over {', '.join(formats.PAYOUT_RAILS)}")
    return rail


def _who(who: Principal) -> str:
    return f"{who.kind}:{who.subject}"


async def _scoped_import(request: web.Request, conn: asyncpg.Connection,
                         who: Principal) -> store.ImportRecord:
    company, merchant = tenant(request, who)
    found = await store.get_import(conn, request.match_info["importId"], company_id=company,
                                   merchant_id=merchant, livemode=who.livemode)
    if found is None:
        raise ApiError(Errors.NOT_FOUND, resource="Reconciliation import")
    return found


# Handlers ------------------------------------------------------------------------------

async def create_import(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    # A few uploads arriving at a time per process (spooled to disk), each read
    # within a deadline (a client trickling bytes holds nothing for long), then one
    # matched at a time: uploads at once wait their turn instead of exhausting it.
    fd, name = tempfile.mkstemp(prefix="norgate-import-", suffix=".upload")
    os.close(fd)
    try:
        async with request.app[UPLOAD_GATE]:
            try:
                async with asyncio.timeout(UPLOAD_SECONDS):
                    upload = await read_upload(request, Path(name))
            except TimeoutError:
                raise ApiError(Errors.UPLOAD_TOO_SLOW, seconds=UPLOAD_SECONDS) from None
        async with request.app[IMPORT_GATE]:
            return await _create_import(request, who, upload)
    finally:
        os.unlink(name)


async def _create_import(request: web.Request, who: Principal,
                         upload: Upload) -> web.Response:
    form = ImportForm.model_validate(upload.fields)
    rail = _rail_of(form)
    company_id, merchant_id = await _merchant_to_write(request, who, form.merchant_id)
    record, created = await imports.import_file(
        request.app[POOL], request.app[MATCHER],
        dsn=request.app[SETTINGS].dsn_of("billing"), company_id=company_id,
        merchant_id=merchant_id,
        livemode=who.livemode, source=form.source, fmt=form.format, rail=rail,
        path=str(upload.path), sha256=upload.sha256, filename=upload.filename,
        created_by=_who(who), at=now(request.app))
    return ok(Family.NORPAY, _dump(render_import(record)), status=201 if created else 200,
              message=None if created else "This file was imported before")


async def list_imports(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    company, merchant = tenant(request, who)
    page = page_of(request)
    async with request.app[POOL].acquire() as conn:
        rows, total, estimated = await store.list_imports(
            conn, company_id=company, merchant_id=merchant, livemode=who.livemode,
            source=query_choice(request, "source", recon.SOURCES), limit=page.per_page,
            offset=page.offset)
    return ok(Family.NORPAY, _dump(ImportList(
        imports=[render_import(r) for r in rows],
        pagination=ImportPagination(page=page.page, per_page=page.per_page, total=total,
                              totalIsEstimate=estimated))))


def _resolved_filter(request: web.Request) -> bool | None:
    value = query_choice(request, "resolved", ("true", "false"))
    return None if value is None else value == "true"


async def get_import(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    page = page_of(request, default_per_page=50)
    kind = query_choice(request, "kind", recon.EXCEPTION_KINDS)
    resolved = _resolved_filter(request)
    async with request.app[POOL].acquire() as conn:
        found = await _scoped_import(request, conn, who)
        rows, total, estimated = await store.list_exceptions(
            conn, found.pk, kind=kind, resolved=resolved, limit=page.per_page,
            offset=page.offset)
    detail = ImportDetail(**render_import(found).model_dump(),
                          exceptions=[render_exception(e) for e in rows],
                          pagination=ImportPagination(page=page.page, per_page=page.per_page,
                                                total=total, totalIsEstimate=estimated))
    return ok(Family.NORPAY, _dump(detail))


async def resolve(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    body = await read_json(request, ResolveException)
    async with request.app[POOL].acquire() as conn:
        found = await _scoped_import(request, conn, who)
        exception, now_resolved = await store.resolve_exception(
            conn, found.pk, request.match_info["exceptionId"], note=body.note, by=_who(who),
            at=now(request.app))
    if exception is None:
        raise ApiError(Errors.NOT_FOUND, resource="Reconciliation exception")
    if not now_resolved:
        raise ApiError(Errors.CONFLICT, detail="This exception is already resolved")
    return ok(Family.NORPAY, _dump(render_exception(exception)))


def _date_param(request: web.Request, name: str) -> date:
    raw = request.query.get(name, "")
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return formats.in_range(date.fromisoformat(raw), None, name)
    except formats.FormatError as exc:
        raise _invalid(name, exc.problem) from None
    except ValueError:
        raise _invalid(name, "a day, YYYY-MM-DD") from None


async def sandbox_file(request: web.Request) -> web.StreamResponse:
    """A sandbox rail's settlement file of a day (text/csv), or with
    `kind=bank_statement` the sandbox bank's camt.053 of that day's payouts."""
    who = require(request, allow_keys=True)
    if who.livemode:
        raise _invalid("mode", "sandbox files are test-mode data; ask in test mode")
    company, merchant = tenant(request, who)
    if merchant is None:
        raise _invalid("merchantId", "choose the merchant whose file this is")
    kind = query_choice(request, "kind", ("settlement", "bank_statement")) or "settlement"
    day = _date_param(request, "date")
    rail = request.query.get("rail") or (BANK_RAIL if kind == "bank_statement" else "")
    rails = formats.RAILS if kind == "settlement" else formats.PAYOUT_RAILS
    if rail not in rails:
        raise _invalid("rail", f"one of {', '.join(rails)}")
    async with request.app[POOL].acquire() as conn:
        if kind == "settlement":
            answer = web.StreamResponse(headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="settlement-{rail}-{day}-'
                                       f'{merchant}.csv"'})
            await answer.prepare(request)
            async for chunk in sandbox_files.settlement_file(
                    conn, company_id=company, merchant_id=merchant, rail=rail, day=day):
                await answer.write(chunk)
            await answer.write_eof()
            return answer
        xml = await sandbox_files.bank_statement(conn, company_id=company,
                                                 merchant_id=merchant, rail=rail, day=day)
    return web.Response(body=xml, content_type="application/xml", headers={
        "Content-Disposition": f'attachment; filename="statement-{day}-{merchant}.xml"'})


def _setup(app: web.Application) -> None:
    app[IMPORT_GATE] = asyncio.Semaphore(1)
    app[UPLOAD_GATE] = asyncio.Semaphore(UPLOADS_AT_ONCE)
    app[MATCHER] = imports.matcher()

    async def stop_matcher(app: web.Application) -> None:
        app[MATCHER].shutdown(wait=True, cancel_futures=True)
    app.on_cleanup.append(stop_matcher)


_FILES = {"responses": {"200": {"description": "The file", "content": {
    "text/csv": {"schema": {"type": "string"}},
    "application/xml": {"schema": {"type": "string"}}}}}}
_UPLOAD = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file", "source", "format"],
    "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": f"at most {MAX_FILE_BYTES} bytes"},
        "source": {"type": "string", "enum": list(recon.SOURCES)},
        "format": {"type": "string", "enum": list(formats.FORMATS)},
        "rail": {"type": "string", "enum": list(formats.RAILS),
                 "description": "the processor file's rail; a bank statement's payouts' "
                                f"rail (default {BANK_RAIL})"},
        "merchantId": {"type": "string", "description": "ADMIN and SUPER"}}}}}}}

ROUTES = Routes(
    post("/api/v2/reconciliation/imports", create_import,
         "Import a settlement file (processor: sandbox, csv) or bank statement "
         "(bank: camt053, csv) and match it to the ledger; the same file again answers "
         "its first import (200)", ("reconciliation",), response=ImportOut, status=201,
         extra=_UPLOAD),
    get("/api/v2/reconciliation/imports", list_imports,
        "Reconciliation imports (source, page, per_page)", ("reconciliation",),
        response=ImportList),
    get("/api/v2/reconciliation/imports/{importId}", get_import,
        "An import's summary and exceptions (kind, resolved, page, per_page)",
        ("reconciliation",), response=ImportDetail),
    post("/api/v2/reconciliation/imports/{importId}/exceptions/{exceptionId}/resolve",
         resolve, "Resolve an exception with a note (once)", ("reconciliation",),
         request=ResolveException, response=ExceptionOut),
    get("/api/v2/reconciliation/sandbox-files", sandbox_file,
        "Test mode: a sandbox rail's settlement file (rail, date=YYYY-MM-DD) or, with "
        "kind=bank_statement, the sandbox bank's camt.053 of the day",
        ("reconciliation",), extra=_FILES),
    setup=_setup,
)
