"""Series sources: the official UCR / UEA formats, CSV and arrays; NaN kept; named errors for malformed files."""

import numpy as np
import pytest

from selfsup.data import DataError
from selfsup.data.series import SeriesDataset, is_series_file, load_series, write_ucr_tsv
from selfsup.modalities import modality_for


def test_ucr_tsv_round_trip_of_a_real_dataset_keeps_values_labels_and_split(shared_data, tmp_path):
    """GunPoint from the archive's npz, written in the official .tsv layout, reads back the same."""
    d = np.load(shared_data / "ucr2018" / "GunPoint.npz")
    folder = tmp_path / "GunPoint"
    folder.mkdir()
    labels = d["original_labels"]
    for split in ("train", "test"):
        write_ucr_tsv(folder / f"GunPoint_{split.upper()}.tsv", d[f"x_{split}"],
                      [int(v) for v in labels[d[f"y_{split}"]]])
    tr, te = load_series(folder), load_series(folder, split="test")
    assert tr.values.shape == (50, 1, 150) and te.values.shape == (150, 1, 150)
    np.testing.assert_allclose(tr.values[:, 0], d["x_train"], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(tr.labels, d["y_train"])
    np.testing.assert_array_equal(te.labels, d["y_test"])
    assert tr.class_names == ["1", "2"] and "50 series, 1 channel, length 150" in tr.summary
    assert is_series_file(folder) and modality_for(str(folder)).name == "series"


def test_ucr_tsv_with_nan_and_padding_keeps_them_missing(tmp_path):
    f = tmp_path / "X_TRAIN.tsv"
    f.write_text("1\t0.5\t1.5\tNaN\tNaN\n-1\t2\tNaN\t3\t4\n")
    ds = load_series(f)
    assert ds.values.shape == (2, 1, 4)
    assert np.isnan(ds.values[0, 0, 2:]).all() and np.isnan(ds.values[1, 0, 1])
    assert list(ds.lengths()) == [2, 4]
    assert ds.class_names == ["-1", "1"] and list(ds.labels) == [1, 0]
    assert "lengths 2-4" in ds.summary and "1 missing values" in ds.summary


@pytest.mark.parametrize("content,match", [
    ("1\t0.5\t1.5\n2\t0.1\n", r"line 2: 1 values, but line 1 has 2"),
    ("1\t0.5\tabc\n", r"line 1, value 2: 'abc' is not a number"),
    ("1\t0.5\t1\n2\n", r"line 2: a label \('2'\) with no values"),
    ("\t0.5\t1\n", r"line 1: the first column \(the class label\) is empty"),
])
def test_malformed_ucr_tsv_names_the_line_and_the_fix(tmp_path, content, match):
    f = tmp_path / "bad_TRAIN.tsv"
    f.write_text(content)
    with pytest.raises(DataError, match=match) as e:
        load_series(f)
    assert str(f) in str(e.value)


TS_FILE = """# a comment
@problemName Toy
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true walk run
@data
1,2,3:4,5,6:walk
1,?,3,4:7,8,9,10:run
"""


def test_uea_ts_multivariate_unequal_lengths_and_missing_values(tmp_path):
    f = tmp_path / "Toy_TRAIN.ts"
    f.write_text(TS_FILE)
    ds = load_series(f)
    assert ds.values.shape == (2, 2, 4)
    assert np.isnan(ds.values[0, :, 3]).all() and np.isnan(ds.values[1, 0, 1])
    np.testing.assert_array_equal(ds.values[1, 1], [7, 8, 9, 10])
    assert ds.class_names == ["run", "walk"] and list(ds.labels) == [1, 0]
    assert list(ds.lengths()) == [3, 4]
    assert modality_for(str(f)).name == "series"


@pytest.mark.parametrize("data_line,match", [
    ("1,2,3:walk", r"line 10: 1 channels, but the header says @dimensions 2"),
    ("1,x,3:4,5,6:walk", r"line 10, channel 1, value 2: 'x' is not a number"),
    ("1,2:3,4:jump", r"line 10: label 'jump' is not among the @classLabel values walk run"),
    ("walk", r"line 10: a label with no values"),
])
def test_malformed_ts_names_the_line(tmp_path, data_line, match):
    f = tmp_path / "bad.ts"
    f.write_text(TS_FILE.split("@data")[0] + "@data\n" + data_line + "\n")
    with pytest.raises(DataError, match=match):
        load_series(f)


def test_ts_without_data_section_and_timestamped_ts_are_named_errors(tmp_path):
    f = tmp_path / "a.ts"
    f.write_text("@problemName x\n@classLabel true a\n")
    with pytest.raises(DataError, match="no @data line"):
        load_series(f)
    f.write_text("@timeStamps true\n@data\n(0,1),(1,2):a\n")
    with pytest.raises(DataError, match="@timeStamps true"):
        load_series(f)


def test_wide_csv_with_header_label_column_and_empty_cells(tmp_path):
    f = tmp_path / "s.csv"
    f.write_text("t0,t1,t2,label\n1,2,3,a\n4,,6,b\n")
    ds = load_series(f)
    assert ds.values.shape == (2, 1, 3) and np.isnan(ds.values[1, 0, 1])
    assert ds.class_names == ["a", "b"] and list(ds.labels) == [0, 1]
    nolabel = tmp_path / "n.csv"
    nolabel.write_text("1,2,3\n4,5,6\n")
    ds = load_series(nolabel)
    assert ds.values.shape == (2, 1, 3) and not ds.has_labels
    with pytest.raises(DataError, match="row 3: 2 columns, but the header has 4"):
        f.write_text("t0,t1,t2,label\n1,2,3,a\n4,5\n")
        load_series(f)
    with pytest.raises(DataError, match=r"row 2, value 3: 'x' is not a number"):
        f.write_text("t0,t1,t2,label\n1,2,x,a\n")
        load_series(f)
    with pytest.raises(DataError, match="no column named 'cls'"):
        load_series(nolabel, label_column="cls")


def test_arrays_lists_of_unequal_length_and_npz_splits(tmp_path):
    ds = SeriesDataset.from_arrays([np.arange(3.0), np.arange(5.0)], ["b", "a"])
    assert ds.values.shape == (2, 1, 5) and np.isnan(ds.values[0, 0, 3:]).all()
    assert ds.class_names == ["a", "b"] and list(ds.labels) == [1, 0]
    np.savez(tmp_path / "d.npz", x_train=np.zeros((4, 3, 10), np.float32), y_train=np.array([0, 1, 0, 1]),
             x_test=np.ones((2, 3, 10), np.float32), y_test=np.array([1, 0]))
    tr, te = load_series(tmp_path / "d.npz"), load_series(str(tmp_path / "d.npz") + ":test")
    assert tr.values.shape == (4, 3, 10) and te.values.shape == (2, 3, 10) and list(te.labels) == [1, 0]
    assert modality_for(str(tmp_path / "d.npz")).name == "series"
    ntc = load_series(tmp_path / "d.npz", channels_first=False)
    assert ntc.values.shape == (4, 10, 3)
    with pytest.raises(DataError, match="infinite value"):
        SeriesDataset.from_arrays(np.array([[1.0, np.inf]]))
    with pytest.raises(DataError, match="same number of channels"):
        SeriesDataset.from_arrays([np.zeros((2, 3)), np.zeros((1, 3))])


def test_test_split_labels_follow_the_training_classes():
    tr = SeriesDataset.from_arrays(np.zeros((3, 4)), ["x", "y", "z"])
    te = SeriesDataset.from_arrays(np.zeros((2, 4)), ["z", "y"])
    assert te.class_names == ["y", "z"] and list(te.labels) == [1, 0]
    aligned = te.with_classes(tr.class_names)
    assert list(aligned.labels) == [2, 1]
    with pytest.raises(DataError, match="class\\(es\\) w do not occur in the training data"):
        SeriesDataset.from_arrays(np.zeros((1, 4)), ["w"]).with_classes(tr.class_names)
