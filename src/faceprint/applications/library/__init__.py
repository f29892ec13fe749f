"""A photo library: every face of a folder tree, sorted into people that persist and keep every correction.

store.py holds it (a gallery file or database with library tables beside the gallery's), scan.py fills it from a
folder incrementally, grouping.py sorts its faces into suggested people, sidecars.py writes the names into XMP
sidecars other photo tools read.
"""

from faceprint.applications.library.store import Library, LibraryError, PostgresLibrary, open_library

__all__ = ["Library", "LibraryError", "PostgresLibrary", "open_library"]
