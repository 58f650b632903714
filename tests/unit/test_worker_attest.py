"""worker/attest.py without services: the FROM images a Dockerfile names."""

from __future__ import annotations

from worker.attest import base_references


def test_from_lines_name_the_base_images_without_scratch_or_earlier_stages():
    text = (
        "# syntax=docker/dockerfile:1\n"
        "ARG BASE=127.0.0.1:5000/lib/base\n"
        "ARG VERSION=1\n"
        "FROM --platform=$BUILDPLATFORM ${BASE}:$VERSION AS build\n"
        "RUN make\n"
        "FROM scratch AS empty\n"
        "from build AS again\n"
        "FROM \\\n"
        "  alpine:3.20\n"
        "COPY --from=build /out /out\n"
    )
    assert base_references(text, {}) == ("127.0.0.1:5000/lib/base:1", "alpine:3.20")


def test_build_args_override_arg_defaults_in_from_lines():
    text = "ARG TAG=1\nFROM registry.example/app:${TAG}\n"
    assert base_references(text, {"TAG": "2"}) == ("registry.example/app:2",)


def test_the_same_base_image_is_named_once():
    assert base_references("FROM a:1\nFROM a:1\n", {}) == ("a:1",)
