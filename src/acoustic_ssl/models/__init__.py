"""Networks of acoustic-ssl (video ResNet18, acoustic DualCamNet, audio HearNet, acoustic-image generator),
their registry, attention.

Every network is a ``Network`` (``models.base``): it names the modality it reads and its L2 set, and gives
its outputs for one item per row; ``register_model`` adds one.
"""

from acoustic_ssl.models.attention import (
    as_audio_map,
    attention_distance,
    audio_map_from_vector,
    audio_vector,
    l2n,
    localization_map,
    video_vector,
)
from acoustic_ssl.models.base import Network
from acoustic_ssl.models.dualcamnet import DualCamNet
from acoustic_ssl.models.generator import AcousticGenerator
from acoustic_ssl.models.hearnet import HearNet
from acoustic_ssl.models.registry import (
    MODELS,
    build_model,
    decay_parameter_groups,
    model_class,
    register_model,
    weight_decay_parameters,
)
from acoustic_ssl.models.resnet import ResNet18

__all__ = [
    "MODELS",
    "AcousticGenerator",
    "DualCamNet",
    "HearNet",
    "Network",
    "ResNet18",
    "as_audio_map",
    "attention_distance",
    "audio_map_from_vector",
    "audio_vector",
    "build_model",
    "decay_parameter_groups",
    "l2n",
    "localization_map",
    "model_class",
    "register_model",
    "video_vector",
    "weight_decay_parameters",
]
