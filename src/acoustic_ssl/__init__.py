"""acoustic-ssl: self-supervised audio representations learned with acoustic images.

Data flow: raw recordings (``simulate`` or ACIVW) -> TFRecords (``data``) -> batches (``data``) ->
models (``models``, ``training``) -> embeddings -> metrics and report (``evaluation``).
"""

__version__ = "0.1.0"
