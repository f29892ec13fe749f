"""One job split over N processes or machines: `--shard I/N` takes every N-th item from the I-th."""

from __future__ import annotations

from faceprint.errors import InputError


def parse_shard(text: str | None) -> tuple[int, int]:
    """"i/n" (i counted from 0) -> (i, n); None -> (0, 1), the whole job."""
    if text is None:
        return 0, 1
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise InputError(f"shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if not 0 <= i < n:
        raise InputError(f"shard {text}: need 0 <= i < n")
    return i, n
