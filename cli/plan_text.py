"""Build plans as the dry runs print them: text lines and JSON objects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from buildrules.model import BuildPlan


def plan_json(plan: BuildPlan) -> dict[str, Any]:
    return {
        "image": plan.image,
        "docker_tags": list(plan.docker_tags),
        "dockerfile": plan.dockerfile,
        "context": plan.context,
        "build_args": dict(plan.build_args),
        "source_type": str(plan.source_type),
        "source_name": plan.source_name,
        "commit": plan.commit,
        "build_caching": plan.build_caching,
        "rule_indexes": list(plan.rule_indexes),
        "push": plan.push,
    }


def describe_plan_lines(plans: Sequence[BuildPlan]) -> list[str]:
    lines: list[str] = []
    for number, plan in enumerate(plans, 1):
        lines.append(f"  {number}. {plan.image}")
        lines.append(f"     tags:       {', '.join(plan.docker_tags)}")
        lines.append(f"     Dockerfile: {plan.dockerfile}")
        lines.append(f"     context:    {plan.context}")
        if plan.build_args:
            args = ", ".join(f"{name}={value}" for name, value in plan.build_args)
            lines.append(f"     build args: {args}")
        if not plan.build_caching:
            lines.append("     build caching: off")
        if not plan.push:
            lines.append("     push:       no (built and tested only)")
        rules = ", ".join(f"#{i + 1}" for i in plan.rule_indexes)
        lines.append(f"     from rule{'s' * (len(plan.rule_indexes) != 1)} {rules}")
    return lines
