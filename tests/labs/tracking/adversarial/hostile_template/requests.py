raise SystemExit("a fake requests module beside the notebook")
