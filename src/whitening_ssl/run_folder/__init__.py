"""The files of a run folder, named once (the stages write them, the report and the resume read them)."""

RESULTS_FILE = "results.json"  # final and per-evaluation figures, configuration, overrides
CHECKPOINT_DIR = "checkpoints"  # last.ckpt every epoch, epochNNNN.ckpt keeps, meta.json
LAST_CHECKPOINT = "last.ckpt"
META_FILE = "meta.json"  # epoch and step of last.ckpt, why it was written, the W&B run id
LOCK_FILE = ".run.lock"  # the live run's process id and host
ANALYSIS_DIR = "analysis"  # the figures of each evaluation's measurements
CLASSIFIER_FILE = "linear_classifier.pt"  # stage=linear's trained classifier
