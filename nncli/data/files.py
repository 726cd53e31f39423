"""Data files as Arrow tables: CSV/TSV (plain or gzip'd), Parquet and Feather, told apart by
content. pyarrow parses (in C++, on every core); when it refuses a CSV, Python's csv module
reads the file again to name the line of the problem (csvtext.py)."""

from __future__ import annotations

import contextlib
import ctypes
import gzip
from collections.abc import Collection, Generator, Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pacsv

from nncli.data.csvtext import first_problem, header_problem
from nncli.data.numbers import NumberBlocks
from nncli.data.values import MISSING, is_text
from nncli.errors import DataError

# The markers pyarrow reads as null, in the spellings files use; values.is_missing decides
# for the rest (any case, surrounding blanks).
NULL_MARKERS = sorted({v for m in MISSING for v in (m, m.upper(), m.title())} | {"NaN"})
# Bytes of CSV per parsed block. pyarrow's 1 MB default costs per block and column: a whole
# 60,000 x 784 file read as text in 1.9 s with 1 MB blocks, 0.5 s with 32 MB ones
# (benchmarks/bench_data.py). A streamed batch (predict) is sized by the header's width,
# about 16 KB a column, between 1 MB and 32 MB: flat memory on files of any length.
READ_BLOCK_BYTES = 32 << 20
# read_numbers' block: on 60,000 x 784 integers the read peaks at 414-439 MB (the process,
# ~105 MB of it before reading) with 8 MB blocks, 518 MB with 16 MB, 727-776 MB read whole
# as text and then cast; `nncli train` on it then peaks at 548 MB (561 MB with 16 MB blocks;
# bench_data.py --parts train; goal 576 MB), and 16 MB blocks read no faster here.
NUMBERS_BLOCK_BYTES = 8 << 20

PARQUET, FEATHER, GZIP = b"PAR1", b"ARROW1", b"\x1f\x8b"
# What reading a CSV raises when pyarrow refuses it (a header that is not UTF-8: when its
# names are read).
REFUSED = (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, EOFError, UnicodeDecodeError)


def file_format(path: str | Path) -> str:
    """'parquet', 'feather' or 'csv' (gzip'd or not), by the file's first bytes."""
    check_file(path)
    try:
        with Path(path).open("rb") as handle:
            head = handle.read(6)
    except OSError as e:
        raise DataError(f"{path}: cannot read the file ({e.strerror or e})") from None
    if head.startswith(PARQUET):
        return "parquet"
    if head.startswith(FEATHER):
        return "feather"
    return "csv"


def check_file(path: str | Path) -> None:
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path}: no such file")
    if p.is_dir():
        raise DataError(f"{path}: is a directory, not a data file")


def read_frame(
    path: str | Path, delimiter: str = ",", columns: list[str] | None = None
) -> pa.Table:
    """The whole file as one Arrow table. A CSV's columns are read as text (nulls for the
    missing markers), exactly as the file spells them: nncli decides what each column means,
    and labels keep their text ("1.0" stays "1.0"); Parquet and Feather keep their types."""
    kind = file_format(path)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            return _checked(path, pq.read_table(path))
        if kind == "feather":
            import pyarrow.feather as feather

            return _checked(path, feather.read_table(path))
        header = csv_header(path, delimiter)
        if not header:
            raise DataError(f"{path}: the file is empty")
        with open_csv_bytes(path) as handle:
            table = pacsv.read_csv(
                handle,
                read_options=pacsv.ReadOptions(block_size=READ_BLOCK_BYTES),
                parse_options=_parse_options(delimiter),
                convert_options=_convert(header, columns),
            )
        return _checked(path, table)
    except REFUSED as exc:
        raise csv_error(path, delimiter, exc) from None


def read_numbers(path: str | Path, delimiter: str, texts: Collection[str]) -> pa.Table:
    """read_frame, with every column but `texts` that holds numbers only cast a block at a
    time as the file is read (numbers.NumberBlocks), so a wide file of numbers is never held
    whole as text: 60,000 x 784 integers take 188 MB as float32, 296 MB as text. A column
    with other text anywhere keeps its texts as written (read again alone)."""
    if file_format(path) != "csv" or not csv_header(path, delimiter):
        return read_frame(path, delimiter)  # (an empty CSV: its one message)
    chunks: dict[str, list[Any]] = {}
    words = set(texts)  # the columns read as text: `texts`, and those holding other text
    numbers = NumberBlocks()
    for block in stream_frames(path, delimiter, NUMBERS_BLOCK_BYTES):
        names = block.column_names
        candidates = [n for n in names if n not in words]
        casts = dict(
            zip(candidates, numbers.cast([block.column(n) for n in candidates]), strict=True)
        )
        for name in names:
            cast = casts.get(name)
            if cast is None:
                words.add(name)
            chunks.setdefault(name, []).append(block.column(name) if cast is None else cast)
        del block
        pa.default_memory_pool().release_unused()  # the block's text pages back to the OS
    _trim_heap()
    again = [n for n in chunks if n in words and any(not is_text(c) for c in chunks[n])]
    if again:
        whole = read_frame(path, delimiter, again)  # numbers first, then a stray text
        chunks.update({n: [whole.column(n)] for n in again})
    return pa.table([_joined(chunks[n]) for n in chunks], names=list(chunks))


