"""Fine-tuning jobs: uploading, starting, following and cancelling them through the SDK,
and a local registry of the jobs started from this machine.

The registry is a JSON file ``finetune_jobs.json`` in the user data dir (platformdirs:
``~/.local/share/modelbus`` on Linux), or in ``$MODELBUS_DATA_DIR`` when set. It maps a
job id to what the API does not keep: the description given at creation and the local
file name, plus the last status seen.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from ._errors import map_openai_error, sdk_error_types

__all__ = ["JobRegistry", "cancel_job", "create_job", "get_job", "list_jobs", "registry_path"]

DATA_DIR_ENV = "MODELBUS_DATA_DIR"


def registry_path() -> Path:
    """Where the registry lives: ``$MODELBUS_DATA_DIR/finetune_jobs.json``, else the user
    data dir of ``modelbus``."""
    base = os.environ.get(DATA_DIR_ENV)
    if not base:
        import platformdirs

        base = platformdirs.user_data_dir("modelbus")
    return Path(base) / "finetune_jobs.json"


class JobRegistry:
    """Job id → ``{"description", "file", "model", "created_at", "status"}``.

    ``created_at`` is an ISO 8601 UTC time. Writes replace the file atomically (a temp
    file renamed over it), so a crash never leaves half a file.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or registry_path()

    def load(self) -> dict[str, dict[str, Any]]:
        """The entries; an absent file is an empty registry. Raises ``ValueError`` naming
        the file when it is not a JSON object."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise ValueError(
                f"fine-tuning job registry {str(self.path)!r} is not JSON: {exc}"
            ) from exc
        if not isinstance(data, dict):
            raise ValueError(f"fine-tuning job registry {str(self.path)!r} must hold an object")
        return data

    def _save(self, data: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".finetune_jobs.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def add(
        self, job_id: str, *, description: str, file: str, model: str, status: str
    ) -> dict[str, Any]:
        """Record a new job; returns its entry."""
        data = self.load()
        entry = {
            "description": description,
            "file": file,
            "model": model,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "status": status,
        }
        data[job_id] = entry
        self._save(data)
        return entry

    def update_status(self, job_id: str, status: str) -> None:
        """Remember the last status seen for a job this registry knows (others ignored)."""
        data = self.load()
        if job_id in data and data[job_id].get("status") != status:
            data[job_id]["status"] = status
            self._save(data)


def _sdk(provider: Any) -> Any:
    return provider.sync_client


def _call(provider: Any, fn: Any) -> Any:
    try:
        return fn()
    except sdk_error_types() as exc:
        raise map_openai_error(exc, provider.name) from exc


def create_job(
    provider: Any,
    path: Path,
    *,
    model: str,
    suffix: str | None = None,
    epochs: int | None = None,
    validation_file: Path | None = None,
    description: str = "",
    registry: JobRegistry | None = None,
) -> dict[str, Any]:
    """Upload ``path`` (``purpose="fine-tune"``), start a supervised job on ``model`` and
    record it in the registry; returns the job object as the API sent it.

    Raises :class:`~modelbus.errors.ProviderError` subclasses, ``OSError`` for an
    unreadable file."""
    sdk = _sdk(provider)
    uploaded = _call(provider, lambda: sdk.files.create(file=path, purpose="fine-tune"))
    val_id = None
    if validation_file is not None:
        val = _call(provider, lambda: sdk.files.create(file=validation_file, purpose="fine-tune"))
        val_id = val.id
    kwargs: dict[str, Any] = {"model": model, "training_file": uploaded.id}
    if suffix:
        kwargs["suffix"] = suffix
    if val_id:
        kwargs["validation_file"] = val_id
    if epochs is not None:
        kwargs["method"] = {
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": epochs}},
        }
    job = _call(provider, lambda: sdk.fine_tuning.jobs.create(**kwargs))
    (registry or JobRegistry()).add(
        job.id, description=description, file=str(path), model=model, status=job.status
    )
    return dict(job.model_dump(mode="json"))


def get_job(provider: Any, job_id: str, registry: JobRegistry | None = None) -> dict[str, Any]:
    """The job object (status, fine_tuned_model, trained_tokens, error...); the registry
    remembers the status."""
    sdk = _sdk(provider)
    job = _call(provider, lambda: sdk.fine_tuning.jobs.retrieve(job_id))
    (registry or JobRegistry()).update_status(job_id, job.status)
    return dict(job.model_dump(mode="json"))


def list_jobs(provider: Any, limit: int = 20) -> list[dict[str, Any]]:
    """The account's most recent jobs (newest first), at most ``limit``."""
    sdk = _sdk(provider)
    page = _call(provider, lambda: sdk.fine_tuning.jobs.list(limit=limit))
    return [dict(j.model_dump(mode="json")) for j in page.data]


def cancel_job(provider: Any, job_id: str, registry: JobRegistry | None = None) -> dict[str, Any]:
    """Cancel a running job; returns the job object (status ``cancelled``). Raises
    :class:`~modelbus.errors.BadRequestError` for a job already finished."""
    sdk = _sdk(provider)
    job = _call(provider, lambda: sdk.fine_tuning.jobs.cancel(job_id))
    (registry or JobRegistry()).update_status(job_id, job.status)
    return dict(job.model_dump(mode="json"))
