"""Ordinary videos end to end: generate files -> import-video -> lists/stats -> train (``test`` preset) ->
extract -> evaluate (kNN, retrieval) -> evaluate --boxes in the three annotation formats."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from acoustic_ssl.cli import main
from acoustic_ssl.data.synthetic_video import write_synthetic_video
from acoustic_ssl.data.video_import import read_index
from acoustic_ssl.demo.config import load_demo_config, preset_path

pytest.importorskip("av")

LABELS = ("bell", "horn", "whistle")
FORMATS = (".mp4", ".mkv", ".webm", ".mov")
SECONDS = 4


def preset_train_args(run: str, lists: Path, stats: Path, run_dir: Path) -> list[str]:
    """``acoustic-ssl train`` arguments of one run of the demo's ``test`` preset, on our lists."""
    preset = load_demo_config(preset_path("test"))
    spec = preset.runs[run]
    sets = [*preset.train.overrides, *spec.overrides, f"data.train_list={lists / 'training.txt'}",
            f"data.valid_list={lists / 'validation.txt'}", f"data.test_list={lists / 'testing.txt'}",
            f"data.stats_dir={stats}", f"runtime.run_dir={run_dir}", "runtime.save_every=0"]
    return ["train", "--config", str(spec.config), *[a for s in sets for a in ("--set", s)]]


