"""Networks of acoustic-ssl (video ResNet18, acoustic DualCamNet, audio HearNet), attention distance."""

from acoustic_ssl.models.attention import (
    attention_distance,
    audio_map_from_vector,
    audio_vector,
    l2n,
    localization_map,
    video_vector,
)
from acoustic_ssl.models.dualcamnet import DualCamNet
from acoustic_ssl.models.hearnet import HearNet
from acoustic_ssl.models.registry import MODELS, build_model, decay_parameter_groups, weight_decay_parameters
from acoustic_ssl.models.resnet import ResNet18

__all__ = [
    "MODELS",
    "DualCamNet",
    "HearNet",
    "ResNet18",
    "attention_distance",
    "audio_map_from_vector",
    "audio_vector",
    "build_model",
    "decay_parameter_groups",
    "l2n",
    "localization_map",
    "video_vector",
    "weight_decay_parameters",
]
