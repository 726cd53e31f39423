"""Data: reading files, the rules for values and labels, the preprocessing fit on the
training rows, and the Dataset a run trains on."""

from nncli.data.dataset import Dataset, Split, load_dataset, split_indices
from nncli.data.labels import class_indices, infer_task, sort_classes
from nncli.data.locate import describe_value, row_location
from nncli.data.preprocess import Preprocessor
from nncli.data.read import iter_features, read_features, read_raw
from nncli.data.values import MISSING, is_missing, is_number, parse_number

__all__ = [
    "MISSING",
    "Dataset",
    "Preprocessor",
    "Split",
    "class_indices",
    "describe_value",
    "infer_task",
    "is_missing",
    "is_number",
    "iter_features",
    "load_dataset",
    "parse_number",
    "read_features",
    "read_raw",
    "row_location",
    "sort_classes",
    "split_indices",
]
