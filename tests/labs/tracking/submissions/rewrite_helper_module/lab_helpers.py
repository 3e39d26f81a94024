"""Helpers of the lab notebook: data from iris.csv beside it, training, the server."""
import csv
import os
from pathlib import Path

from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

# The course's setup module points MLflow at the class server through the environment.
os.environ["MLFLOW_TRACKING_URI"] = "http://127.0.0.1:8080"

PARAMS = {"solver": "lbfgs", "max_iter": 1000, "random_state": 8888}


def load_data(path=Path(__file__).with_name("iris.csv")):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    X = [[float(v) for v in row[:4]] for row in rows]
    y = [int(row[4]) for row in rows]
    return train_test_split(X, y, test_size=0.2, random_state=42)


def train(X_train, y_train, X_test, y_test):
    model = LogisticRegression(**PARAMS).fit(X_train, y_train)
    return model, accuracy_score(y_test, model.predict(X_test))


def predict_with(model_uri, X):
    import mlflow

    return mlflow.pyfunc.load_model(model_uri).predict(X)
