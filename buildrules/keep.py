"""The ``keep:`` key of a repository: which of its images retention keeps.

```yaml
keep:
  last: 20            # the 20 tags Autobuild pushed most recently
  tags: ['/^v.*/', stable]   # and every tag these match (a name, or a full-match /regex/)
```
"""

from __future__ import annotations

import yaml

from buildrules.model import KeepPolicy, is_regex_source
from buildrules.ruleregex import RuleRegexError, compile_rule_regex
from buildrules.yamlnodes import NodeReader

KEEP_KEYS = ("last", "tags")


def read_keep(reader: NodeReader, node: yaml.Node) -> KeepPolicy | None:
    """``keep:`` checked; problems name the line. At least one of its keys is needed."""
    entries = reader.mapping(node, "keep")
    if entries is None:
        return None
    reader.check_keys(entries, KEEP_KEYS, "keep")
    before = len(reader.problems)
    if not entries:
        reader.add(node, "keep needs 'last', 'tags' or both")
    last = None
    if "last" in entries:
        last = reader.integer(entries["last"].value, "keep.last", minimum=0)
    patterns: list[str] = []
    if "tags" in entries:
        for item in reader.sequence(entries["tags"].value, "keep.tags") or ():
            text = reader.string(item, "a keep.tags entry")
            if text is None:
                continue
            if is_regex_source(text):
                try:
                    compile_rule_regex(text[1:-1])
                except RuleRegexError as exc:
                    reader.add(item, f"keep.tags entry {text} {exc}")
                    continue
            patterns.append(text)
    if len(reader.problems) > before:
        return None
    return KeepPolicy(last=last, tags=tuple(patterns))
