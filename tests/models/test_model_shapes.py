"""Forward shapes, modes, initialisation, L2 parameter groups and autocast of the three networks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from acoustic_ssl.models import (
    DualCamNet,
    HearNet,
    ResNet18,
    build_model,
    decay_parameter_groups,
    weight_decay_parameters,
)


def test_resnet18_full_width_map_shape_and_non_negative() -> None:
    model = ResNet18()
    out = model(torch.randn(1, 3, 224, 298))
    assert out.shape == (1, 128, 12, 16)
    assert out.min() >= 0
    assert model.block3[0].conv1[0].out_channels == 256


def test_resnet18_output_stride_8_on_half_resolution_frames() -> None:
    model = ResNet18(output_stride=8, width=16)
    assert model(torch.randn(2, 3, 112, 149)).shape == (2, 128, 12, 16)
    assert model.block3[0].conv1[0].stride == (1, 1)


def test_resnet18_width_scales_block_channels_not_the_map() -> None:
    model = ResNet18(width=8)
    assert [
        model.block1[0].conv1[0].out_channels,
        model.block2[0].conv1[0].out_channels,
        model.block3[0].conv1[0].out_channels,
    ] == [8, 16, 32]
    assert model(torch.randn(1, 3, 224, 298)).shape == (1, 128, 12, 16)


def test_resnet18_classifier_mode() -> None:
    model = ResNet18(num_classes=10, width=8)
    assert model(torch.randn(2, 3, 224, 298)).shape == (2, 10)
    assert model.logits is not None and model.logits.bias is not None


def test_resnet18_bn_momentum_is_tf_decay_complement_and_configurable() -> None:
    momenta = {m.momentum for m in ResNet18(width=4).modules() if isinstance(m, nn.BatchNorm2d)}
    assert momenta == {0.003}
    momenta = {
        m.momentum for m in ResNet18(width=4, bn_momentum=0.1).modules() if isinstance(m, nn.BatchNorm2d)
    }
    assert momenta == {0.1}


def test_resnet18_rejects_bad_output_stride() -> None:
    with pytest.raises(ValueError, match="output_stride"):
        ResNet18(output_stride=32)


def test_resnet18_bn_batch_stats_at_eval_makes_features_batch_dependent() -> None:
    model = ResNet18(output_stride=8, width=8).eval()
    x = torch.randn(3, 3, 112, 149)
    with torch.no_grad():
        alone, together = model(x[:1]), model(x)[:1]
        scale = together.abs().max().item()  # float32 tolerances on the map's scale, not per coordinate
        torch.testing.assert_close(alone, together, rtol=0, atol=1e-4 * scale)
        model.bn_batch_stats_at_eval = True
        assert all(m.batch_stats_at_eval for m in model.modules() if hasattr(m, "batch_stats_at_eval"))
        alone, together = model(x[:1]), model(x)[:1]
    assert (alone - together).abs().max() > 1e-2 * scale


def test_channels_last_switch_changes_layout_not_values() -> None:
    torch.manual_seed(1)
    nchw = ResNet18(output_stride=8, width=8, channels_last=False).eval()
    torch.manual_seed(1)
    nhwc = ResNet18(output_stride=8, width=8).eval()
    x = torch.randn(2, 3, 112, 149)
    layouts = []
    nhwc.block3.register_forward_pre_hook(
        lambda _m, inp: layouts.append(inp[0].is_contiguous(memory_format=torch.channels_last))
    )
    with torch.no_grad():
        ref, out = nchw(x), nhwc(x)
    assert layouts == [True] and out.is_contiguous() and ref.is_contiguous()
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-4 * ref.abs().max().item())
    torch.manual_seed(2)
    nchw_a = DualCamNet(channels_last=False).eval()
    torch.manual_seed(2)
    nhwc_a = DualCamNet().to(memory_format=torch.channels_last).eval()
    images = torch.randn(12, 12, 36, 48)
    with torch.no_grad():
        ref, out = nchw_a(images), nhwc_a(images)
    assert out.is_contiguous()
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-4 * ref.abs().max().item())


def test_resnet18_he_init_of_convolutions() -> None:
    model = ResNet18(width=16)
    w = model.conv_map[0].weight
    assert w.abs().max() <= 2 * math.sqrt(2.6 / (64 * 12))
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv2d) and m is not model.logits)


def test_dualcamnet_map_and_classifier_shapes() -> None:
    x = torch.randn(24, 12, 36, 48)
    out = DualCamNet()(x)
    assert out.shape == (24, 128, 12, 16) and out.min() >= 0
    assert DualCamNet(num_classes=10)(x).shape == (24, 10)
    with pytest.raises(ValueError, match="multiple of 12"):
        DualCamNet()(x[:13])


def test_dualcamnet_temporal_conv_matches_explicit_sum_within_blocks() -> None:
    model = DualCamNet()
    x = torch.randn(24, 12, 3, 4)
    w = model.conv1.weight[:, :, :, 0]  # [out, in, 7]
    expected = torch.empty_like(x)
    for n in range(24):
        block, t = divmod(n, 12)
        acc = model.conv1.bias[:, None, None].expand(12, 3, 4).clone()
        for k in range(7):
            src = t + k - 3
            if 0 <= src < 12:  # zero padding at the 1-s block edges, never the neighbouring block
                acc = acc + torch.einsum("oi,ihw->ohw", w[:, :, k], x[block * 12 + src])
        expected[n] = torch.relu(acc)
    scale = expected.abs().max().item()
    torch.testing.assert_close(model.temporal_conv(x), expected, rtol=0, atol=1e-5 * scale)


def test_dualcamnet_classifier_sums_the_map() -> None:
    model = DualCamNet(num_classes=4)
    x = torch.randn(12, 12, 36, 48)
    assert model.full1 is not None
    torch.testing.assert_close(model(x), model.full1(model.feature_map(x).sum(dim=(2, 3))))


def test_dualcamnet_init_truncated_normal_and_zero_bias() -> None:
    model = DualCamNet(num_classes=3)
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            assert torch.count_nonzero(p) == 0
        else:
            assert p.abs().max() <= 0.02


@pytest.mark.parametrize("frames", [125, 200, 333, 600])
def test_hearnet_embedding_shape_for_any_length_from_125(frames: int) -> None:
    assert HearNet()(torch.randn(2, 257, frames)).shape == (2, 128)


def test_hearnet_rejects_short_or_misshaped_input() -> None:
    with pytest.raises(ValueError, match="at least 125"):
        HearNet()(torch.randn(1, 257, 124))
    with pytest.raises(ValueError, match="257"):
        HearNet()(torch.randn(1, 200, 257))


def test_hearnet_classifier_and_features() -> None:
    model = HearNet(num_classes=10)
    x = torch.randn(3, 257, 200)
    assert model(x).shape == (3, 10)
    feats = model.features(x)
    assert feats.shape == (3, 128) and feats.min() >= 0
    assert model.fc3 is not None
    torch.testing.assert_close(model(x), model.fc3(feats))
    embedding = HearNet()
    torch.testing.assert_close(embedding.features(x), embedding(x))


def test_hearnet_drops_the_frames_pool3_discards_at_200() -> None:
    # pool3 keeps steps 0-4 of 8; conv3 step 4 still sees step 5, whose receptive field ends at frame 164,
    # so frames 165-199 never reach the output (spec §7 item 15).
    model = HearNet()
    x = torch.randn(2, 257, 200)
    y = x.clone()
    y[:, :, 165:] = torch.randn(2, 257, 35)
    torch.testing.assert_close(model(x), model(y), rtol=0, atol=0)
    y[:, :, 160:165] = 0
    assert not torch.allclose(model(x), model(y))


def test_hearnet_init() -> None:
    model = HearNet(num_classes=5)
    bound = math.sqrt(6 / (257 * 11 + 128 * 11))
    assert model.conv1.weight.abs().max() <= bound
    assert model.fc1.weight.abs().max() <= 0.02 and torch.count_nonzero(model.conv1.bias) == 0


def test_build_model_by_name() -> None:
    assert isinstance(build_model("ResNet18", width=8), ResNet18)
    assert isinstance(build_model("dualcamnet", num_classes=3), DualCamNet)
    assert isinstance(build_model("hearnet"), HearNet)
    with pytest.raises(ValueError, match="unknown model"):
        build_model("vgg")


def test_decay_groups_pick_the_original_l2_set() -> None:
    resnet = ResNet18(num_classes=4, width=8)
    convs = [m for m in resnet.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 1 + 12 + 2 + 1 + 1  # conv1, 6 units × 2, 2 shortcuts, conv_map, logits
    groups = decay_parameter_groups(resnet, 5e-4)
    assert {id(p) for p in groups[0]["params"]} == {id(m.weight) for m in convs}
    assert groups[0]["weight_decay"] == 5e-4 and groups[1]["weight_decay"] == 0.0

    hear = HearNet(num_classes=4)
    decayed = {id(p) for p in weight_decay_parameters(hear)}
    names = {n for n, p in hear.named_parameters() if id(p) in decayed}
    assert names == {f"conv{i}.weight" for i in range(1, 6)}

    assert decay_parameter_groups(DualCamNet(), 5e-4)[0]["weight_decay"] == 0.0

    pair = nn.ModuleDict({"video": ResNet18(width=8), "audio": HearNet(), "acoustic": DualCamNet()})
    pair["acoustic"].requires_grad_(False)
    groups = decay_parameter_groups(pair, 5e-4)
    total = sum(p.numel() for g in groups for p in g["params"])
    trainable = sum(p.numel() for p in pair.parameters() if p.requires_grad)
    assert total == trainable and len(groups[0]["params"]) == 16 + 5


def test_bf16_autocast_forward() -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert ResNet18(output_stride=8, width=8)(torch.randn(2, 3, 112, 149)).shape == (2, 128, 12, 16)
        assert DualCamNet(num_classes=3)(torch.randn(12, 12, 36, 48)).shape == (12, 3)
        assert HearNet()(torch.randn(2, 257, 200)).shape == (2, 128)


def test_decay_groups_equal_tf_l2_regulariser_in_adam() -> None:
    torch.manual_seed(3)
    net = HearNet().double()  # float64: Adam's m/√v amplifies rounding noise where gradients are ~0
    twin = HearNet().double()
    twin.load_state_dict(net.state_dict())
    x = torch.randn(2, 257, 125, dtype=torch.float64)
    grouped = torch.optim.Adam(decay_parameter_groups(net, 5e-4), lr=1e-2)
    plain = torch.optim.Adam(twin.parameters(), lr=1e-2)
    for _ in range(2):
        grouped.zero_grad()
        net(x).square().mean().backward()
        grouped.step()
        plain.zero_grad()
        l2 = sum(p.square().sum() for p in weight_decay_parameters(twin)) * 5e-4 / 2  # TF: s·Σw²/2
        (twin(x).square().mean() + l2).backward()
        plain.step()
    for a, b in zip(net.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_he_init_option_scales_with_fan_in_and_rejects_unknown_schemes() -> None:
    from acoustic_ssl.models import DualCamNet, HearNet

    original, he = HearNet(num_classes=10), HearNet(num_classes=10, init="he")
    assert abs(original.fc1.weight.std().item() - 0.01) < 0.002
    assert abs(he.fc1.weight.std().item() - (2.0 / 1024) ** 0.5) < 0.01
    assert DualCamNet(init="he").conv2.weight.std().item() > 5 * DualCamNet().conv2.weight.std().item()
    with pytest.raises(ValueError, match="init"):
        HearNet(init="xavier")
