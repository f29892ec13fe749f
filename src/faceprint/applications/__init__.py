"""The jobs that keep state or search: identification against a gallery, and clustering.

Verification is a single comparison and lives in the pipeline (faceprint.pipeline).
"""
