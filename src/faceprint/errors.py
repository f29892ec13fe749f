"""What faceprint refuses, by kind. Every one carries a message for a person; front ends (the CLI, the service) show
that message and may add how *they* are driven (a flag, a field), which the library does not know about.

All subclass ValueError (or FileNotFoundError) as well, so code written against the builtin kinds keeps working.
Anything else that escapes the library is a bug and keeps its traceback.
"""

from __future__ import annotations


class FaceprintError(Exception):
    """Base of every error faceprint raises on purpose."""


class InputError(FaceprintError, ValueError):
    """Something given to faceprint cannot be used as it is: a file, a folder, a setting, an array."""


class ModelMismatchError(FaceprintError, ValueError):
    """Embeddings, a gallery or a checkpoint made by another model: embeddings of two models are never compared."""


class NotCalibratedError(FaceprintError, ValueError):
    """The model has no threshold for this decision and none was given."""


class MissingFileError(FaceprintError, FileNotFoundError):
    """A file or folder that is not there."""


class RunExistsError(FaceprintError, FileExistsError):
    """A training run folder that already holds a run, when starting afresh."""
