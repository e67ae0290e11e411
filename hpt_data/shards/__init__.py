"""HDF5 shards: the schema (numpy only; hpt_model imports it), the writer, verify, stats."""
