"""ResNet-50 (torchvision, random weights, FP32) on cuda:0, batch 1, for the H100 serving benchmark.

Tensors cross the stub through DLPack, not numpy: the Triton 2.51 stub is built against numpy 1
and mis-sizes numpy 2 arrays.
"""
import torch
import torchvision
import triton_python_backend_utils as pb_utils
from torch.utils.dlpack import from_dlpack, to_dlpack


class TritonPythonModel:
    def initialize(self, args):
        torch.manual_seed(0)
        torch.backends.cudnn.benchmark = True
        self.device = torch.device("cuda", 0)
        self.model = torchvision.models.resnet50(weights=None).eval().to(self.device)
        with torch.inference_mode():
            x = torch.randn(1, 3, 224, 224, device=self.device)
            for _ in range(20):
                self.model(x)
        torch.cuda.synchronize()
        pb_utils.Logger.log_info(f"resnet50 ready on {torch.cuda.get_device_name(0)}, torch {torch.__version__}")

    def execute(self, requests):
        responses = []
        with torch.inference_mode():
            for request in requests:
                x = from_dlpack(pb_utils.get_input_tensor_by_name(request, "INPUT__0").to_dlpack())
                y = self.model(x.to(self.device).unsqueeze(0))[0].float().cpu().contiguous()
                out = pb_utils.Tensor.from_dlpack("OUTPUT__0", to_dlpack(y))
                responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
        return responses
