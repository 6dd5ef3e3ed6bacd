"""What the library refuses or cannot do, each as one line."""

from __future__ import annotations


class LibraryError(ValueError):
    """A one-line reason a library request was refused."""

    code = "library"


class BadName(LibraryError):
    """Not something a scan could have named (a path, a backslash, control characters)."""

    code = "bad_name"


class NotFound(LibraryError):
    """No scanned entry of that kind and name."""

    code = "not_found"


class MissingPackage(LibraryError):
    """Reading this file needs a package that is not installed (gguf, or torch for old pickles):
    a scan lists it as not used, and does not remember that, so installing it is enough."""

    code = "missing_package"
