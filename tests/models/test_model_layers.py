"""TF-compatibility layers: SAME max pooling, truncated-normal initialisers, BatchNorm eval switch."""

from __future__ import annotations

import math

import pytest
import torch

from acoustic_ssl.models.layers import (
    BatchNorm2d,
    he_trunc_normal_,
    tf_same_max_pool2d,
    tf_same_pads,
    trunc_normal_,
)


def naive_tf_same_max_pool(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Explicit TF SAME pooling: out = ceil(n/s), window start = i·s − pad_before, outside cells ignored."""
    n, c, h, w = x.shape
    top = tf_same_pads(h, kernel, stride)[0]
    left = tf_same_pads(w, kernel, stride)[0]
    out_h, out_w = math.ceil(h / stride), math.ceil(w / stride)
    out = torch.empty(n, c, out_h, out_w)
    for i in range(out_h):
        for j in range(out_w):
            r0, c0 = i * stride - top, j * stride - left
            rows = slice(max(r0, 0), min(r0 + kernel, h))
            cols = slice(max(c0, 0), min(c0 + kernel, w))
            out[:, :, i, j] = x[:, :, rows, cols].amax(dim=(2, 3))
    return out


def test_tf_same_pads_put_the_odd_cell_after() -> None:
    assert tf_same_pads(112, 3, 2) == (0, 1)
    assert tf_same_pads(149, 3, 2) == (1, 1)
    assert tf_same_pads(10, 4, 1) == (1, 2)


@pytest.mark.parametrize(
    ("size", "kernel", "stride"),
    [((112, 149), 3, 2), ((7, 8), 3, 2), ((9, 9), 3, 2), ((5, 6), 2, 2), ((6, 7), 4, 1), ((8, 5), 5, 3)],
)
def test_tf_same_max_pool_matches_explicit_windows(size: tuple[int, int], kernel: int, stride: int) -> None:
    x = torch.randn(2, 3, *size) - 1.0  # mostly negative: zero padding instead of −∞ would show
    expected = naive_tf_same_max_pool(x, kernel, stride)
    torch.testing.assert_close(tf_same_max_pool2d(x, kernel, stride), expected, rtol=0, atol=0)


def test_tf_same_max_pool_differs_from_symmetric_torch_padding() -> None:
    x = torch.randn(1, 1, 8, 8)
    ours = tf_same_max_pool2d(x, 3, 2)
    torch_sym = torch.nn.functional.max_pool2d(x, 3, 2, padding=1)
    assert ours.shape == torch_sym.shape and not torch.equal(ours, torch_sym)


def test_truncated_normal_initialisers_stay_within_two_sigma() -> None:
    w = torch.empty(64, 32, 3, 3)
    trunc_normal_(w, std=0.01)
    assert w.abs().max() <= 0.02
    he_trunc_normal_(w)
    std = math.sqrt(2.6 / (32 * 9))
    assert w.abs().max() <= 2 * std
    assert 0.7 * std < w.std() < 1.0 * std  # truncation at 2σ leaves ≈ 0.88σ


def test_batchnorm_batch_stats_at_eval_switch() -> None:
    bn = BatchNorm2d(4)
    bn.train()
    bn(torch.randn(8, 4, 5, 5) * 3 + 2)  # move the running statistics away from (0, 1)
    bn.eval()
    x = torch.randn(6, 4, 5, 5)
    running = bn.running_mean.clone()
    with torch.no_grad():
        default = bn(x)
        bn.batch_stats_at_eval = True
        batch_mode = bn(x)
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    torch.testing.assert_close(batch_mode, (x - mean) / torch.sqrt(var + bn.eps))
    assert not torch.allclose(default, batch_mode)
    torch.testing.assert_close(bn.running_mean, running)  # eval never updates the running statistics
