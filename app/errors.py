"""JSON error answers: every refusal says why, as a sentence, and never leaks a secret."""

from __future__ import annotations

import traceback

import redis
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from core.masking import masker_for


class ApiError(Exception):
    """An answer other than success, with the status code and a sentence for a person."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.message, error.headers)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        messages = {
            413: "The request body is larger than this server accepts.",
            404: "Not found.",
            405: "That method is not allowed here.",
        }
        code = error.code or 500
        return error_response(code, messages.get(code, error.description or error.name))

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    def _redis_down(error: Exception) -> Response:
        app.logger.error("Redis unreachable: %s", type(error).__name__)
        return error_response(
            503, "Redis is unreachable; try again shortly.", {"Retry-After": "10"}
        )

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        # The traceback goes to the log masked: an exception's text may quote a secret.
        from app.context import app_context

        context = app_context()
        masker = masker_for(context.settings, context.config)
        details = masker.mask("".join(traceback.format_exception(error)))
        app.logger.error("unhandled error on %s %s\n%s", request.method, request.path, details)
        return error_response(500, "Autobuild hit an internal error; the server log has details.")
