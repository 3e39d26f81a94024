"""The Tracking lab as a script: every step in a function, run under __main__."""
import mlflow
from mlflow.models import infer_signature

import pandas as pd
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

PARAMS = {"solver": "lbfgs", "max_iter": 1000, "random_state": 8888}


def train():
    X, y = datasets.load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
    lr = LogisticRegression(**PARAMS)
    lr.fit(X_train, y_train)
    accuracy = accuracy_score(y_test, lr.predict(X_test))
    return lr, accuracy, (X_train, X_test, y_train, y_test)


def log(lr, accuracy, X_train):
    mlflow.set_tracking_uri("http://127.0.0.1:8080")
    mlflow.set_experiment("MLflow Quickstart")
    with mlflow.start_run():
        mlflow.log_params(PARAMS)
        mlflow.log_metric("accuracy", accuracy)
        mlflow.set_tag("Training Info", "Basic LR model for iris data")
        signature = infer_signature(X_train, lr.predict(X_train))
        return mlflow.sklearn.log_model(
            sk_model=lr,
            name="iris_model",
            signature=signature,
            input_example=X_train,
            registered_model_name="tracking-quickstart",
        )


def main():
    lr, accuracy, (X_train, X_test, y_train, y_test) = train()
    model_info = log(lr, accuracy, X_train)
    loaded = mlflow.pyfunc.load_model(model_info.model_uri)
    predictions = loaded.predict(X_test)
    result = pd.DataFrame({"actual_class": y_test, "predicted_class": predictions})
    print(result.head())


if __name__ == "__main__":
    main()
