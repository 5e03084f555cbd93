#!/usr/bin/env python3
"""The PyTorch files in tests/fixtures/torch/, written by PyTorch itself.

Usage: scripts/torch-fixtures.py (needs torch and numpy: `pip install torch numpy`; no
torchvision, no download). Last run with torch 2.15.0 (CPU) and numpy 2.4.6.

Trains the tutorial's model exactly as the tutorial does (its `LogisticRegressionModel`, SGD
lr 0.001, batch 100, 3000 iterations), on the repository's MNIST copy (data/mnist/*.gz) as
torchvision's `ToTensor` gives it (pixels / 255), with `torch.manual_seed(0)` and a seeded
shuffle, then saves it as a tutorial user would, and in the ways a user might get wrong:

    awesome_model.pkl        torch.save(model.state_dict(), ...), the tutorial's last line
    awesome_model.pt         the same, under another extension
    legacy.pkl               the same with _use_new_zipfile_serialization=False (pre-1.6 format)
    whole_module.pt          torch.save(model): the whole module, not its state dict
    other_names.pkl          a state dict whose layer is called `fc` instead of `linear`
    half.pkl                 model.half().state_dict(): F16 tensors
    two_classes.pkl          the state dict of a LogisticRegressionModel(784, 2)
    not_torch.zip            a zip archive that is no PyTorch file

Prints the model's test accuracy (82.47%) and the files. Every run writes the same bytes but for
legacy.pkl, whose storage keys are object addresses.
"""
import gzip
import shutil
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parent.parent
MNIST = ROOT / "data" / "mnist"
OUT = ROOT / "tests" / "fixtures" / "torch"

batch_size = 100
n_iters = 3000
learning_rate = 0.001
input_dim = 28 * 28
output_dim = 10


def idx(name, header):
    with gzip.open(MNIST / f"{name}.gz") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


def dataset(prefix):
    """Images as ToTensor gives them (float32, pixels / 255), flattened, and labels."""
    images = idx(f"{prefix}-images-idx3-ubyte", 16).reshape(-1, input_dim)
    labels = idx(f"{prefix}-labels-idx1-ubyte", 8)
    images = torch.from_numpy(images.astype(np.float32) / np.float32(255))
    return torch.utils.data.TensorDataset(images, torch.from_numpy(labels.astype(np.int64)))


class LogisticRegressionModel(nn.Module):
    def __init__(self, input_dim, output_dim):
        super(LogisticRegressionModel, self).__init__()
        self.linear = nn.Linear(input_dim, output_dim)

    def forward(self, x):
        out = self.linear(x)
        return out


def train():
    torch.manual_seed(0)
    train_dataset, test_dataset = dataset("train"), dataset("t10k")
    num_epochs = int(n_iters / (len(train_dataset) / batch_size))
    train_loader = torch.utils.data.DataLoader(
        dataset=train_dataset, batch_size=batch_size, shuffle=True,
        generator=torch.Generator().manual_seed(0))
    model = LogisticRegressionModel(input_dim, output_dim)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
    iter = 0
    for epoch in range(num_epochs):
        for images, labels in train_loader:
            images = images.view(-1, 28 * 28).requires_grad_()
            optimizer.zero_grad()
            outputs = model(images)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            iter += 1
    images, labels = test_dataset.tensors
    with torch.no_grad():
        accuracy = 100 * (model(images).argmax(1) == labels).float().mean().item()
    print(f"Iteration: {iter}. Loss: {loss.item()}. Accuracy: {accuracy:.2f}")
    return model


def main():
    model = train()
    OUT.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), OUT / "awesome_model.pkl")
    shutil.copyfile(OUT / "awesome_model.pkl", OUT / "awesome_model.pt")
    torch.save(model.state_dict(), OUT / "legacy.pkl", _use_new_zipfile_serialization=False)
    torch.save(model, OUT / "whole_module.pt")
    renamed = {name.replace("linear.", "fc."): t for name, t in model.state_dict().items()}
    torch.save(renamed, OUT / "other_names.pkl")
    torch.save(LogisticRegressionModel(input_dim, output_dim).half().state_dict(), OUT / "half.pkl")
    torch.save(LogisticRegressionModel(input_dim, 2).state_dict(), OUT / "two_classes.pkl")
    with zipfile.ZipFile(OUT / "not_torch.zip", "w") as archive:
        archive.writestr(zipfile.ZipInfo("notes.txt"), "a zip archive, but no PyTorch file\n")
    for path in sorted(OUT.iterdir()):
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
