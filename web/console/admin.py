"""The console's admin pages (being built)."""

from __future__ import annotations

from fastapi import APIRouter

from web.console.base import PREFIX

router = APIRouter(prefix=PREFIX, include_in_schema=False)
