"""The models library: checkpoints, diffusion models, LoRAs, embeddings and VAEs in the
user's A1111, ComfyUI or plain folders, recognised from their headers without torch.

    library = Library(["~/ComfyUI"])
    library.find("lora", "styles/ink").family          # "sdxl"
"""

from canvas.library.entry import KINDS, Entry, Skipped
from canvas.library.errors import BadName, LibraryError, MissingPackage, NotFound
from canvas.library.library import Library
from canvas.library.names import check_name
from canvas.library.scan import Scan

__all__ = ["KINDS", "BadName", "Entry", "Library", "LibraryError", "MissingPackage", "NotFound", "Scan", "Skipped",
           "check_name"]
