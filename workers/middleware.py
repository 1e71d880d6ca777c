"""Aqta's Dramatiq middleware: actors run in the app's context, and failed jobs say so."""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from dramatiq import Middleware
from dramatiq.middleware import TimeLimitExceeded

import storage.jobs as jobs_repo
from app.errors import LOWER_LAYER_ERRORS, AqtaError, api_error

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)


class AppContext(Middleware):
    """Runs each message inside the Flask app's context, as a request runs.

    Actors reach settings and Redis through the app as views do, and the app's
    teardown returns their database connection afterwards. ``app`` is set by the
    embedded runtime or the worker process's boot; without it nothing is pushed.
    """

    def __init__(self):
        self.app: Flask | None = None
        self._local = threading.local()

    def before_process_message(self, broker, message):
        if self.app is not None:
            context = self.app.app_context()
            context.push()
            self._local.context = context

    def after_process_message(self, broker, message, *, result=None, exception=None):
        context = self._local.__dict__.pop("context", None)
        if context is not None:
            context.pop()

    def after_skip_message(self, broker, message):
        self.after_process_message(broker, message)


class JobFailures(Middleware):
    """Marks a job failed when the message working on it fails for good.

    A message works on a job when it has a ``job_id`` keyword argument. It fails for
    good when its retries are spent, it may not be retried, or it waited too long
    in the queue; its owner then sees ``failed`` instead of a job running for ever.
    This must sit before ``Retries`` in the middleware list: "after" hooks run in
    reverse order, so it then sees Retries' verdict.
    """

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if exception is not None and message.failed:
            self._fail(message, describe_failure(exception, message.options.get("retries", 0)))

    def after_skip_message(self, broker, message):
        if message.failed:
            self._fail(message, "The job waited too long in the queue and was dropped.")

    @staticmethod
    def _fail(message, error: str) -> None:
        job_id = message.kwargs.get("job_id")
        if isinstance(job_id, str):
            jobs_repo.fail(job_id, error)


def describe_failure(exception: BaseException, retries: int) -> str:
    """What the job's owner is told: an AqtaError's own message, else no internals."""
    if isinstance(exception, LOWER_LAYER_ERRORS):
        exception = api_error(exception)
    if isinstance(exception, AqtaError):
        return exception.message
    if isinstance(exception, TimeLimitExceeded):
        return "The job ran longer than its time limit."
    attempts = "once" if retries <= 1 else f"{retries} times"
    return f"The job failed with an internal error ({type(exception).__name__}); it was tried {attempts}."
