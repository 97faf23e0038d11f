"""``acoustic-ssl demo``: the whole pipeline on simulated data, as resumable stages driven by a preset file.

The demo only chains the ordinary commands (simulate, convert, lists, stats, pack, train, extract, evaluate,
report): every stage is a list of ``acoustic-ssl`` command lines, run in-process, so ``DIR/commands.sh``
reproduces the run one command at a time. Heavy imports stay inside the handler so ``acoustic-ssl --help``
stays fast.
"""

from __future__ import annotations

from acoustic_ssl.demo.cli import register

__all__ = ["register"]
