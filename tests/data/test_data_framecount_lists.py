"""framecount files and split lists (generation, disjointness, stratification, determinism, re-rooting)."""

from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from acoustic_ssl.cli import main
from acoustic_ssl.data import framecount, make_lists, read_list, reroot_lists
from acoustic_ssl.data.lists import duplicate_entries, original_split, split_counts
from acoustic_ssl.errors import AcousticSSLWarning, DataError

# The released ACIVW split lists, in the project's shared folder beside the repository (CI lays it there too).
REFERENCE_LISTS = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "lists"


def _touch_records(root: Path, videos: dict[tuple[int, int], int]) -> None:
    """Empty record files are enough for counting and listing."""
    for (class_index, location), seconds in videos.items():
        video_dir = root / f"class_{class_index}" / f"data_{location:03d}"
        video_dir.mkdir(parents=True)
        for second in range(1, seconds + 1):
            (video_dir / f"Data_{second:03d}.tfrecord").touch()


def test_framecount_raw_writes_the_original_files(tmp_path: Path) -> None:
    for (class_index, location), frames in {(0, 0): 30, (0, 1): 12, (1, 5): 60, (1, 6): 1}.items():
        video = tmp_path / f"class_{class_index}" / f"data_{location:03d}" / "video"
        video.mkdir(parents=True)
        for frame in range(1, frames + 1):
            (video / f"I_{frame:06d}.bmp").touch()
    result = framecount(tmp_path, "raw")
    assert [c.videos for c in result.classes] == [{0: 2, 1: 1}, {5: 5, 6: 0}]
    assert (tmp_path / "class_0" / "data_000" / "video_time.txt").read_text() == "video seconds: 2"
    assert (tmp_path / "class_1" / "class_time.txt").read_text() == "class seconds: 5"
    c0, c1 = f"{tmp_path}/class_0/", f"{tmp_path}/class_1/"
    assert (tmp_path / "datadir.txt").read_text() == (
        f"Number of minimum datadir : 2 in class {c0}\n Number of average datadir : 2.0 \n "
        f"Number of total datadir : 4 \n Number of maximum datadir : 2 in class {c0}\n"
    )
    assert (tmp_path / "timedataset.txt").read_text() == (
        f"Number of average seconds : 4.0 \n Number of maximum seconds : 5 in class {c1}\n "
        f"Number of minimum seconds : 3 in class {c0}"
    )
    assert (tmp_path / "videodataset.txt").read_text() == (
        f"Total 8 Number of average seconds : 2.0 \n Number of maximum seconds : 5 in video {c1}data_005/ "
        f"in class {c1}\n Number of minimum seconds : 2 in video {c0}data_000/ in class {c0}"
    )


def test_framecount_records_and_cli_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _touch_records(tmp_path, {(2, 0): 1, (2, 3): 1})
    assert main(["framecount", str(tmp_path), "--source", "tfrecord"]) == 0
    table = capsys.readouterr().out
    assert "2 drone" in table and "all" in table
    assert (tmp_path / "class_2" / "data_003" / "video_time.txt").read_text() == "video seconds: 1"
    assert "minimum seconds : 1920 in video n/a" in (tmp_path / "videodataset.txt").read_text()
    with pytest.raises(DataError, match="no class_K/data_NNN"):
        framecount(tmp_path / "class_2", "tfrecord")


@pytest.mark.parametrize(
    ("videos", "expected"),
    [(1, (1, 0, 0)), (2, (1, 0, 1)), (3, (1, 1, 1)), (10, (6, 2, 2)), (20, (14, 3, 3))],
)
def test_split_counts(videos: int, expected: tuple[int, int, int]) -> None:
    assert split_counts(videos, (0.7, 0.15, 0.15)) == expected
    train, val, test = split_counts(videos, (0.7, 0.15, 0.15))
    assert train + val + test == videos and train >= 1
    assert split_counts(4, (0.1, 0.45, 0.45))[0] >= 1


