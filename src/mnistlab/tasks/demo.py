"""The demo task: serve the draw-a-digit page on this machine until Ctrl-C."""

from __future__ import annotations

import errno
import socket
import time
from functools import partial

from omegaconf import DictConfig

from mnistlab.checks import positive_number, whole_number
from mnistlab.data.images import Preprocess
from mnistlab.errors import ConfigError
from mnistlab.serve.predictor import Predictor
from mnistlab.terminal import console
from mnistlab.training.checkpoints import resolve_ckpt_path

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def open_port(host: str, port: int | None) -> int:
    """`port`, or a free one when None, once checked that the page can listen there."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, port or 0))
            return probe.getsockname()[1]
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port={port} is already in use on {host}: give another port, or leave port "
                "unset for a free one."
            ) from None
        raise ConfigError(
            f"host={host} is not an address of this machine ({e.strerror or e}): give 127.0.0.1 "
            "(this machine only) or 0.0.0.0 (every network interface)."
        ) from None


def demo(cfg: DictConfig) -> int:
    """Load the first model, serve the page, and keep serving until Ctrl-C."""
    steps = Preprocess(**cfg.preprocess)
    steps.check()
    top_k = whole_number("top_k", cfg.top_k, "how many classes the page shows")
    max_mb = positive_number("max_upload_mb", cfg.max_upload_mb, "the largest upload read, in MB")
    max_mp = positive_number(
        "max_megapixels", cfg.max_megapixels, "the largest picture read, in megapixels"
    )
    host = str(cfg.host)
    port = cfg.port and whole_number("port", cfg.port, "the page's port", high=65535)
    port = open_port(host, port)
    path, chosen = resolve_ckpt_path(str(cfg.ckpt_path), cfg.paths.log_dir)
    if chosen:
        console.print(chosen)
    first = Predictor.load(path)

    from mnistlab.serve.menu import run_choices
    from mnistlab.serve.page import PICK_BRUSH, build_page
    from mnistlab.serve.reading import Reader

    reader = Reader(first, steps, top_k, int(max_mp * 1e6))
    page = build_page(reader, partial(run_choices, cfg.paths.log_dir, first), str(path))
    try:
        page.launch(
            server_name=host, server_port=port, share=False, quiet=True,
            prevent_thread_lock=True, js=PICK_BRUSH, footer_links=["api"],
            max_file_size=int(max_mb * 2**20),  # gradio refuses larger uploads, with a message
        )  # fmt: skip
    except OSError:  # taken since open_port looked
        raise ConfigError(
            f"port={port} could not be served on {host}: give another port, or leave port unset "
            "for a free one."
        ) from None
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    console.print(f"The demo page is at [bold]http://{shown}:{port}/[/bold] (Ctrl-C stops it).")
    if host not in LOCAL_HOSTS:
        console.print(
            f"[yellow]Warning:[/yellow] host={host} serves the page beyond this machine, with no "
            "authentication: anyone who can reach this address can use it."
        )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        page.close(verbose=False)
        console.print("Stopped.")
    return 0
