"""Content types of images (by their first bytes) and of files (by their name)."""

from __future__ import annotations

import mimetypes
import os
from typing import Optional

__all__ = ["sniff_image_type", "guess_file_type", "OCTET_STREAM"]

OCTET_STREAM = "application/octet-stream"

# The signatures of the image formats every browser and Jupyter front end displays.
_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)

# A compressed file is served as the compression format, not as what it contains
# (``report.csv.gz`` is application/gzip, not text/csv).
_COMPRESSION_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "compress": "application/x-compress",
    "br": "application/x-brotli",
}

# Types ``mimetypes`` does not know on every system.
_EXTRA_TYPES = {
    ".ipynb": "application/x-ipynb+json",
    ".md": "text/markdown",
    ".parquet": "application/vnd.apache.parquet",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
}


def sniff_image_type(data: bytes) -> Optional[str]:
    """``image/png``, ``image/jpeg`` or ``image/gif`` from the magic bytes, else None."""
    for signature, content_type in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return content_type
    return None


def guess_file_type(path: str) -> Optional[str]:
    """The content type for a file name, or None when the name says nothing."""
    content_type, encoding = mimetypes.guess_type(path, strict=False)
    if encoding is not None:
        return _COMPRESSION_TYPES.get(encoding, OCTET_STREAM)
    if content_type is None:
        content_type = _EXTRA_TYPES.get(os.path.splitext(path)[1].lower())
    return content_type
