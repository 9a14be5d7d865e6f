"""LeNet-5 (Caffe variant) in PyTorch, for parity tests.

Usage: lenet_torch.py OUT_DIR DTYPE(float32|float64)

Random weights, a fixed random batch of 8 images (1x28x28) and labels; writes
OUT_DIR/weights.safetensors (conv weights [out, in, k, k] as PyTorch; fc weights transposed to
thaw's [in, out]) and OUT_DIR/expected.safetensors (images, labels as F64, logits, loss, and
"grad.<name>" in thaw's layouts).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_torch import write_safetensors  # noqa: E402

out_dir, dtype_name = sys.argv[1], sys.argv[2]
dtype = {"float32": torch.float32, "float64": torch.float64}[dtype_name]
torch.manual_seed(4)
torch.set_num_threads(1)
net = torch.nn.Sequential(
    torch.nn.Conv2d(1, 20, 5), torch.nn.MaxPool2d(2, 2),
    torch.nn.Conv2d(20, 50, 5), torch.nn.MaxPool2d(2, 2),
    torch.nn.Flatten(), torch.nn.Linear(800, 500), torch.nn.ReLU(), torch.nn.Linear(500, 10)).to(dtype)
names = {"0": "conv1", "2": "conv2", "5": "fc1", "7": "fc2"}
images = torch.rand(8, 1, 28, 28, dtype=dtype)
labels = torch.randint(0, 10, (8,))
logits = net(images)
loss = torch.nn.functional.cross_entropy(logits, labels)
loss.backward()


def thaw_layout(name, t):
    return t.t().contiguous() if name.startswith("fc") and name.endswith("weight") else t


weights, expected = {}, {"images": images, "labels": labels.to(dtype), "logits": logits, "loss": loss.reshape(1)}
for key, p in net.named_parameters():
    layer, kind = key.split(".")
    name = f"{names[layer]}.{kind}"
    weights[name] = thaw_layout(name, p.detach())
    expected["grad." + name] = thaw_layout(name, p.grad)
write_safetensors(f"{out_dir}/weights.safetensors", weights)
write_safetensors(f"{out_dir}/expected.safetensors", expected)
print(f"loss {loss.item():.6f}")
