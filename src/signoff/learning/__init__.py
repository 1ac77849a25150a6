"""Layer 5: training models from labelled cases (retraining and promotion build on this)."""
