"""Files a customer sends with a new case or a reply: held to the e-mail door's limits and
rules (size, count, accepted types, no executables in disguise), stored by digest in the
same store, and recorded against the case as the e-mail door records a mail's files."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.datastructures import FormData, UploadFile

from db.read_model import AttachmentRecord
from mail.attachments import AttachmentStore
from mail.parse import (
    EXECUTABLE_EXTENSIONS,
    EXECUTABLE_TYPES,
    GENERIC_TYPES,
    _contradicted,
    sanitize_filename,
    sniff,
)
from settings import Settings

FIELD = "attachments"


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


class UploadRefused(Exception):
    """One or more files the e-mail door would not keep either; nothing is kept."""


def store(settings: Settings) -> AttachmentStore:
    return AttachmentStore(settings.var_dir / "attachments")


def _refusal(name: str, declared: str, data: bytes, settings: Settings) -> str | None:
    """Why the e-mail door would not keep this file (mail.parse's rules), or None."""
    limit = settings.mail_max_attachment_bytes
    if len(data) > limit:
        return f'"{name}" is more than the limit of {limit:,} bytes'
    sniffed = sniff(data)
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    if (sniffed in EXECUTABLE_TYPES or extension in EXECUTABLE_EXTENSIONS) and _contradicted(
        declared, sniffed
    ):
        return (
            f'"{name}" is declared as {declared} but its content is {sniffed or "something else"}'
        )
    effective = sniffed if declared in GENERIC_TYPES and sniffed else declared
    if effective not in {t.lower() for t in settings.mail_allowed_types}:
        return f'"{name}": the type {effective} is not accepted'
    return None


async def read(form: FormData, settings: Settings) -> list[Upload]:
    """The form's files, every one acceptable, or UploadRefused naming each problem."""
    files = [
        value
        for value in form.getlist(FIELD)
        if isinstance(value, UploadFile) and (value.filename or value.size)
    ]
    if len(files) > settings.mail_max_attachments:
        raise UploadRefused(
            f"{len(files)} files: at most {settings.mail_max_attachments} go with one message"
        )
    uploads, problems = [], []
    for file in files:
        declared = (file.content_type or "application/octet-stream").split(";")[0].strip().lower()
        name = sanitize_filename(file.filename, declared)
        data = await file.read(settings.mail_max_attachment_bytes + 1)
        problem = _refusal(name, declared, data, settings)
        if problem is None:
            sniffed = sniff(data)
            # Stored as the e-mail door stores it: the sniffed type where the declared is generic.
            content_type = sniffed if declared in GENERIC_TYPES and sniffed else declared
            uploads.append(Upload(name, content_type, data))
        else:
            problems.append(problem)
    if problems:
        raise UploadRefused("; ".join(problems))
    return uploads


def lines(uploads: list[Upload]) -> str:
    """What came attached, for the case's text (as the e-mail door writes it)."""
    if not uploads:
        return ""
    return "\n\nAttached: " + ", ".join(f"{u.filename} ({len(u.data):,} bytes)" for u in uploads)


def keep(store: AttachmentStore, uploads: list[Upload]) -> list[str]:
    """Store the bytes (once per content); returns their digests. Run before the case is
    told, so that a file named in the case is there to download."""
    return [store.put(upload.data) for upload in uploads]


def record(
    engine: Engine, organisation: str, number: int, uploads: list[Upload], digests: list[str]
) -> None:
    """Record the files against the case; a repeated form (the same file and name on the
    same case) records nothing new."""
    with Session(engine) as session:
        for upload, digest in zip(uploads, digests, strict=True):
            seen = session.exec(
                select(AttachmentRecord.id)
                .where(AttachmentRecord.case_number == number)
                .where(AttachmentRecord.digest == digest)
                .where(AttachmentRecord.filename == upload.filename)
            ).first()
            if seen is not None:
                continue
            session.add(
                AttachmentRecord(
                    case_number=number,
                    organisation=organisation,
                    filename=upload.filename,
                    content_type=upload.content_type,
                    size=len(upload.data),
                    digest=digest,
                )
            )
        session.commit()


def of_case(engine: Engine, organisation: str, number: int) -> list[AttachmentRecord]:
    """The case's files, whichever door brought them; only the organisation's."""
    with Session(engine) as session:
        rows = session.exec(
            select(AttachmentRecord)
            .where(AttachmentRecord.case_number == number)
            .where(AttachmentRecord.organisation == organisation)
            .order_by(col(AttachmentRecord.id))
        ).all()
        for row in rows:
            session.expunge(row)
        return list(rows)
