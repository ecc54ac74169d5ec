"""Uploaded files (evidence, summary attachments): the checks every upload passes and where the files are kept.

A file is accepted when its extension is one of ``EVIDENCE_TYPES``, it is not empty, not larger than
``EVIDENCE_MAX_BYTES``, and it starts with the signature of its type (a renamed ``.exe`` is not a PDF). Files
are stored once per content under ``EVIDENCE_DIR`` (``<sha256[:2]>/<sha256>``); the records that reference
them keep the name, type, size and hash.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l

#: File signatures of the accepted types (extension -> (content type, magic prefixes)).
FILE_TYPES = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", (b"PK\x03\x04",)),
}
#: Types a browser may show inline (the others are downloaded).
INLINE_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})


@dataclass(frozen=True)
class Upload:
    """One file as the browser sent it."""

    file_name: str
    data: bytes

    @property
    def extension(self) -> str:
        return self.file_name.rsplit(".", 1)[-1].lower() if "." in self.file_name else ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def content_type(self) -> str:
        return FILE_TYPES[self.extension][0]

    @property
    def base_name(self) -> str:
        return os.path.basename(self.file_name)[:255]


def _settings() -> dict[str, Any]:
    return current_app.config["YANXUN"]


def allowed_types() -> list[str]:
    return [t.strip().lower() for t in str(_settings()["EVIDENCE_TYPES"]).split(",") if t.strip()]


def max_bytes() -> int:
    return int(_settings()["EVIDENCE_MAX_BYTES"])


def max_files() -> int:
    return int(_settings()["EVIDENCE_MAX_FILES"])


def storage_dir() -> Path:
    configured = _settings().get("EVIDENCE_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "evidence"


def path_of(storage_path: str) -> Path:
    """The file a record's ``storage_path`` names."""
    return storage_dir() / storage_path


def store(upload: Upload) -> str:
    """Write the file once per content; returns its ``storage_path``. An orphan left by a rolled-back request is
    harmless because the name is its content."""
    sha = upload.sha256
    relative = f"{sha[:2]}/{sha}"
    target = storage_dir() / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent)
        with os.fdopen(handle, "wb") as out:
            out.write(upload.data)
        os.replace(temporary, target)
    return relative


def check(uploads: Iterable[Upload]) -> list[str]:
    """Messages for every file that is too big, empty, of a type not accepted, or not what its name says."""
    limit = max_bytes()
    types = allowed_types()
    messages = []
    for upload in uploads:
        extension = upload.extension
        accepted = extension in types or (extension == "jpeg" and "jpg" in types)
        if not accepted:
            messages.append(str(_l("%(name)s: only these file types are accepted: %(types)s.",
                                   name=upload.file_name, types=", ".join(types))))
        elif not upload.data:
            messages.append(str(_l("%(name)s is empty.", name=upload.file_name)))
        elif len(upload.data) > limit:
            messages.append(str(_l("%(name)s is larger than %(size)s MB.", name=upload.file_name,
                                   size=f"{limit / 1024 / 1024:g}")))
        elif not upload.data.startswith(FILE_TYPES[extension][1]):
            messages.append(str(_l("%(name)s is not a real %(type)s file.", name=upload.file_name,
                                   type=extension.upper())))
    return messages
