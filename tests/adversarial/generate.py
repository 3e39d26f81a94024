"""Regenerate the submissions that turn a grading's own MLflow server against the machine.

Run: python tests/adversarial/generate.py. Each does lab 1 correctly, then floods the server
it was given (mlflow.get_tracking_uri()) in its last cell; what each must get is in
tests/adversarial/test_server_limits.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.labs.tracking.submissions.generate import notebook, variant  # noqa: E402

# 1.5 GB streamed to the artifact endpoint from a generator: nothing touches the kernel's
# own disk, so only the server's side can stop it.
ARTIFACT_FLOOD = """import mlflow, requests
uri = mlflow.get_tracking_uri()
def chunks():
    block = b"\\0" * (1 << 20)
    for _ in range(1536):
        yield block
resp = requests.put(f"{uri}/api/2.0/mlflow-artifacts/artifacts/flood/big.bin", data=chunks())
resp.raise_for_status()"""

# 400,000 metric values, a thousand per call, as fast as the server takes them.
DATABASE_FLOOD = """import time
from mlflow import MlflowClient
from mlflow.entities import Metric
client = MlflowClient()
flood = client.create_run(experiment_id="0")
stamp = int(time.time() * 1000)
for i in range(400):
    values = [Metric("flood", float(j), stamp, i * 1000 + j) for j in range(1000)]
    client.log_batch(flood.info.run_id, metrics=values)"""

# A 1 GB JSON body the server would read whole into memory, and a gzip bomb that would
# unpack to 512 MiB inside it: both must be refused before the server allocates them.
MEMORY_FLOOD = """import gzip, mlflow, requests
uri = mlflow.get_tracking_uri()
def body():
    yield b'{"run_id": "x", "metrics": ['
    line = b'{"key": "m", "value": 1, "timestamp": 1, "step": 1},' * 1000
    for _ in range(20_000):
        yield line
streamed = requests.post(f"{uri}/api/2.0/mlflow/runs/log-batch", data=body(),
                         headers={"Content-Type": "application/json"})
bomb = gzip.compress(b"\\0" * (512 << 20))
unpacked = requests.post(f"{uri}/v1/traces", data=bomb,
                         headers={"Content-Type": "application/x-protobuf",
                                  "Content-Encoding": "gzip", "x-mlflow-experiment-id": "0"})
print(streamed.status_code, unpacked.status_code)"""

# 100,000 metric values (a few MB stored), then read back by eight threads at once: the
# server builds every value in memory for each of them.
HISTORY_FLOOD = """import threading, time
from mlflow import MlflowClient
from mlflow.entities import Metric
client = MlflowClient()
flood = client.create_run(experiment_id="0")
stamp = int(time.time() * 1000)
for i in range(100):
    values = [Metric("flood", float(j), stamp, i * 1000 + j) for j in range(1000)]
    client.log_batch(flood.info.run_id, metrics=values)
readers = [threading.Thread(target=client.get_metric_history, args=(flood.info.run_id, "flood"))
           for _ in range(8)]
for reader in readers:
    reader.start()
for reader in readers:
    reader.join()"""

FLOODS = {"artifact_flood": ARTIFACT_FLOOD, "database_flood": DATABASE_FLOOD,
          "memory_flood": MEMORY_FLOOD, "history_flood": HISTORY_FLOOD}  # fmt: skip


def main() -> None:
    out = HERE / "submissions"
    out.mkdir(exist_ok=True)
    for name, flood in FLOODS.items():
        nbformat.write(notebook(variant(extra=[("code", flood)])), out / f"{name}.ipynb")


if __name__ == "__main__":
    main()
