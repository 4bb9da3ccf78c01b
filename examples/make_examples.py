"""Draw the example pictures in this folder: digits as pen strokes, clothes as filled shapes.

They are drawn the way one draws with a mouse in an image editor (strokes of a round pen on a
white canvas, off-centre, at sizes far from 28x28), by this script so that anyone can remake
them. None comes from MNIST or Fashion-MNIST.

    python examples/make_examples.py      # writes examples/digits/ and examples/clothes/
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
DIGITS_DIR, CLOTHES_DIR = HERE / "digits", HERE / "clothes"

# Pen strokes in a 100 x 100 box, one list of points per stroke.
DIGITS = {
    "0": [[(50 + 27 * np.cos(t), 50 + 40 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 40)]],
    "1": [[(38, 26), (55, 10), (55, 92)]],
    "2": [[(24, 30), (34, 14), (55, 9), (72, 19), (75, 37), (64, 55), (24, 88), (80, 88)]],
    "3": [[(24, 14), (70, 14), (44, 44), (68, 53), (76, 71), (62, 88), (32, 90), (22, 80)]],
    "4": [[(62, 92), (62, 8)], [(62, 8), (18, 66), (82, 66)]],
    "5": [[(76, 10), (34, 10), (30, 46), (54, 40), (72, 51), (75, 71), (61, 88), (28, 89)]],
    "7": [[(20, 14), (80, 14), (42, 92)]],
    "8": [
        [(50 + 18 * np.cos(t), 29 + 19 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 30)],
        [(50 + 23 * np.cos(t), 70 + 21 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 30)],
    ],
    "9": [
        [(50 + 21 * np.cos(t), 31 + 21 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 30)],
        [(71, 31), (66, 92)],
    ],
}
CLOTHES = {
    "trouser": [(34, 4), (66, 4), (72, 96), (56, 96), (50, 38), (44, 96), (28, 96)],
    "t-shirt": [
        (30, 14),
        (42, 8),
        (58, 8),
        (70, 14),
        (92, 30),
        (82, 44),
        (71, 37),
        (71, 92),
        (29, 92),
        (29, 37),
        (18, 44),
        (8, 30),
    ],
    "bag": [(16, 36), (84, 36), (88, 94), (12, 94)],
}


def canvas(width: int, height: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("L", (width, height), 245)  # paper is not quite white
    return image, ImageDraw.Draw(image)


def main() -> None:
    DIGITS_DIR.mkdir(exist_ok=True)
    CLOTHES_DIR.mkdir(exist_ok=True)
    rng = np.random.default_rng(2026)
    for i, (name, strokes) in enumerate(DIGITS.items()):
        width, height = (160, 200) if i % 2 else (240, 180)
        image, draw = canvas(width, height)
        scale, left, top = (
            1.0 + 0.15 * (i % 3),
            8 + (9 * i) % 22,
            8 + (5 * i) % 25,
        )  # off-centre, varied sizes
        for stroke in strokes:
            points = [
                (left + scale * x + rng.normal(0, 0.8), top + scale * y + rng.normal(0, 0.8))
                for x, y in stroke
            ]
            draw.line(points, fill=25, width=11, joint="curve")
            for x, y in (points[0], points[-1]):  # a round pen's ends
                draw.ellipse((x - 5, y - 5, x + 5, y + 5), fill=25)
        image.save(DIGITS_DIR / f"digit-{name}.png")
    # One digit written light on dark, as chalk on a blackboard: the polarity is detected.
    image = Image.new("L", (150, 150), 20)
    ImageDraw.Draw(image).line([(45, 30), (105, 30), (65, 125)], fill=230, width=10)
    image.save(DIGITS_DIR / "digit-7-chalk.png")
    for name, outline in CLOTHES.items():
        image, draw = canvas(300, 260)
        draw.polygon([(60 + 1.9 * x, 20 + 2.2 * y) for x, y in outline], fill=70)
        if name == "bag":
            draw.arc(
                (60 + 1.9 * 30, 20 + 2.2 * 8, 60 + 1.9 * 70, 20 + 2.2 * 60),
                180,
                360,
                fill=70,
                width=9,
            )
        image.save(CLOTHES_DIR / f"{name}.png")


if __name__ == "__main__":
    main()
