"""demo.py: the draw-a-digit page, served for real, read through gradio's client and a real browser."""

from __future__ import annotations

import csv
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, free_port, read_metrics, run_script, script_env, single_run_dir
from mnistlab.data.catalog import DATASETS, IDX_FILES
from mnistlab.data.idx import read_idx
from mnistlab.lab.document import find_chromium

pytestmark = pytest.mark.slow
DIGITS = [str(d) for d in range(10)]


class Page:
    """`python src/demo.py` running in the background, as a user starts it."""

    def __init__(self, log_dir: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "src" / "demo.py"), f"port={self.port}", *args],
            cwd=ROOT, env=script_env(log_dir), text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            # Ctrl-C as a terminal delivers it, even when the suite runs in the background.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                urllib.request.urlopen(self.url, timeout=5).close()
                return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise AssertionError(f"the page did not come up: {self.stdout}\n{self.stderr}")

    def stop(self) -> int:
        """Ctrl-C, as a user stops it; its exit status."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            self.stdout, self.stderr = self.process.communicate(timeout=60)
        return self.process.returncode

    def client(self, downloads: Path):
        from gradio_client import Client

        return Client(self.url, verbose=False, analytics_enabled=False, download_files=downloads)


@pytest.fixture(scope="module")
def page(trained):
    """The page, first showing the MNIST MLP, with the HOG and Fashion runs beside it in logs/."""
    first = trained["mnist"]
    trained["hog"]
    try:
        trained["fashion"]
    except pytest.skip.Exception:
        pass  # the Fashion test skips with the reason
    served = Page(trained.log_dir, f"ckpt_path={first}", "max_upload_mb=1")
    yield served
    served.stop()


def dataset_pictures(
    data_dir: Path, folder: Path, count: int = 6, dataset: str = "mnist"
) -> list[Path]:
    """The first test-set images as PNG files, as a user would save them."""
    raw = data_dir / DATASETS[dataset].folder / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, image in enumerate(read_idx(raw / IDX_FILES["test_images"])[:count]):
        files.append(folder / f"{i:02d}.png")
        Image.fromarray(np.asarray(image)).save(files[-1])
    return files


def top_classes(label: dict) -> list[tuple[str, float]]:
    return [(c["label"], c["confidence"]) for c in label["confidences"]]


def test_the_page_reads_pictures_exactly_as_predict_does(page, trained, data_dir, tmp_path):
    files = dataset_pictures(data_dir, tmp_path / "pictures")
    output = tmp_path / "predictions.csv"
    result = run_script(
        "predict.py", f"ckpt_path={trained['mnist']}", f"inputs={tmp_path / 'pictures'}",
        f"output={output}", "save_inputs=true", log_dir=tmp_path / "logs",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    with open(output) as f:
        expected = [
            [(row["predicted"], float(row["probability"]))]
            + [(row[f"class_{r}"], float(row[f"probability_{r}"])) for r in (2, 3)]
            for row in csv.DictReader(f)
        ]

    inputs = single_run_dir(tmp_path / "logs", "predict") / "inputs"
    client = page.client(tmp_path / "downloads")
    for file, reference in zip(files, expected, strict=True):
        label, seen, message = client.predict(
            str(trained["mnist"]), _file(file), api_name="/upload"
        )
        classes = top_classes(label)
        assert [name for name, _ in classes] == [name for name, _ in reference], file
        assert np.allclose([p for _, p in classes], [p for _, p in reference], atol=1.5e-4)
        assert f"reads **{classes[0][0]}**" in message
        # The 28x28 image the model saw (predict's, saved by save_inputs), pixels as 10x10 squares.
        saw = np.asarray(Image.open(inputs / file.name))
        assert (np.asarray(Image.open(seen).convert("L")) == saw.repeat(10, 0).repeat(10, 1)).all()


def test_hog_and_fashion_runs_are_offered_and_read_with_their_class_names(
    page, trained, data_dir, tmp_path
):
    client = page.client(tmp_path / "downloads")
    offered = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    runs = offered["/upload"]["parameters"][0]["type"]["enum"]
    assert str(trained["hog"]) in runs and str(trained["mnist"]) in runs
    [digit] = dataset_pictures(data_dir, tmp_path / "digit", count=1)
    label, _, message = client.predict(str(trained["hog"]), _file(digit), api_name="/upload")
    assert {name for name, _ in top_classes(label)} <= set(DIGITS) and "HOG" in message

    trained["fashion"]  # skips here, with the reason, without Fashion-MNIST
    assert str(trained["fashion"]) in runs
    [shirt] = dataset_pictures(data_dir, tmp_path / "fashion", count=1, dataset="fashion")
    label, _, message = client.predict(str(trained["fashion"]), _file(shirt), api_name="/upload")
    names = [name for name, _ in top_classes(label)]
    assert set(names) <= set(DATASETS["fashion"].class_names) and len(names) == 3
    assert "Fashion-MNIST" in message


def test_bad_uploads_get_a_sentence_and_the_page_goes_on(page, trained, data_dir, tmp_path):
    client = page.client(tmp_path / "downloads")
    run = str(trained["mnist"])
    (tmp_path / "notes.txt").write_text("not a picture")
    (tmp_path / "empty.png").write_bytes(b"")
    Image.new("L", (64, 48), 255).save(tmp_path / "blank.png")
    Image.new("L", (9000, 9000), 255).save(tmp_path / "poster.png")  # 81 megapixels, a small file
    said = {
        "notes.txt": "notes.txt cannot be read as an image",
        "empty.png": "empty.png is empty (0 bytes)",
        "blank.png": "blank.png shows nothing to read",
        "poster.png": "poster.png is 9,000x9,000 pixels; pictures up to 40 megapixels are read",
    }
    for name, sentence in said.items():
        label, seen, message = client.predict(run, _file(tmp_path / name), api_name="/upload")
        assert sentence in message and not label and seen is None, (name, message)
        assert "Traceback" not in message

    huge = np.random.default_rng(0).bytes(2 * 2**20)  # the page takes up to max_upload_mb=1
    (tmp_path / "huge.png").write_bytes(huge)
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        client.predict(run, _file(tmp_path / "huge.png"), api_name="/upload")
    form = (  # past the client's own check, the server refuses it too, before storing it
        b'--cut\r\nContent-Disposition: form-data; name="files"; filename="huge.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + huge + b"\r\n--cut--\r\n"
    )
    request = urllib.request.Request(
        f"{page.url}gradio_api/upload", data=form, method="POST",
        headers={"Content-Type": "multipart/form-data; boundary=cut"},
    )  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 413

    [digit] = dataset_pictures(data_dir, tmp_path / "digit", count=1)
    label, _, _ = client.predict(run, _file(digit), api_name="/upload")
    assert label["label"] in DIGITS


def test_a_browser_draws_a_seven_and_reads_the_prediction_on_the_page(page, trained, tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("No Chromium here (`make setup` installs Debian's chromium when run as root).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        elsewhere = []
        tab.on("request", lambda r: None if r.url.startswith(page.url) else elsewhere.append(r.url))
        tab.goto(page.url)
        # The page picks the brush itself: its size control shows once it is chosen.
        tab.wait_for_selector('#canvas button[aria-label="Brush Size"]', timeout=30_000)
        box = tab.locator("#canvas canvas").first.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        tab.mouse.move(x - 70, y - 85)  # a 7: the bar, then the stem
        tab.mouse.down()
        tab.mouse.move(x + 55, y - 85, steps=12)
        tab.mouse.move(x - 15, y + 100, steps=12)
        tab.mouse.up()
        message = tab.locator("#message")
        message.filter(has_text="reads").wait_for(timeout=30_000)
        tab.screenshot(path=tmp_path / "page.png", full_page=True)
        assert "reads 7" in message.inner_text()
        assert tab.locator("#classes h2").inner_text() == "7"  # the heading above the bars
        assert tab.locator("#seen img").count() == 1

        # A run that ends while the page serves: found by "Look for new runs", and choosing it
        # reads the same drawing again, without a restart.
        new_run = trained.log_dir / "train" / "runs" / "finished-while-serving"
        shutil.copytree(trained["hog"].parent.parent, new_run)
        # Another run, not a copy (a copy is the same run, offered once): another seed.
        config = new_run / "config.yaml"
        config.write_text(config.read_text().replace("\nseed: 12345\n", "\nseed: 4321\n", 1))
        try:
            tab.locator("#rescan").click()
            tab.locator("#run input").click()
            tab.get_by_role("option", name="finished-while-serving").click()
            message.filter(has_text="HOG features").wait_for(timeout=30_000)
            assert (
                "MLP on MNIST HOG features" in message.inner_text()
                and "reads" in message.inner_text()
            )
        finally:
            shutil.rmtree(new_run)

        tab.get_by_role("button", name="Clear canvas").click()
        message.filter(has_text="The canvas is empty").wait_for(timeout=30_000)

        tab.get_by_role("tab", name="Upload").click()
        (tmp_path / "notes.txt").write_text("not a picture")
        tab.locator("#upload input[type=file]").set_input_files(tmp_path / "notes.txt")
        message.filter(has_text="notes.txt cannot be read as an image").wait_for(timeout=30_000)
        browser.close()
    assert (tmp_path / "page.png").stat().st_size > 10_000
    assert elsewhere == []  # the page asks nothing of the internet


def test_ctrl_c_stops_the_page_and_mistakes_get_one_paragraph(page, trained, tmp_path):
    assert page.stop() == 0  # the module's last test: the page has served all the others
    assert f"The demo page is at http://127.0.0.1:{page.port}/" in page.stdout
    assert page.stdout.rstrip().endswith("Stopped.") and page.stderr == ""

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        result = run_script("demo.py", f"port={taken}", log_dir=trained.log_dir)
    assert result.returncode == 2 and f"port={taken} is already in use" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_script("demo.py", log_dir=tmp_path / "no-runs")
    assert result.returncode == 2 and "found no completed training run" in result.stderr
    result = run_script("demo.py", "port=web", log_dir=trained.log_dir)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "port='web' must be a whole number from 1 to 65535" in " ".join(result.stderr.split())


def _file(path: Path):
    from gradio_client import handle_file

    return handle_file(str(path))


def test_the_model_menu_names_each_run_with_its_test_accuracy_and_interval(trained):
    from mnistlab.serve.menu import run_choices
    from mnistlab.serve.predictor import Predictor

    checkpoint = trained["mnist"]
    test = read_metrics(checkpoint.parent.parent)["test"]
    low, high = test["acc_interval"]
    expected = f"test {100 * test['acc']:.2f}% ({100 * low:.2f}-{100 * high:.2f})"
    choices = dict(
        (path, label) for label, path in run_choices(trained.log_dir, Predictor.load(checkpoint))
    )
    assert expected in choices[str(checkpoint)]


def test_a_copied_run_is_offered_once_in_the_model_menu(trained):
    from mnistlab.serve.menu import run_choices
    from mnistlab.serve.predictor import Predictor

    checkpoint, shown_first = trained["mnist"], Predictor.load(trained["hog"])
    copy = trained.log_dir / "train" / "runs" / "copy-of-the-mnist-run"
    shutil.copytree(checkpoint.parent.parent, copy)
    try:
        offered = [path for _, path in run_choices(trained.log_dir, shown_first)]
    finally:
        shutil.rmtree(copy)
    both = {str(checkpoint), str(copy / "checkpoints" / "last.ckpt")}
    assert len([path for path in offered if path in both]) == 1
