"""Tokens and signatures are compared in constant time.

Two proofs: the code has no ``==``/``!=`` comparison (and no ``in`` test) whose operand names a
token, secret, signature, password or HMAC digest, anywhere in the web process or the shared core;
and the comparison helpers themselves go through ``hmac.compare_digest`` (checked by replacing it
and seeing them call it).
"""

from __future__ import annotations

import ast
import hmac
from pathlib import Path

import pytest

from app.auth import _matches
from app.hosts import base as hosts_base
from app.hosts import gitlab

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ["app", "core", "cli"]
SENSITIVE = ("token", "secret", "signature", "password", "hmac", "expected", "given")
# Names that look sensitive but are not values compared with secrets.
ALLOWED = {"token_env", "secret_env", "webhook_secret_env", "trigger_token_env", "password_env"}


def _names(node: ast.AST) -> list[str]:
    found = []
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.append(child.id)
        elif isinstance(child, ast.Attribute):
            found.append(child.attr)
    return found


def _is_constant_or_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and (node.value is None or node.value == "")


def sensitive_comparisons(source: str) -> list[tuple[int, str]]:
    problems = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        if not all(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops):
            continue
        operands = [node.left, *node.comparators]
        if any(_is_constant_or_none(operand) for operand in operands):
            continue  # `token is None`-like checks compare with nothing secret
        for operand in operands:
            names = [n.lower() for n in _names(operand) if n not in ALLOWED]
            if any(word in name for name in names for word in SENSITIVE):
                problems.append((node.lineno, ast.unparse(node)))
                break
    return problems


def test_the_scanner_finds_a_plain_comparison_of_a_token():
    assert sensitive_comparisons("if token == expected_token:\n    pass\n")
    assert sensitive_comparisons("ok = request.headers['sig'] != signature\n")
    assert not sensitive_comparisons("if token is None or token == '':\n    pass\n")
    assert not sensitive_comparisons("ok = hmac.compare_digest(token, expected)\n")


def test_no_token_or_signature_is_compared_with_a_plain_operator():
    problems = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, text in sensitive_comparisons(path.read_text()):
                problems.append(f"{path.relative_to(ROOT)}:{line}: {text}")
    assert problems == []


@pytest.fixture
def compare_calls(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def recording(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    return calls


def test_bearer_tokens_go_through_compare_digest(compare_calls):
    assert _matches("admin-token", "admin-token")
    assert not _matches("admin-tokeX", "admin-token")
    assert len(compare_calls) == 2


def test_hmac_signatures_go_through_compare_digest(compare_calls):
    body = b'{"a": 1}'
    good = hosts_base.hmac_sha256_hex("secret", body)
    hosts_base.check_hex_signature(good, "secret", body, "X-Signature")
    with pytest.raises(hosts_base.SignatureError):
        hosts_base.check_hex_signature("0" * 64, "secret", body, "X-Signature")
    assert len(compare_calls) == 2


def test_gitlab_tokens_go_through_compare_digest(compare_calls):
    gitlab.verify({"X-Gitlab-Token": "secret"}, b"{}", "secret")
    with pytest.raises(hosts_base.SignatureError):
        gitlab.verify({"X-Gitlab-Token": "secreX"}, b"{}", "secret")
    assert len(compare_calls) == 2
