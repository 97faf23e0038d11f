"""Evaluation: feature extraction through the training forward path, kNN / linear probe, retrieval,
localisation, scene transfer, the HEAR API and reports.

Entry points (imported on first use, so importing the package stays light):

* ``extract_features(checkpoint, list_file, out)`` → a features ``.npz``; ``load_features(path)``;
* ``evaluate_checkpoint(checkpoint, out_dir)`` → metrics (also ``metrics.json``); ``compute_metrics(splits)``
  on features already loaded;
* ``extract_baseline(name, list_file, out)`` / ``evaluate_baseline(name, out_dir, lists=...)``: the same for
  features that need no learning (``evaluation.baselines``: ``logmel``);
* ``scene_transfer(checkpoint, data_dir)`` → acoustic-scene kNN / probe accuracy;
* ``write_report(run_dirs, out_dir)`` → ``report.html`` and ``report.md``.

The HEAR API is the module ``acoustic_ssl.evaluation.hear`` itself (``load_model``, ``get_scene_embeddings``,
``get_timestamp_embeddings``), as the benchmark expects.
"""

from __future__ import annotations

from acoustic_ssl.lazy import lazy_exports

_EXPORTS = {
    "extract_features": "acoustic_ssl.evaluation.extract",
    "load_features": "acoustic_ssl.evaluation.extract",
    "evaluate_checkpoint": "acoustic_ssl.evaluation.evaluate",
    "compute_metrics": "acoustic_ssl.evaluation.evaluate",
    "evaluate_baseline": "acoustic_ssl.evaluation.evaluate",
    "extract_baseline": "acoustic_ssl.evaluation.baselines",
    "scene_transfer": "acoustic_ssl.evaluation.scenes",
    "write_report": "acoustic_ssl.evaluation.report",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