@pytest.mark.parametrize(
    ("videos", "fractions", "expected"),
    [
        (7, (6, 1, 0), (6, 1, 0)),  # long training recordings, no test videos (a separate test tree)
        (7, (0.9, 0.0, 0.1), (6, 0, 1)),  # no validation videos
        (40, (0, 0, 1), (0, 0, 40)),  # a test-only tree
        (5, (0, 0.4, 0.6), (0, 2, 3)),
        (1, (0, 0, 1), (0, 0, 1)),
        (2, (1, 1, 0), (1, 1, 0)),
    ],
)
def test_a_split_of_share_zero_gets_no_video(
    videos: int, fractions: tuple[float, float, float], expected: tuple[int, int, int]
) -> None:
    assert split_counts(videos, fractions) == expected


def _video(path: Path) -> tuple[str, str]:
    return path.parent.parent.name, path.parent.name


def test_make_lists_is_disjoint_stratified_complete_and_deterministic(tmp_path: Path) -> None:
    root = tmp_path / "records"
    lengths = {(c, loc): 3 + (7 * c + 5 * loc) % 6 for c in range(3) for loc in range(6)}
    lengths[(3, 0)], lengths[(3, 1)] = 4, 1  # a class with two videos, one shorter than a block
    _touch_records(root, lengths)
    splits = make_lists(root, tmp_path / "lists", seed=3)
    videos = {name: {_video(p) for p in paths} for name, paths in splits.items()}
    assert not videos["training"] & videos["validation"]
    assert not videos["training"] & videos["testing"]
    assert not videos["validation"] & videos["testing"]
    for class_index in range(3):
        for name in splits:
            assert any(v[0] == f"class_{class_index}" for v in videos[name]), (class_index, name)
    assert ("class_3", "data_000") in videos["training"]
    assert all(("class_3", "data_001") not in v for v in videos.values())  # 1 s < total_length
    for name, paths in splits.items():
        assert read_list(tmp_path / "lists" / f"{name}.txt") == paths
        per_video = Counter(_video(p) for p in paths)
        for (class_name, data_name), count in per_video.items():
            length = lengths[(int(class_name[6:]), int(data_name[5:]))]
            assert count == length // 2 * 2  # complete video, cut to a multiple of total_length
        seconds = [int(p.stem[5:]) for p in paths]
        starts = [i for i, p in enumerate(paths) if i == 0 or _video(paths[i - 1]) != _video(p)]
        for start in starts:
            n = per_video[_video(paths[start])]
            assert seconds[start : start + n] == list(range(1, n + 1))  # in order from the first second
    again = make_lists(root, tmp_path / "again", seed=3)
    assert again == splits
    assert (tmp_path / "again" / "testing.txt").read_bytes() == (
        tmp_path / "lists" / "testing.txt"
    ).read_bytes()
    other = make_lists(root, tmp_path / "other", seed=4)
    assert other != splits


def test_the_original_split_rule_by_hand() -> None:
    # 120 s: training budget 90 s, validation 15 s (half the remaining 30)
    videos = [(7, 2), (0, 40), (3, 10), (1, 30), (5, 6), (2, 20), (4, 8), (6, 4)]
    assert original_split(videos) == {
        "training": [0, 1, 3, 4],  # 40 + 30; 20 would reach 90; then 10 and 8 fit (88 s)
        "validation": [2],  # the first video that does not fit training goes in whatever its length
        "testing": [5, 6, 7],
    }
    assert original_split([(0, 100), (1, 4)]) == {"training": [0], "validation": [1], "testing": []}
    assert original_split([(2, 6), (1, 6)])["training"] == [1]  # equal lengths: location order


