"""ResNet-50 batch 1 in plain PyTorch on cuda:0 (same model as the Triton one), no server:
the floor the served latency is compared with. Host-to-device copy of the input included."""
import time

import torch
import torchvision

torch.manual_seed(0)
torch.backends.cudnn.benchmark = True
model = torchvision.models.resnet50(weights=None).eval().cuda()
inputs = [torch.rand(3, 224, 224) * 2 - 1 for _ in range(8)]
with torch.inference_mode():
    for i in range(50):
        model(inputs[i % 8].cuda().unsqueeze(0)).cpu()
    torch.cuda.synchronize()
    times = []
    for i in range(500):
        t0 = time.perf_counter()
        y = model(inputs[i % 8].cuda().unsqueeze(0)).cpu()
        times.append(time.perf_counter() - t0)
times.sort()
assert torch.isfinite(y).all() and y.shape == (1, 1000)
print(f"torch baseline resnet50 b1 fp32: p50 {times[250] * 1e3:.3f} ms, p99 {times[495] * 1e3:.3f} ms, "
      f"{1 / (sum(times) / len(times)):.0f} inf/s (one stream, host copies included)")
