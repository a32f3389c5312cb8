"""The lab classifier's arithmetic: 4 features -> softmax over 3 classes, fixed weights.

Kept apart from model.py (which needs Triton's python backend) so it can be tested directly.
"""
import numpy as np

CLASSES = ("setosa", "versicolor", "virginica")

# Rows: classes; columns: the 4 input features.
WEIGHTS = np.array([
    [0.50, 1.20, -1.50, -1.30],
    [0.10, -0.30, 0.40, -0.20],
    [-0.60, -0.90, 1.10, 1.50],
], dtype=np.float32)
BIAS = np.array([0.20, 0.60, -0.80], dtype=np.float32)


def classify(features) -> np.ndarray:
    """Class probabilities (float32, shape [3]) for one input of shape [4]."""
    x = np.asarray(features, dtype=np.float32)
    if x.shape != (4,):
        raise ValueError(f"lab_classifier wants 4 features, got shape {x.shape}")
    logits = WEIGHTS @ x + BIAS
    shifted = np.exp(logits - logits.max())
    return (shifted / shifted.sum()).astype(np.float32)
