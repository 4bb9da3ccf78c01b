"""The page: a canvas and an upload box on the left; the top classes, the 28x28 image the model saw
and a message on the right; a choice of model above. Built with gradio, imported only here."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from mnistlab.serve.reading import Reader

# Gradio reports usage to its makers unless told not to; the page stays on this machine.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
import gradio as gr  # noqa: E402

# The page's own HTTP calls to itself are logged by httpx at INFO; the terminal shows the demo.
logging.getLogger("httpx").setLevel(logging.WARNING)

CANVAS = 280  # 10x the 28x28 images: a finger's stroke has about MNIST's ink width at this size
# Gradio's canvas starts with no tool chosen; the page picks the brush so drawing works at once.
PICK_BRUSH = """
() => {
  const pick = (tries) => {
    const brush = document.querySelector('#canvas button[aria-label="Brush"]');
    if (brush) brush.click(); else if (tries > 0) setTimeout(() => pick(tries - 1), 100);
  };
  pick(100);
}
"""
INTRO = (
    "## Draw a digit\n"
    "Draw with the mouse or a finger (the bin icon clears the canvas), or upload a photo or "
    "scan. The model reads the picture after the recipe its dataset was made with (inverted if "
    "dark on light, cropped, scaled, centred): the 28x28 image it was given is shown with its "
    "answer."
)


def build_page(
    reader: Reader, choices: Callable[[], list[tuple[str, str]]], first: str
) -> gr.Blocks:
    """The page's layout and events; `choices` lists the runs (called again by 'Look for new runs')."""
    # Uploads and the images shown are gradio's temporary files: deleted after an hour, and when
    # the page starts again.
    with gr.Blocks(
        title="mnistlab: draw a digit", analytics_enabled=False, delete_cache=(3600, 3600)
    ) as page:
        gr.Markdown(INTRO)
        with gr.Row(equal_height=True):
            run = gr.Dropdown(
                choices(), value=first, label="Model: a completed training run", scale=5,
                elem_id="run",
            )  # fmt: skip
            rescan = gr.Button("Look for new runs", size="sm", scale=1, elem_id="rescan")
        with gr.Row():
            with gr.Column():
                with gr.Tab("Draw"):
                    canvas = gr.Sketchpad(
                        type="pil", canvas_size=(CANVAS, CANVAS), layers=False, transforms=(),
                        brush=gr.Brush(default_size=12, colors=["#000000"], color_mode="fixed"),
                        label="Draw here", elem_id="canvas",
                    )  # fmt: skip
                with gr.Tab("Upload"):
                    upload = gr.File(label="A photo or scan", type="filepath", elem_id="upload")
            with gr.Column():
                classes = gr.Label(
                    num_top_classes=reader.top_k, label="Likeliest classes", elem_id="classes"
                )
                seen = gr.Image(
                    label="What the model saw (28x28)", format="png", interactive=False,
                    height=CANVAS, width=CANVAS, buttons=["download"], elem_id="seen",
                )  # fmt: skip
                message = gr.Markdown(elem_id="message")
        picture = gr.State(None)
        answer = [classes, seen, message, picture]
        canvas.change(
            reader.drawing, [run, canvas], answer, api_name="draw",
            trigger_mode="always_last", show_progress="hidden",
        )  # fmt: skip
        upload.upload(reader.upload, [run, upload], answer, api_name="upload")
        run.input(reader.again, [run, picture], answer, api_name="again")
        rescan.click(lambda: gr.Dropdown(choices=choices()), None, run, api_name=False)
    return page
