"""Objectives: plain modules, named tensors in, ``(scalar loss, dict of logs)`` out."""

from selfsup.objectives.clustering import DINOLoss, SwAVLoss, sinkhorn
from selfsup.objectives.contrastive import (
    BilinearInfoNCELoss,
    CrossViewNCELoss,
    DebiasedContrastiveLoss,
    DecoupledContrastiveLoss,
    InfoNCELoss,
    MultiViewInfoNCELoss,
    NTXentLoss,
    RobustContrastiveLoss,
)
from selfsup.objectives.distillation import NegativeCosineLoss
from selfsup.objectives.distributed import all_reduce_mean, full_precision, gather
from selfsup.objectives.masked import MaskedReconstructionLoss, PatchRankingLoss, ScaledCosineError
from selfsup.objectives.multimodal import LearnableTemperature, MultiModalInfoNCELoss, PairwiseCLIPLoss, SymileLoss
from selfsup.objectives.pretext import PretextClassificationLoss, PretextRegressionLoss
from selfsup.objectives.redundancy import BarlowTwinsLoss, MixedCorrelationLoss, VICRegLoss, WhiteningMSELoss, whiten

__all__ = [
    "BarlowTwinsLoss",
    "BilinearInfoNCELoss",
    "CrossViewNCELoss",
    "DINOLoss",
    "DebiasedContrastiveLoss",
    "DecoupledContrastiveLoss",
    "InfoNCELoss",
    "LearnableTemperature",
    "MaskedReconstructionLoss",
    "MixedCorrelationLoss",
    "MultiModalInfoNCELoss",
    "MultiViewInfoNCELoss",
    "NTXentLoss",
    "NegativeCosineLoss",
    "PairwiseCLIPLoss",
    "PatchRankingLoss",
    "PretextClassificationLoss",
    "PretextRegressionLoss",
    "RobustContrastiveLoss",
    "ScaledCosineError",
    "SwAVLoss",
    "SymileLoss",
    "VICRegLoss",
    "WhiteningMSELoss",
    "all_reduce_mean",
    "full_precision",
    "gather",
    "sinkhorn",
    "whiten",
]
