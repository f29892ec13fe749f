"""`faceprint embed` killed part way, run again: it keeps the pieces it finished and writes what one run writes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np

from faceprint.embeddings import EmbeddingSet, piece_path


def test_a_killed_embed_keeps_its_finished_pieces(synthetic, tmp_path):
    cmd = [sys.executable, "-m", "faceprint", "embed", str(synthetic["unseen"]), "--model", str(synthetic["model_path"]),
           "--input", "crops", "--no-progress", "--chunk", "8"]
    whole = subprocess.run([*cmd, "--out", str(tmp_path / "whole.npz")], capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "e.npz"
    job = subprocess.Popen([*cmd, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not piece_path(out, 2).exists() and job.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    job.send_signal(signal.SIGKILL)
    job.wait()
    kept = {k: piece_path(out, k).stat().st_mtime_ns for k in range(10) if piece_path(out, k).exists()}
    if out.exists():  # finished before the kill could land: nothing to resume, the run is whole
        kept = {}
    again = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("done before, kept") == len(kept)
    a, b = EmbeddingSet.load(tmp_path / "whole.npz"), EmbeddingSet.load(out)
    assert a.paths == b.paths and a.identities == b.identities and len(a.paths) == 80
    np.testing.assert_array_equal(a.embeddings, b.embeddings)
    assert not list(tmp_path.glob("e.npz.part-*"))  # the pieces are gone once joined
