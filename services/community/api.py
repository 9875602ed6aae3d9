"""Community's HTTP door."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from shared.http import call, runtime_of

router = APIRouter(tags=["community"])


@router.get("/issues")
async def issues(request: Request) -> list[dict[str, Any]]:
    """地域の課題一覧 (D8)."""
    return await call(runtime_of(request).app.issues)  # type: ignore[no-any-return]