def test_make_lists_original_method_on_a_generated_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(5)
    lengths = {(c, loc): 2 * int(rng.integers(1, 40)) for c in range(3) for loc in range(25)}
    _touch_records(tmp_path / "r", lengths)
    assert main(["lists", str(tmp_path / "r"), str(tmp_path / "l"), "--method", "original"]) == 0
    assert "training" in capsys.readouterr().out
    names = ("training", "validation", "testing")
    splits = {name: read_list(tmp_path / "l" / f"{name}.txt") for name in names}
    for c in range(3):
        total = sum(n for (k, _), n in lengths.items() if k == c)
        longest = max(n for (k, _), n in lengths.items() if k == c)
        seconds = {name: sum(1 for p in paths if p.parent.parent.name == f"class_{c}")
                   for name, paths in splits.items()}
        # greedy: below each budget, and short of it by less than the longest video left out
        assert total * 0.75 - longest <= seconds["training"] < total * 0.75
        valid_videos = {p.parent for p in splits["validation"] if p.parent.parent.name == f"class_{c}"}
        assert seconds["validation"] < total * 0.125 or len(valid_videos) == 1  # the first goes in anyway
        assert seconds["testing"] == total - seconds["training"] - seconds["validation"]
        assert abs(seconds["testing"] / total - 0.125) < 0.1
        order = [int(p.parent.name[5:]) for p in splits["training"] if p.parent.parent.name == f"class_{c}"]
        blocks = list(dict.fromkeys(order))
        assert [lengths[(c, v)] for v in blocks] == sorted((lengths[(c, v)] for v in blocks), reverse=True)
    videos = [{_video(p) for p in paths} for paths in splits.values()]
    assert not (videos[0] & videos[1] or videos[0] & videos[2] or videos[1] & videos[2])
    assert sum(len(paths) for paths in splits.values()) == sum(lengths.values())
    # no seed: the same lists every time; and the shares can be scaled
    assert make_lists(tmp_path / "r", tmp_path / "again", method="original", seed=9) == splits
    half = make_lists(tmp_path / "r", tmp_path / "half", method="original", fractions=(0.5, 0.25, 0.25))
    assert len(half["training"]) < 0.5 * sum(lengths.values())


def test_make_lists_honours_total_length_and_stops_at_gaps(tmp_path: Path) -> None:
    _touch_records(tmp_path / "r", {(0, 0): 7, (0, 1): 9, (0, 2): 3})
    (tmp_path / "r" / "class_0" / "data_001" / "Data_005.tfrecord").unlink()  # seconds 1-4, then 6-9
    splits = make_lists(tmp_path / "r", tmp_path / "l", total_length=3)
    assert all(len(paths) % 3 == 0 for paths in splits.values())
    assert sum(len(p) for p in splits.values()) == 6 + 3 + 3


def test_read_list_reroots_original_paths(tmp_path: Path) -> None:
    lst = tmp_path / "testing.txt"
    lst.write_text(
        "/dataset/class_0/data_006/Data_001.tfrecord\n/Dataset/class_9/data_042/Data_012.tfrecord\n\n"
    )
    assert read_list(lst, root=tmp_path / "local") == [
        tmp_path / "local" / "class_0" / "data_006" / "Data_001.tfrecord",
        tmp_path / "local" / "class_9" / "data_042" / "Data_012.tfrecord",
    ]
    assert read_list(lst)[0] == Path("/dataset/class_0/data_006/Data_001.tfrecord")
    (tmp_path / "rel.txt").write_text("class_1/data_000/Data_001.tfrecord\n")
    assert read_list(tmp_path / "rel.txt") == [tmp_path / "class_1" / "data_000" / "Data_001.tfrecord"]
    (tmp_path / "bad.txt").write_text("/data/foo/Data_001.tfrecord\n")
    with pytest.raises(DataError, match="class_K"):
        read_list(tmp_path / "bad.txt", root=tmp_path)


@pytest.mark.skipif(not REFERENCE_LISTS.is_dir(), reason="reference lists not available")
def test_reroot_the_released_lists(tmp_path: Path) -> None:
    splits = reroot_lists(REFERENCE_LISTS, tmp_path / "acivw", tmp_path / "lists", check=False)
    assert {k: len(v) for k, v in splits.items()} == {"training": 13256, "validation": 2424, "testing": 2798}
    first = (tmp_path / "lists" / "testing.txt").read_text().splitlines()[0]
    assert first == f"{tmp_path}/acivw/class_0/data_006/Data_001.tfrecord"
    with pytest.raises(DataError, match=r"training\.txt: 13256 of 13256 records are missing"):
        reroot_lists(REFERENCE_LISTS, tmp_path / "acivw", tmp_path / "lists2")


