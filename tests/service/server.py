"""A real `faceprint serve` on loopback for the service's tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

KEY = "test-key-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(gallery: Path | str, *extra: str, env_keys: str | None = KEY, wait: bool = True,
           store: str = "--gallery"):  # type: ignore[no-untyped-def]
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "FACEPRINT_API_KEYS"}
    if env_keys is not None:
        env["FACEPRINT_API_KEYS"] = env_keys
    proc = subprocess.Popen([sys.executable, "-m", "faceprint", "serve", store, str(gallery), "--port",
                             str(port), *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    if wait:
        for _ in range(300):
            if proc.poll() is not None:
                raise AssertionError(f"server ended: {proc.stdout.read()}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            proc.kill()
            raise AssertionError("server did not start")
    return proc, url


def _stop(proc) -> None:  # type: ignore[no-untyped-def]
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
