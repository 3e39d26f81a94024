"""The Tracking lab as a command: python train.py [--max-iter N]."""
import argparse
import csv
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent


def options(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=HERE / "iris.csv")
    parser.add_argument("--max-iter", type=int, default=1000)
    parser.add_argument("--tracking-uri", default="http://127.0.0.1:8080")
    return parser.parse_args(argv)


def main():
    args = options()
    with open(args.data, newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    X = np.array([[float(v) for v in row[:4]] for row in rows])
    y = np.array([int(row[4]) for row in rows])
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
    params = {"solver": "lbfgs", "max_iter": args.max_iter, "random_state": 8888}
    lr = LogisticRegression(**params).fit(X_train, y_train)
    accuracy = accuracy_score(y_test, lr.predict(X_test))
    mlflow.set_tracking_uri(args.tracking_uri)
    mlflow.set_experiment("MLflow Quickstart")
    with mlflow.start_run():
        mlflow.log_params(params)
        mlflow.log_metric("accuracy", accuracy)
        mlflow.set_tag("Training Info", "Basic LR model for iris data")
        model_info = mlflow.sklearn.log_model(
            sk_model=lr,
            name="iris_model",
            signature=infer_signature(X_train, lr.predict(X_train)),
            input_example=X_train,
            registered_model_name="tracking-quickstart",
        )
    loaded = mlflow.pyfunc.load_model(model_info.model_uri)
    print(pd.DataFrame({"actual_class": y_test, "predicted_class": loaded.predict(X_test)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