@pytest.mark.skipif(not REFERENCE_LISTS.is_dir(), reason="reference lists not available")
def test_the_original_rule_on_the_released_lists_lengths() -> None:
    """The released lists follow the rule up to a few videos per class (their lengths are the listed,
    even, seconds, not the raw ones the original counted)."""
    released: dict[int, dict[int, list]] = {}
    for name in ("training", "validation", "testing"):
        for path in read_list(REFERENCE_LISTS / f"{name}.txt", root="/r"):
            video = released.setdefault(int(path.parent.parent.name[6:]), {})
            video.setdefault(int(path.parent.name[5:]), [name, 0])[1] += 1
    for videos in released.values():
        ours = original_split([(loc, n) for loc, (_, n) in videos.items()])
        where = {loc: name for name, locs in ours.items() for loc in locs}
        assert sum(where[loc] != name for loc, (name, _) in videos.items()) <= 9


def test_cli_lists_generates_and_reroots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _touch_records(tmp_path / "r", {(0, loc): 2 for loc in range(3)})
    monkeypatch.chdir(tmp_path)
    assert main(["lists", "r", "l", "--seed", "1"]) == 0  # relative arguments, absolute paths in the lists
    assert "training" in capsys.readouterr().out
    listed = [p for name in ("training", "testing") for p in read_list(tmp_path / "l" / f"{name}.txt")]
    assert listed and all(p.is_absolute() and p.is_file() for p in listed)
    original = tmp_path / "orig"
    original.mkdir()
    for name in ("training", "validation", "testing"):
        prefix = "/dataset" if name == "testing" else "/Dataset"
        (original / f"{name}.txt").write_text(f"{prefix}/class_0/data_00{len(name) % 3}/Data_001.tfrecord\n")
    assert main(["lists", str(tmp_path / "r"), str(tmp_path / "l2"), "--from-lists", str(original)]) == 0
    assert read_list(tmp_path / "l2" / "testing.txt") == [
        tmp_path / "r" / "class_0" / "data_001" / "Data_001.tfrecord"
    ]


def test_list_with_a_byte_order_mark_reads_its_first_path(tmp_path: Path) -> None:
    record = tmp_path / "r" / "class_0" / "data_001" / "Data_001.tfrecord"
    list_file = tmp_path / "bom.txt"
    second = record.with_name("Data_002.tfrecord")
    list_file.write_bytes(b"\xef\xbb\xbf" + f"{record}\r\n{second}\r\n".encode())  # as Windows Notepad saves
    assert read_list(list_file) == [record, second]
    list_file.write_bytes(b"\xff\xfe" + "C:/x".encode("utf-16-le"))
    with pytest.raises(DataError, match=r"bom\.txt: not a UTF-8 text list"):
        read_list(list_file)


def test_lists_over_a_folder_name_that_is_not_utf8_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = Path(os.fsdecode(os.fsencode(tmp_path) + b"/rec\xff"))
    _touch_records(root, {(0, loc): 2 for loc in range(3)})
    assert main(["lists", str(root), str(tmp_path / "lists")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"acoustic-ssl lists: error: {tmp_path}/rec\\xff: path is not valid UTF-8 and cannot be written to a "
        "list file; rename the folder"
    ]
    assert not (tmp_path / "lists").exists()


def test_a_record_listed_twice_is_warned_once_and_counted(tmp_path: Path) -> None:
    records = [tmp_path / "r" / "class_0" / "data_001" / f"Data_00{s}.tfrecord" for s in (1, 2)]
    list_file = tmp_path / "twice.txt"
    list_file.write_text("".join(f"{p}\n" for p in [*records, *records, records[0]]))
    expected = r"twice\.txt: 2 record\(s\) listed more than once \(first: .*Data_001.*, entries 1 and 3\)"
    with pytest.warns(AcousticSSLWarning, match=expected):
        assert read_list(list_file) == [*records, *records, records[0]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_list(list_file)  # once per list, not at every epoch
    assert duplicate_entries(read_list(list_file)) == {records[0]: [1, 3, 5], records[1]: [2, 4]}
