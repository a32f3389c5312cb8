"""Triton python-backend model: the sum of 4 FP32 features (../../README.md). A second model, so that
routing by model name, and models moving between MIG instances, can be seen in the lab."""
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            features = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy().reshape(-1)
            if features.shape != (4,):
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(
                    f"lab_adder wants 4 features, got shape {features.shape}")))
                continue
            total = np.array([features.astype(np.float32).sum()], dtype=np.float32)
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("SUM", total)]))
        return responses
