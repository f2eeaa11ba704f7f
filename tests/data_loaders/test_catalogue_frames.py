"""The shared frames a catalogue loads from Arrow: numpy dtypes, and text columns in one piece."""

import numpy as np
import pyarrow as pa

from data_loaders.catalogue import _numpy_frame


def test_text_columns_read_from_several_files_are_one_chunk_with_the_same_values():
    names = [f"4XMM J{i:06d}" for i in range(30)]
    table = pa.Table.from_batches(
        [
            pa.record_batch({"IAUNAME": pa.array(names[i : i + 10], pa.large_string()), "SC_HR2": np.zeros(10)})
            for i in (0, 10, 20)
        ]
    )
    assert table.column("IAUNAME").num_chunks == 3
    frame = _numpy_frame(table)
    assert frame["IAUNAME"].array._pa_array.num_chunks == 1
    assert frame["IAUNAME"].tolist() == names and frame["IAUNAME"].take([29, 3]).tolist() == [names[29], names[3]]
    assert frame["SC_HR2"].dtype == np.float32