def _trim_heap() -> None:
    """Hand glibc's freed heap pages back to the system (as Dask's workers do): the casts'
    scratch leaves ~30 MB of it, which the training array would otherwise add to."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim this way
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _joined(chunks: list[Any]) -> pa.ChunkedArray:
    """A column's blocks as one column: float64 if some block needed it, else their type."""
    types = {c.type for c in chunks}
    if len(types) > 1:
        chunks = [c.cast(pa.float64()) for c in chunks]
    parts = [p for c in chunks for p in (c.chunks if isinstance(c, pa.ChunkedArray) else [c])]
    return pa.chunked_array(parts, type=chunks[0].type)


def stream_frames(
    path: str | Path, delimiter: str = ",", block_bytes: int | None = None
) -> Generator[pa.Table, None, None]:
    """The file's rows in order, a batch of a few MB at a time (a CSV's columns as text, as
    read_frame reads them): predicting a file of any length keeps memory flat."""
    kind = file_format(path)
    if kind != "csv":
        yield from _stream_columnar(path, kind)
        return
    try:
        header = csv_header(path, delimiter)
        with open_csv_bytes(path) as handle:
            reader = pacsv.open_csv(
                handle,
                read_options=pacsv.ReadOptions(block_size=block_bytes or _stream_block(header)),
                parse_options=_parse_options(delimiter),
                convert_options=_convert(header),
            )
            try:  # closed however the reading ends: a reader thread left running at exit
                first = True  # aborts the process ("terminate called ...")
                for batch in reader:
                    table = pa.Table.from_batches([batch])
                    yield _checked(path, table) if first else table
                    first = False
                if first:
                    yield _checked(path, reader.schema.empty_table())
            finally:
                reader.close()
    except REFUSED as exc:
        raise csv_error(path, delimiter, exc) from None


def _stream_block(header: list[str]) -> int:
    return min(max(len(header) << 14, 1 << 20), READ_BLOCK_BYTES)


def _stream_columnar(path: str | Path, kind: str) -> Iterator[pa.Table]:
    if kind == "parquet":
        import pyarrow.parquet as pq

        source = pq.ParquetFile(path)
        batches = source.iter_batches(batch_size=65536)
    else:
        import pyarrow.feather as feather

        batches = iter(feather.read_table(path).to_batches(max_chunksize=65536))
    first = True
    for batch in batches:
        table = pa.Table.from_batches([batch])
        yield _checked(path, table) if first else table
        first = False


def open_csv_bytes(path: str | Path) -> IO[bytes]:
    with Path(path).open("rb") as probe:
        gzipped = probe.read(2) == GZIP
    if gzipped:
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]  # a binary IO in use
    return Path(path).open("rb")


def _parse_options(delimiter: str) -> pacsv.ParseOptions:
    if len(delimiter) != 1:
        raise DataError(f"the delimiter must be one character, got {delimiter!r}")
    return pacsv.ParseOptions(
        delimiter=delimiter, newlines_in_values=False, invalid_row_handler=_skip_blanks
    )


def _skip_blanks(row: pacsv.InvalidRow) -> str:
    """A line of blanks among rows of several fields is no row, as an empty line is not."""
    return "skip" if row.text.isspace() else "error"


def _convert(header: list[str], columns: list[str] | None = None) -> pacsv.ConvertOptions:
    return pacsv.ConvertOptions(
        include_columns=columns,
        null_values=NULL_MARKERS,
        strings_can_be_null=True,
        column_types={name: pa.string() for name in header},
    )


def csv_header(path: str | Path, delimiter: str) -> list[str]:
    """The column names of a CSV's first non-blank line (a UTF-8 BOM dropped)."""
    import csv
    import io

    if csv.field_size_limit() < 2**31 - 1:  # a first line of one long field (a JSON file)
        csv.field_size_limit(2**31 - 1)
    with open_csv_bytes(path) as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8-sig", errors="replace", newline="")
        for row in csv.reader(text, delimiter=_parse_options(delimiter).delimiter):
            if any(field.strip() for field in row):
                return row
    return []


def _checked(path: str | Path, table: pa.Table) -> pa.Table:
    """Header rules nncli keeps for every format: named, distinct columns."""
    problem = header_problem(str(path), 1, table.column_names)
    if problem is not None:
        raise problem
    return table


def csv_error(path: str | Path, delimiter: str, exc: BaseException) -> DataError:
    """pyarrow refused the file: read it again with Python's csv module, which names the
    line of what is wrong; if it finds nothing, pyarrow's own words."""
    try:
        with open_csv_bytes(path) as handle:
            precise = first_problem(str(path), handle, delimiter)
    except (OSError, EOFError, ValueError):  # gone, or changed while being read
        precise = None
    if precise is not None:
        return precise
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return DataError(f"{path}: cannot read the file ({text})")


def as_table(rows: Any) -> pa.Table:
    """Rows a Python caller has, as an Arrow table: a pyarrow Table, a pandas DataFrame, a
    mapping of column -> values, or a list of row dicts (pandas itself stays optional)."""
    if isinstance(rows, pa.Table):
        return rows
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # a pandas DataFrame
        return pa.Table.from_pandas(rows, preserve_index=False)
    try:
        if isinstance(rows, dict):
            return pa.table({str(k): list(v) for k, v in rows.items()})
        if isinstance(rows, list):
            return pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
        raise DataError(f"cannot read these rows as a table ({exc})") from None
    raise DataError(
        f"expected a pandas DataFrame, a pyarrow Table, a mapping of columns or a list of row "
        f"dicts (or a 2-D array for an all-numeric model), got {type(rows).__name__}"
    )
