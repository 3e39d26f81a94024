"""The logging lab's compatibility switch (grader/labs/logging/compat.py), run as the kernel
runs it: its text alone, with pandas 3. Run in a fresh Python: it patches pandas."""

from __future__ import annotations

import json
import subprocess
import sys

from grader.labs import load

STUDENT = """
import json, warnings
import pandas as pd
warnings.simplefilter("error")  # pandas' ChainedAssignmentError is a warning: none may be left
df = pd.DataFrame({"demand": [1.0, 2.0, 3.0]})
df["previous"] = df["demand"].shift(1)
df["previous"].fillna(method="bfill", inplace=True)  # the lab's published call
chained = pd.DataFrame({"a": [1.0, None, 3.0]})
chained["a"].ffill(inplace=True)
renewed = pd.DataFrame({"a": [None, 2.0]})
column = renewed["a"]
renewed["a"] = [5.0, 6.0]  # assigned anew: pandas 2 did not fill it through the old column
column.fillna(0.0, inplace=True)
print(json.dumps({
    "published": df["previous"].tolist(),
    "chained": chained["a"].tolist(),
    "renewed": renewed["a"].tolist(),
    "frame": pd.DataFrame({"a": [None, 1.0]}).fillna(method="bfill")["a"].tolist(),
    "changed": changes,
}))
"""


def test_the_published_fill_fills_the_frame_as_pandas_2_did() -> None:
    (switch,) = [c for c in load("logging").design.compatibility if c.name == "pandas_2_fills"]
    run = (
        f"exec(compile({switch.script.read_text()!r}, 'compat', 'exec'), space := {{}})\n"
        "changes = []\n"
        f"space[{switch.function!r}]({switch.value!r}, lambda: changes.append(1))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", run + STUDENT],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["published"] == [1.0, 1.0, 2.0]
    assert found["chained"] == [1.0, 1.0, 3.0]
    assert found["renewed"] == [5.0, 6.0]
    assert found["frame"] == [1.0, 1.0]
    assert found["changed"]
