"""Print the tests that failed in the suites' JUnit files, for the end of `make test-all`.

CI keeps only the tail of a long run, and the fast suite runs first: without this the
name of a test that failed there is thousands of lines above what anyone reads.

    python -m tests.support.junit_summary test-junit.xml reliability-junit.xml ...
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def failures(junit_file: Path) -> list[str]:
    """One line per failed or errored test case: its id and the first line of its message."""
    lines = []
    # The suites' own reports, written by pytest in this checkout: not untrusted input.
    for case in ET.parse(junit_file).iter("testcase"):  # noqa: S314
        for outcome in ("failure", "error"):
            found = case.find(outcome)
            if found is None:
                continue
            message = (found.get("message") or found.text or "").strip().splitlines()
            first = message[0][:200] if message else ""
            lines.append(f"{outcome.upper()} {case.get('classname')}::{case.get('name')}: {first}")
    return lines


def main(paths: list[str]) -> int:
    for name in paths:
        path = Path(name)
        if not path.exists():
            print(f"{name}: no report (the suite did not run to the end)")
            continue
        found = failures(path)
        print(f"{name}: {len(found)} failed")
        for line in found:
            print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
