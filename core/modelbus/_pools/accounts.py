"""What to tell the user when a deployment's account cannot serve (``router.account_failure``).

The hint replaces the provider's on the error: the provider's speaks of one endpoint
("slow down", "retry after"), which is wrong for a pool that moved on, or that has no
deployment left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..errors import PermissionDeniedError, ProviderError

if TYPE_CHECKING:
    from .provider import Deployment
    from .router import Failure

__all__ = ["account_hint", "refused"]


def _what(deployment: str, instance: str, exc: ProviderError) -> str:
    if exc.code == "insufficient_quota":
        return (
            f"{deployment} is out of quota (insufficient_quota): add credits or raise the "
            f"monthly budget of the account behind [providers.{instance}]"
        )
    if exc.status_code == 403 or isinstance(exc, PermissionDeniedError):
        return (
            f"{deployment} refused access (403): the key of [providers.{instance}] may not "
            "use this model, project or region"
        )
    return (
        f"{deployment} refused its key (401): check [providers.{instance}] api_key and "
        "that it is not revoked"
    )


def account_hint(
    pool: str,
    alias: str,
    deployment: str,
    instance: str,
    exc: ProviderError,
    *,
    cooldown_s: float,
    moved_on: bool,
    cooling: Sequence[str] = (),
) -> str:
    """The hint of ``exc``, an account failure of ``deployment`` (of provider instance
    ``instance``) in pool ``pool`` (``[models.ALIAS]``), skipped for ``cooldown_s``
    seconds. ``moved_on``: the call went on to another deployment; else none was healthy
    and ``cooling`` names the other deployments, all cooling down."""
    what = _what(deployment, instance, exc)
    back = (
        f"{deployment} is tried again after {cooldown_s:g}s ([models.{alias}] account_cooldown_s)"
    )
    if moved_on:
        return f"{what}; {pool} moved on to another deployment, and {back}"
    others = f" ({', '.join(cooling)})" if cooling else ""
    return (
        f"no deployment of {pool} can answer: {what}; the others{others} are cooling down "
        f"too. Retrying cannot help until one is fixed or back; {back}"
    )


def refused(
    exc: ProviderError,
    f: Failure,
    pool: str,
    alias: str,
    deployment: Deployment,
    others: Sequence[str],
    warn: Callable[..., None] | None,
) -> None:
    """Log ``pool_deployment_refused`` (someone must fix the account even when the pool
    moved on) and give ``exc`` its :func:`account_hint`."""
    if warn is not None:
        warn(
            "pool_deployment_refused",
            pool=pool,
            deployment=deployment.name,
            status=exc.status_code,
            code=exc.code,
            cooldown_s=f.cooldown_s,
            moved_on=f.move_on,
        )
    exc.hint = account_hint(
        pool,
        alias,
        deployment.name,
        deployment.provider,
        exc,
        cooldown_s=f.cooldown_s,
        moved_on=f.move_on,
        cooling=others,
    )
