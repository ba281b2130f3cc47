"""Where the stages leave what later stages, commands and reports read: each path named once (dvc.yaml spells
them too, as the pipeline's contract)."""

from pathlib import Path

RAW = Path("data/raw")
FILTERED = Path("data/filtered")
SPLIT_DATA = Path("data/split")
PROCESSED = Path("data/processed")
MODEL = Path("models/model.pt")
ONNX_MODEL = Path("models/model.onnx")
REPORTS = Path("reports")
FILTER_REPORT = REPORTS / "filter.json"
SPLIT_REPORT = REPORTS / "split.json"
ENHANCE_REPORTS = REPORTS / "enhance"
TRAIN_REPORTS = REPORTS / "train"
EVAL_DIR = REPORTS / "eval"
EVAL_METRICS = EVAL_DIR / "metrics.json"
EXPORT_REPORT = REPORTS / "export.json"
EXTERNAL_DIR = REPORTS / "external"
