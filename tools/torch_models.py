"""PyTorch definitions of the models privedge's tools and benchmarks share (one place, so the
training references, the training benchmark and the inference benchmark models agree).

Import from a script in tools/ or bench/ after putting tools/ on sys.path. Needs Debian's
python3-torch; never needed to build or test privedge.
"""
import torch
from torch import nn


class MnistCnn(nn.Module):
    """The MNIST CNN of McMahan et al. 2017 (FedAvg): 5x5 conv 32, 2x2 max pool, 5x5 conv 64,
    2x2 max pool, fully connected 512 + ReLU, fully connected 10 (logits; the paper's softmax
    is left to the loss). 'same' padding as in the TensorFlow Federated version, which gives the
    paper's 1,663,370 parameters."""

    NUM_PARAMS = 1_663_370

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = nn.Linear(7 * 7 * 64, 512)
        self.fc2 = nn.Linear(512, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(torch.relu(self.fc1(x)))


class Mlp(nn.Module):
    """784-128-10 with ReLU: the small classifier of the training tests and benchmarks."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))
