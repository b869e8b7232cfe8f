"""Batch scoring: a file of any size through a stored model, in chunks, to a file.

Input is CSV or Parquet (by extension; a directory is read as its Parquet files
in name order; a glob such as ``data/*.csv`` or ``parts/*.parquet`` as its matching
files in name order), output CSV or Parquet (by extension). Each chunk goes through
:meth:`ModelPackage.predict`, so a batch is checked and shaped exactly like any
other prediction: missing columns and impossible values are refused by name,
unseen categories become missing (and are counted per column), extra columns
are ignored and reported once (refused with ``strict_columns``), as a server does.

Memory does not grow with the file. Parquet is read one row group at a time, in
batches (``ParquetFile.iter_batches`` over all row groups at once keeps memory
of every row group it has passed: pyarrow 26 grows by about the size of each row
group; one row group per call stays flat), so the peak follows the file's row
group size and ``chunk_rows``, not its length. CSV is read with ``read_csv``
chunks whose dtypes do not depend on what a chunk happens to hold: category
columns and the id are read as text (``01`` stays ``01``), numeric columns are
left to the parser and conformed per chunk (an all-empty chunk is all-missing
floats, not an error). Output is written as it goes, with the
schema of the first chunk, to a temporary file in the output's directory that
is renamed into place only when every row is written, so a failure never
leaves a half-written output behind.

An input is a list of :class:`Piece` s (a file, or some row groups of a Parquet
file) that are read and scored independently: here one after the other into one
output, the next chunk read on a thread while the current one is scored
(:mod:`framework.scoring.ahead`); on a Dask cluster in parallel by :func:`score_piece`,
one output part per piece (``plugins/dask_execution/scoring.py``). Both go through
the same readers and score every chunk with :func:`score_chunk`, so a row is scored,
refused or counted as unseen the same way wherever it runs.
"""

from framework.scoring.files import (
    DEFAULT_CHUNK_ROWS,
    Progress,
    check_chunk_rows,
    prepare_input,
    refuse_overwriting_input,
    score_chunk,
    score_file,
    score_piece,
)
from framework.scoring.inputs import (
    COMPRESSED,
    CSV_SUFFIXES,
    GLOB_CHARACTERS,
    MAX_INPUT_FILES,
    PARQUET_SUFFIXES,
    READ_BUFFER,
    CsvInput,
    InputFile,
    ParquetInput,
    Piece,
    file_format,
    input_files,
    open_input,
)
from framework.scoring.outputs import (
    MAX_UNSEEN_EXAMPLES,
    PROBA_PREFIX,
    ChunkWriter,
    OutputColumns,
    ScoreResult,
    UnseenCategories,
)
from framework.scoring.parts import (
    PART_NAME,
    PIECE_ROWS,
    PartResult,
    PartsJob,
    RunParts,
    run_parts_here,
    score_part,
    score_to_parts,
)

__all__ = [
    "COMPRESSED",
    "CSV_SUFFIXES",
    "DEFAULT_CHUNK_ROWS",
    "GLOB_CHARACTERS",
    "MAX_INPUT_FILES",
    "MAX_UNSEEN_EXAMPLES",
    "PARQUET_SUFFIXES",
    "PART_NAME",
    "PIECE_ROWS",
    "PROBA_PREFIX",
    "READ_BUFFER",
    "ChunkWriter",
    "CsvInput",
    "InputFile",
    "OutputColumns",
    "ParquetInput",
    "PartResult",
    "PartsJob",
    "Piece",
    "Progress",
    "RunParts",
    "ScoreResult",
    "UnseenCategories",
    "check_chunk_rows",
    "file_format",
    "input_files",
    "open_input",
    "prepare_input",
    "refuse_overwriting_input",
    "run_parts_here",
    "score_chunk",
    "score_file",
    "score_part",
    "score_piece",
    "score_to_parts",
]
