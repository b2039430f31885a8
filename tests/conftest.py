"""Shared test set-up: one torch thread per process (two cores, often both busy)."""

import torch

torch.set_num_threads(1)
