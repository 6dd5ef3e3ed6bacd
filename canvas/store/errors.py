"""The one exception the store raises for problems with the canvas itself.

Bad arguments (a wrong array shape, an unknown status) raise ``ValueError`` as usual;
``StoreError`` means the canvas cannot do what was asked: the file is missing or is not
a canvas, its schema is newer than this code, the store is closed, or the revision being
written is no longer the running head.
"""


class StoreError(Exception):
    """The canvas file or its state does not allow the operation."""
