"""``zsrec serve``: recommendations over HTTP, the model loaded once and concurrent requests ranked
together in one backend batch. Needs the ``serve`` extra (FastAPI and uvicorn)."""

from .config import ServeConfig

__all__ = ["ServeConfig"]
