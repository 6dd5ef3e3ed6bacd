"""The Stable Diffusion painter: diffusers inpainting for SD 1.x, 2.x and XL, on CUDA, MPS or CPU.

    painter = create_painter("diffusion", model="./sd15-inpaint")      # canvas.painters
    painter = DiffusionPainter(DiffusionSettings(model="stabilityai/stable-diffusion-2-inpainting", offline=True))

Modules, in the order a window meets them:
- `settings`: what a user chooses (model, device, dtype, scheduler, masked content), checked
  without torch, so the command line can refuse a typo before anything loads;
- `loading`: finds and loads the model once (hub id, folder or single file), detects its kind;
- `hashes`: a single checkpoint file's short hash, as A1111 prints it with the pictures it makes;
- `prompts`: text embeddings, cached so a job encodes its prompt once, not once per window;
- `weighting`: A1111's prompt syntax, parsed and cut into 75-token chunks (no torch);
- `text_encoding`: those chunks through the CLIP text encoders, weighted;
- `embeddings`: textual-inversion files loaded into the tokenizers and text encoders;
- `schedulers`: the samplers by the names people know;
- `controlnet`: an inpaint ControlNet (folder, hub id or one file) checked against the
  UNet, and the control image it sees: the known pixels, the masked ones marked;
- `denoise`: one window, top to bottom: encode, denoise with previews and cancel, decode;
- `preview`: the cheap latent-to-RGB picture sent while a window paints;
- `painter`: the `Painter` the job runner calls.

Only this package imports torch and diffusers, and only when a diffusion painter is built.
"""

from canvas.painters.diffusion.settings import (
    CHOICES,
    DEVICES,
    DTYPES,
    MASKED_CONTENT,
    SCHEDULERS,
    DiffusionSettings,
    ModelError,
)

__all__ = ["CHOICES", "DEVICES", "DTYPES", "MASKED_CONTENT", "SCHEDULERS", "DiffusionSettings", "ModelError"]