@pytest.mark.slow
def test_videos_import_train_extract_evaluate_and_boxes(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    src, records, lists, stats = (tmp_path / n for n in ("src", "records", "lists", "stats"))
    videos = {}
    for c, label in enumerate(LABELS):
        for j, ext in enumerate(FORMATS):
            path = src / label / f"{label}{j}{ext}"
            fps, size = (25, 30)[j % 2], ((96, 128), (72, 128))[j % 2]
            videos[path.stem] = write_synthetic_video(path, c, classes=3, seconds=SECONDS, fps=fps, size=size,
                                                      seed=j)
    (src / "bell" / "broken.mp4").write_bytes(b"\x00" * 3000)
    write_synthetic_video(src / "horn" / "mute.mp4", 1, audio=False)
    write_synthetic_video(src / "whistle" / "blip.mp4", 2, seconds=0.5)

    assert main(["import-video", str(src), str(records), "--workers", "2"]) == 0
    out = capsys.readouterr()
    assert "15 clips: 12 imported (48 s of records written)" in out.out
    assert out.err.count("skip ") == 3
    assert main(["framecount", str(records), "--source", "tfrecord"]) == 0
    table = capsys.readouterr().out
    assert "0 bell" in table and "2 whistle" in table
    assert main(["lists", str(records), str(lists), "--fractions", "0.5", "0.25", "0.25"]) == 0
    assert main(["stats", str(lists / "training.txt"), str(stats)]) == 0

    video_run, supervised_run = tmp_path / "runs" / "video", tmp_path / "runs" / "supervised"
    assert main(preset_train_args("selfsup_video", lists, stats, video_run)) == 0
    assert main(preset_train_args("supervised", lists, stats, supervised_run)) == 0
    config = json.loads((supervised_run / "config.json").read_text())
    assert config["models"]["model"]["num_classes"] == 3  # "auto": from labels.json, not ACIVW's 10

    checkpoint = video_run / "checkpoints" / "last"
    features = tmp_path / "features_testing.npz"
    assert main(["extract", "--checkpoint", str(checkpoint), "--list", str(lists / "testing.txt"),
                 "--out", str(features)]) == 0
    with np.load(features) as data:
        assert sorted(np.unique(data["labels"]).tolist()) == [0, 1, 2] and "attention_map" in data.files

    # annotations of the testing clips: CSV at two times, VGG-SS and Flickr at the middle frame
    rows = {r["clip"]: r for r in read_index(records)}
    testing = sorted({Path(p).parent for p in (lists / "testing.txt").read_text().split()})
    clips = [next(c for c, r in rows.items() if f"class_{r['class']}/data_{int(r['location']):03d}" in str(d))
             for d in testing]
    assert len(clips) == 3

    def box_at(clip: str, t: float) -> np.ndarray:
        video = videos[clip]
        return video.boxes[min(math.floor(t * video.fps + 1e-9), len(video.boxes) - 1)]

    csv_lines = ["file,frame_time,x0,y0,x1,y1"]
    csv_lines += [f"{c}{videos[c].path.suffix},{t},{','.join(map(str, box_at(c, t)))}"
                  for c in clips for t in (0.5, 1.5)]
    late = f"{clips[0]}{videos[clips[0]].path.suffix},{SECONDS + 1},0,0,5,5"  # after the clip's end
    csv_lines += ["nowhere.mp4,1,0,0,10,10", late]
    (tmp_path / "boxes.csv").write_text("\n".join(csv_lines) + "\n")
    vggss = []
    flickr = tmp_path / "flickr"
    flickr.mkdir()
    for c in clips:
        h, w = videos[c].size
        x0, y0, x1, y1 = box_at(c, SECONDS / 2)
        vggss.append({"file": c, "class": "x", "bbox": [[x0 / w, y0 / h, x1 / w, y1 / h]]})
        pixels = (x0 * 256 / w, y0 * 256 / h, x1 * 256 / w, y1 * 256 / h)  # Flickr: a 256×256 image
        tags = ("xmin", "ymin", "xmax", "ymax")
        box = "".join(f"<{k}>{round(v)}</{k}>" for k, v in zip(tags, pixels, strict=True))
        person = f"<person><bbox><type>object</type>{box}</bbox></person>"
        xml = f"<annotation><file_name>{c}.jpg</file_name>{person * 3}</annotation>"  # three annotators
        (flickr / f"{c}.xml").write_text(xml)
    (tmp_path / "vggss.json").write_text(json.dumps(vggss))

    evaluation = tmp_path / "evaluation"
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--out", str(evaluation), "--knn-k", "1", "3",
                 "--no-probe", "--boxes", str(tmp_path / "boxes.csv")]) == 0
    out = capsys.readouterr()
    assert "1 of 8 annotated clips are not among" in out.err
    late_key = f"{clips[0]}{videos[clips[0]].path.suffix}@5"
    assert (f"1 annotated frames cannot be scored (first: {late_key}: frame time 5 s is outside the imported "
            "clip (0-4 s of its file)); they are left out") in out.err
    assert "boxes (csv, ez protocol): 6 annotated frames" in out.out
    metrics = json.loads((evaluation / "metrics.json").read_text())
    assert 0.0 <= metrics["summary"]["audio_knn_accuracy"] <= 1.0
    assert "recall@1" in metrics["retrieval"]["audio_to_video"]
    block = metrics["localization_boxes"]
    assert (block["n"], block["missing"], block["format"]) == (6, 1, "csv")
    assert 0.0 <= block["success@0.5"] <= 1.0 and 0.0 <= block["auc"] <= 1.0
    assert len(block["success_curve"]) == 21 and block["interval95"]["auc"][0] <= block["auc"]
    per_clip = (evaluation / "boxes_per_clip.csv").read_text().splitlines()
    assert len(per_clip) == 7 and per_clip[1].split(",")[2] == "0.5"
    assert list((evaluation / "localization_boxes").glob("*.png"))

    for name, fmt in (("vggss.json", "vggss"), ("flickr", "flickr")):
        target = tmp_path / f"eval_{fmt}"
        assert main(["evaluate", "--checkpoint", str(checkpoint), "--out", str(target), "--boxes",
                     str(tmp_path / name), "--only-boxes", "--boxes-protocol", "lvs"]) == 0
        result = json.loads((target / "boxes.json").read_text())
        assert (result["n"], result["format"], result["protocol"]) == (3, fmt, "lvs")
        times = [line.split(",")[2] for line in (target / "boxes_per_clip.csv").read_text().splitlines()[1:]]
        assert times == ["2"] * 3  # the middle frame of a 4-s clip
        assert not (target / "metrics.json").exists()  # --only-boxes: no kNN run

    # user errors: one line, exit 2
    supervised = supervised_run / "checkpoints" / "last"
    assert main(["evaluate", "--checkpoint", str(supervised), "--out", str(tmp_path / "x"), "--boxes",
                 str(tmp_path / "vggss.json"), "--only-boxes"]) == 2
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "x"), "--boxes",
                 str(tmp_path / "none.json"), "--only-boxes"]) == 2
    err = capsys.readouterr().err
    assert "localisation needs audio+video networks" in err and "none.json: annotation file not found" in err
    assert "Traceback" not in err
