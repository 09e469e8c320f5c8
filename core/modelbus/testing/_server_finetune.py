"""In-memory OpenAI Files and Fine-tuning jobs endpoints of the WireServer.

Object shapes follow the OpenAI API reference ("The file object", "The fine-tuning job
object") as typed by the ``openai`` SDK (``FileObject``, ``FineTuningJob``). Nothing is
trained: a job stays ``validating_files`` until a test moves it on with
``WireServer.update_fine_tuning_job``.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
from collections.abc import Callable
from typing import Any

from ._server_http import RecordedRequest
from ._server_reply import Reply

__all__ = ["FilesAndJobs"]

_TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
_JOB_FIELDS = frozenset(
    {
        "status",
        "fine_tuned_model",
        "finished_at",
        "trained_tokens",
        "error",
        "result_files",
        "estimated_finish",
        "metadata",
    }
)
ORGANIZATION = "org-modelbus-wire-server"


def _multipart(request: RecordedRequest) -> dict[str, tuple[str | None, bytes]]:
    """multipart/form-data (RFC 7578) fields: name -> (filename, bytes)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        return {}
    # The email package parses MIME multipart given its header; RFC 7578 is MIME.
    raw = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + request.body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str):
            fields[name] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    return fields


def _missing(param: str) -> Reply:
    return Reply.error(
        400,
        f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )


def _not_found(what: str, ident: str) -> Reply:
    return Reply.error(404, f"No such {what}: '{ident}'", code="not_found")


class FilesAndJobs:
    """State of ``/v1/files`` and ``/v1/fine_tuning/jobs``; callers hold the server lock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        """Forget every file and job; ids restart."""
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def _id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):024x}"

    # -- files -------------------------------------------------------------------------
    def upload(self, request: RecordedRequest) -> Reply:
        fields = _multipart(request)
        if "file" not in fields:
            return _missing("file")
        if "purpose" not in fields:
            return _missing("purpose")
        filename, data = fields["file"]
        file_id = self._id("file-")
        obj = {
            "object": "file",
            "id": file_id,
            "purpose": fields["purpose"][1].decode("utf-8", "replace"),
            "filename": filename or "upload",
            "bytes": len(data),
            "created_at": int(self._clock()),
            "expires_at": None,
            "status": "processed",
            "status_details": None,
        }
        self.files[file_id] = obj
        self.contents[file_id] = data
        return Reply.json(obj)

    def list_files(self, request: RecordedRequest) -> Reply:
        purpose = request.query.get("purpose")
        data = [f for f in self.files.values() if purpose is None or f["purpose"] == purpose]
        return Reply.json({"object": "list", "data": data[::-1], "has_more": False})

    def get_file(self, file_id: str) -> Reply:
        obj = self.files.get(file_id)
        return Reply.json(obj) if obj else _not_found("file", file_id)

    def file_content(self, file_id: str) -> Reply:
        if file_id not in self.contents:
            return _not_found("file", file_id)
        return Reply.raw(self.contents[file_id], content_type="application/octet-stream")

    def delete_file(self, file_id: str) -> Reply:
        if self.files.pop(file_id, None) is None:
            return _not_found("file", file_id)
        del self.contents[file_id]
        return Reply.json({"id": file_id, "object": "file", "deleted": True})

    # -- fine-tuning jobs --------------------------------------------------------------
    def create_job(self, request: RecordedRequest) -> Reply:
        body = request.json if isinstance(request.json, dict) else {}
        for param in ("model", "training_file"):
            if not isinstance(body.get(param), str):
                return _missing(param)
        for param in ("training_file", "validation_file"):
            ref = body.get(param)
            if ref is not None and ref not in self.files:
                return Reply.error(400, f"invalid {param}: {ref}", param=param)
        hyper = {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}
        hyper.update(body.get("hyperparameters") or {})
        job_id = self._id("ftjob-")
        job = {
            "object": "fine_tuning.job",
            "id": job_id,
            "model": body["model"],
            "created_at": int(self._clock()),
            "finished_at": None,
            "fine_tuned_model": None,
            "organization_id": ORGANIZATION,
            "result_files": [],
            "status": "validating_files",
            "validation_file": body.get("validation_file"),
            "training_file": body["training_file"],
            "hyperparameters": hyper,
            "trained_tokens": None,
            "error": None,
            "user_provided_suffix": body.get("suffix"),
            "seed": body.get("seed", 42),
            "estimated_finish": None,
            "integrations": body.get("integrations") or [],
            "metadata": body.get("metadata"),
            "method": body.get("method")
            or {"type": "supervised", "supervised": {"hyperparameters": hyper}},
        }
        self.jobs[job_id] = job
        return Reply.json(job)

    def list_jobs(self, request: RecordedRequest) -> Reply:
        newest_first = list(self.jobs.values())[::-1]
        after = request.query.get("after")
        if after is not None:
            ids = [j["id"] for j in newest_first]
            newest_first = newest_first[ids.index(after) + 1 :] if after in ids else []
        limit_text = request.query.get("limit", "20")
        limit = int(limit_text) if limit_text.isdigit() else 20
        page = newest_first[:limit]
        has_more = len(newest_first) > limit
        return Reply.json({"object": "list", "data": page, "has_more": has_more})

    def get_job(self, job_id: str) -> Reply:
        job = self.jobs.get(job_id)
        return Reply.json(job) if job else _not_found("fine-tuning job", job_id)

    def cancel_job(self, job_id: str) -> Reply:
        job = self.jobs.get(job_id)
        if job is None:
            return _not_found("fine-tuning job", job_id)
        if job["status"] in _TERMINAL:
            return Reply.error(400, f"Job {job_id} is already {job['status']}.")
        job["status"] = "cancelled"
        return Reply.json(job)

    def update_job(self, job_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Set job fields (status, fine_tuned_model, ...); returns a copy of the job.

        Raises:
            KeyError: unknown job id.
            ValueError: a field outside the mutable set.
        """
        if job_id not in self.jobs:
            raise KeyError(f"no fine-tuning job {job_id!r} on this WireServer")
        unknown = set(fields) - _JOB_FIELDS
        if unknown:
            raise ValueError(f"cannot set fine-tuning job fields {sorted(unknown)}")
        self.jobs[job_id].update(fields)
        return dict(self.jobs[job_id])
