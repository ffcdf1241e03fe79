"""On-disk cache for item embeddings and SID code tables.

Encoding a catalogue takes tens of seconds on a CPU, so results are kept between runs. The key is a
sha256 over everything that determines the result (item texts, encoder name, and for codes also
levels, codebook size, method, k-means iterations, seed), so a changed input gives a new key and a
stale table is never reused. Files are written atomically (temp file in the same folder, then
``os.replace``), hold only plain tensors and strings (loaded with ``torch.load(weights_only=True)``:
no pickled code runs), and carry a content checksum. A file that fails to load or to verify is
reported with a warning, deleted, and rebuilt by the caller.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Mapping, Sequence

import torch

from recbole_maskgr.files import WriteFailed, atomic_save

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


def make_key(kind: str, texts: Sequence[str], **params) -> str:
    """sha256 hex over ``kind``, the texts (in order) and the parameters (sorted by name)."""
    h = hashlib.sha256()
    h.update(json.dumps({"kind": kind, "format": FORMAT_VERSION, "params": params}, sort_keys=True).encode())
    h.update(b"\0texts\0")
    for text in texts:
        data = text.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))  # length prefix: ["ab", "c"] != ["a", "bc"]
        h.update(data)
    return h.hexdigest()


def checksum(key: str, tensors: Mapping[str, torch.Tensor]) -> str:
    """sha256 over the key and every tensor's name, dtype, shape and bytes."""
    h = hashlib.sha256(key.encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


class SIDCache:
    """A folder of ``<kind>-<key>.pt`` files; ``kind`` is e.g. ``emb`` or ``sid``."""

    def __init__(self, cache_dir: str):
        self.cache_dir = cache_dir

    def path(self, kind: str, key: str) -> str:
        return os.path.join(self.cache_dir, f"{kind}-{key}.pt")

    def load(self, kind: str, key: str) -> dict[str, torch.Tensor] | None:
        """The cached tensors, or None when absent; a bad file is warned about and deleted."""
        path = self.path(kind, key)
        if not os.path.exists(path):
            return None
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            problem = self._verify(blob, key)
        except Exception as exc:  # truncated or not a torch file at all
            problem = f"unreadable ({type(exc).__name__}: {exc})"
        if problem is not None:
            self.discard(kind, key, problem)
            return None
        return dict(blob["tensors"])

    def discard(self, kind: str, key: str, problem: str) -> None:
        """Warn (one line naming the file and the problem) and delete that one file; the caller rebuilds."""
        path = self.path(kind, key)
        logger.warning(f"SID cache file {path} is {problem}; deleting it and rebuilding")
        try:
            os.remove(path)  # one unlink: other entries, and a rebuilt file written later, are untouched
        except OSError:
            pass

    @staticmethod
    def _verify(blob, key: str) -> str | None:
        """None when ``blob`` is a well-formed entry for ``key``, else what is wrong."""
        if not isinstance(blob, dict) or not {"format", "key", "tensors", "checksum"} <= set(blob):
            return "not a SID cache entry"
        if blob["format"] != FORMAT_VERSION:
            return f"of format {blob['format']!r}, expected {FORMAT_VERSION}"
        if blob["key"] != key:
            return "for another key"
        tensors = blob["tensors"]
        if not isinstance(tensors, dict) or not all(isinstance(t, torch.Tensor) for t in tensors.values()):
            return "not a dict of tensors"
        if checksum(key, tensors) != blob["checksum"]:
            return "corrupt (checksum mismatch)"
        return None

    def save(self, kind: str, key: str, tensors: Mapping[str, torch.Tensor]) -> str | None:
        """Write atomically; returns the path, or None when the system refused the write (disk full, a
        file-size limit): the cache only saves time, so that is a warning and the run goes on."""
        tensors = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
        blob = {"format": FORMAT_VERSION, "key": key, "tensors": tensors, "checksum": checksum(key, tensors)}
        path = self.path(kind, key)
        try:
            atomic_save(blob, path)
        except WriteFailed as err:
            logger.warning(f"SID cache file {path} could not be written ({err.strerror}); going on without "
                           "caching it (the next run builds it again)")
            return None
        return path
