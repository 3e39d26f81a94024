raise SystemExit("a fake mlflow module beside the notebook")
