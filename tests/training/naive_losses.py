"""Naive references for the training tests: the losses of spec §5 as Python loops over samples and frames.

They share no code with ``acoustic_ssl.training`` (only the tested attention distance and the networks'
single-item ``outputs``), so the objectives and the trainer can be checked against them.
"""

from __future__ import annotations

import math

import torch


def naive_batch_all(d: torch.Tensor, same: torch.Tensor, margin: float) -> tuple[float, float]:
    """(loss, accuracy) by enumerating every (anchor i, positive j, negative k)."""
    total, positive, valid = 0.0, 0, 0
    n, m = d.shape
    for i in range(n):
        for j in range(m):
            for k in range(m):
                if same[i, j] and not same[i, k]:
                    valid += 1
                    term = max(float(d[i, j] - d[i, k]) + margin, 0.0)
                    total += term
                    positive += term > 1e-16
    return total / (positive + 1e-16), 1.0 - positive / (valid + 1e-16)


def naive_batch_hard(d: torch.Tensor, same: torch.Tensor, margin: float) -> float:
    """Mean over anchors of ReLU(farthest positive − nearest negative + margin)."""
    losses = []
    for i in range(d.shape[0]):
        positives = [float(d[i, j]) for j in range(d.shape[1]) if same[i, j]]
        negatives = [float(d[i, k]) for k in range(d.shape[1]) if not same[i, k]]
        hp = max([*positives, 0.0])
        hn = min(negatives) if negatives else float(d[i].max()) + min(float(x) for x in d[i])
        losses.append(max(hp - hn + margin, 0.0))
    return sum(losses) / len(losses)


def naive_triplet(d: torch.Tensor, same: torch.Tensor, margin: float, hard: bool) -> float:
    return naive_batch_hard(d, same, margin) if hard else naive_batch_all(d, same, margin)[0]


def naive_same_recording(labels: list[int], locations: list[int]) -> torch.Tensor:
    """same[i, j]: samples i and j come from one recording (same class and same location)."""
    n = len(labels)
    return torch.tensor(
        [[labels[i] == labels[j] and locations[i] == locations[j] for j in range(n)] for i in range(n)]
    )


def unit(v: torch.Tensor) -> torch.Tensor:
    return v / math.sqrt(float((v.double() ** 2).sum()))


def naive_vector_distances(a: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """‖a_i/|a_i| − t_j/|t_j|‖² [B, B] (the transfer loss's audio–acoustic distance)."""
    au, tu = [unit(v) for v in a], [unit(v) for v in t]
    return torch.tensor([[float(((x - y) ** 2).sum()) for y in tu] for x in au])


def naive_cross_entropy(s: torch.Tensor, y: torch.Tensor) -> float:
    total = 0.0
    for b in range(s.shape[0]):
        log_z = math.log(sum(math.exp(float(x)) for x in s[b]))
        total -= float(s[b, int(y[b])]) - log_z
    return total / s.shape[0]


def naive_distillation(
    s: torch.Tensor, y: torch.Tensor, t: torch.Tensor, lam: float, temp: float, average: str
) -> float:
    """(1 − λ)·CE(labels) + λ·CE(teacher targets), teacher logits per frame t [B, F, C]."""
    total_hard, total_soft = 0.0, 0.0
    for b in range(s.shape[0]):
        log_p = [float(v) - math.log(sum(math.exp(float(x)) for x in s[b])) for v in s[b]]
        if average == "softmax":
            q = [0.0] * s.shape[1]
            for f in range(t.shape[1]):
                z = sum(math.exp(float(x) / temp) for x in t[b, f])
                for c in range(s.shape[1]):
                    q[c] += math.exp(float(t[b, f, c]) / temp) / z / t.shape[1]
        else:
            mean = [float(t[b, :, c].mean()) / temp for c in range(s.shape[1])]
            z = sum(math.exp(x) for x in mean)
            q = [math.exp(x) / z for x in mean]
        total_hard -= log_p[int(y[b])]
        total_soft -= sum(qc * lp for qc, lp in zip(q, log_p, strict=True))
    n = s.shape[0]
    return (1 - lam) * total_hard / n + lam * total_soft / n


@torch.no_grad()
def pooled(net: torch.nn.Module, x: torch.Tensor, key: str) -> torch.Tensor:
    """Per sample: the mean over its frames of ``net.outputs(...)[key]`` (frame modalities [B, F, ...]: all
    B·F frames in one call, as BatchNorm in training mode sees them; a spectrogram [B, 257, T] has none)."""
    if x.dim() == 3:
        return net.outputs(x)[key].float()
    b, f = x.shape[:2]
    out = net.outputs(x.flatten(0, 1))[key].double()
    return out.reshape(b, f, *out.shape[1:]).mean(dim=1).float()


@torch.no_grad()
def per_frame(net: torch.nn.Module, x: torch.Tensor, key: str) -> torch.Tensor:
    """``net.outputs(...)[key]`` of every frame of every sample [B, F, ...]."""
    b, f = x.shape[:2]
    out = net.outputs(x.flatten(0, 1))[key].float()
    return out.reshape(b, f, *out.shape[1:])


def tiled(a: torch.Tensor, grid: tuple[int, int] = (12, 16)) -> torch.Tensor:
    """HearNet's audio map: ReLU(a) at every cell of the grid [B, 128, H, W]."""
    return torch.relu(a)[:, :, None, None].expand(*a.shape, *grid)


def naive_project(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """A linear projection of vectors [B, D] (or, with a 1×1 convolution's weight, of every cell of maps
    [B, D, H, W]) by loops over the output channels."""
    w = weight.reshape(weight.shape[0], -1).double()
    if x.dim() == 2:
        return torch.stack([x.double() @ w[o] + bias[o] for o in range(w.shape[0])], dim=1)
    channels = [torch.einsum("bdhw,d->bhw", x.double(), w[o]) + bias[o] for o in range(w.shape[0])]
    return torch.stack(channels, dim=1)


def naive_max_cosine(audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
    """s[i, j] = max over the cells p of video j of cos(audio_i, video_j[:, p]), cell by cell."""
    b, g = audio.shape[0], video.shape[0]
    s = torch.zeros(b, g, dtype=torch.float64)
    for i in range(b):
        a = audio[i].double()
        for j in range(g):
            cells = video[j].double().flatten(1).T  # [P, D]
            s[i, j] = max(float(a @ c) / math.sqrt(float(a @ a) * float(c @ c)) for c in cells)
    return s


def naive_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """cos(a_i, b_j) [B, B'] of vectors, pair by pair."""
    rows = [[float(unit(x.double()) @ unit(y.double())) for y in b] for x in a]
    return torch.tensor(rows, dtype=torch.float64)


def naive_info_nce(s: torch.Tensor, same: torch.Tensor, temperature: float) -> float:
    """Σ over both directions (rows audio → columns video, and back) of the mean over anchors of
    −mean_{positives p} log(exp(s_ip/τ) / Σ_j exp(s_ij/τ))."""
    total = 0.0
    for sim, pos in ((s, same), (s.T, same.T)):
        for i in range(sim.shape[0]):
            log_z = math.log(sum(math.exp(float(x) / temperature) for x in sim[i]))
            terms = [float(sim[i, j]) / temperature - log_z for j in range(sim.shape[1]) if pos[i, j]]
            total -= sum(terms) / len(terms) / sim.shape[0]
    return total


def naive_retrieval_accuracy(s: torch.Tensor, same: torch.Tensor) -> float:
    """Share of rows whose largest entry is a positive."""
    return sum(bool(same[i, int(s[i].argmax())]) for i in range(s.shape[0])) / s.shape[0]
