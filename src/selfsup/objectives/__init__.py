"""Objectives: plain modules, named tensors in, ``(scalar loss, dict of logs)`` out."""

from selfsup.objectives.contrastive import NTXentLoss
from selfsup.objectives.distillation import NegativeCosineLoss
from selfsup.objectives.distributed import gather
from selfsup.objectives.redundancy import BarlowTwinsLoss

__all__ = ["BarlowTwinsLoss", "NTXentLoss", "NegativeCosineLoss", "gather"]
