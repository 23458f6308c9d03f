"""Report JSON files: writing the dict a Report gives, reading it back."""
from __future__ import annotations

import json
from typing import Any, Dict, Optional

def dump(d: Dict[str, Any], path: Optional[str] = None, indent: int = 1) -> str:
    """``d`` (JSON-ready: no NaN) as JSON text, also written to ``path`` when given."""
    text = json.dumps(d, indent=indent, allow_nan=False)
    if path is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return text


def load(path_or_text: str) -> Dict[str, Any]:
    """The dict of a report's JSON, from a file path or the text itself."""
    text = path_or_text
    if not path_or_text.lstrip().startswith("{"):
        with open(path_or_text, encoding="utf-8") as f:
            text = f.read()
    return json.loads(text)


__all__ = ["dump", "load"]
