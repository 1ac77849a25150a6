"""Layer 5: training models from labelled cases (retraining and promotion build on this)."""

STALE_AFTER = 300.0  # seconds without a heartbeat after which a running retrain counts as abandoned (here, not in
# learning.retrain, so that the command line's defaults need not import the training stack)
