"""Triton python-backend model: see classifier.py for the arithmetic, ../../README.md for I/O."""
import os
import sys

import numpy as np
import triton_python_backend_utils as pb_utils

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from classifier import classify  # noqa: E402


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            features = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
            try:
                probabilities = classify(features.reshape(-1))
            except ValueError as e:
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(e))))
                continue
            output = pb_utils.Tensor("PROBABILITIES", probabilities.astype(np.float32))
            responses.append(pb_utils.InferenceResponse(output_tensors=[output]))
        return responses
