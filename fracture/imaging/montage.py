"""A before/after grid: one row per image, one column per filter step."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CAPTION_HEIGHT = 18


def montage(rows: list[list[np.ndarray]], column_titles: list[str], row_titles: list[str]) -> Image.Image:
    """Tile same-sized grayscale images with a caption above each column and row."""
    size = rows[0][0].shape[0]
    sheet = Image.new("L", (size * len(column_titles), (size + CAPTION_HEIGHT) * len(rows)), color=255)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=12)
    for r, (images, row_title) in enumerate(zip(rows, row_titles)):
        top = r * (size + CAPTION_HEIGHT)
        for c, (image, column_title) in enumerate(zip(images, column_titles)):
            caption = f"{row_title}: {column_title}" if c == 0 else column_title
            draw.text((c * size + 3, top + 2), caption, fill=0, font=font)
            sheet.paste(Image.fromarray(image), (c * size, top + CAPTION_HEIGHT))
    return sheet
