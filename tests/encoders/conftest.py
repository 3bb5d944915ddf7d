"""Fixtures for the encoder tests: the bundled text model, a tiny local CLIP, synthetic shapes.

Everything is built offline: the CLIP checkpoint is a randomly initialised tiny model with a
character-level tokenizer, saved with ``save_pretrained`` into a session temp folder.
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pytest

COLOURS = {
    "red": (220, 30, 30),
    "blue": (30, 60, 220),
    "green": (30, 170, 60),
    "yellow": (240, 220, 40),
    "black": (20, 20, 20),
    "white": (245, 245, 245),
    "pink": (255, 170, 190),
    "orange": (250, 140, 20),
}
SHAPES = ["square", "circle", "triangle", "striped"]


def shape_image(colour: str, shape: str, rng: np.random.Generator):
    """A 64x64 grey canvas with one coloured shape, jittered in position and size."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (64, 64), (128, 128, 128))
    draw = ImageDraw.Draw(img)
    o = int(rng.integers(0, 12))
    col = COLOURS[colour]
    if shape == "square":
        draw.rectangle([8 + o, 8 + o, 50 + o // 2, 50 + o // 2], fill=col)
    elif shape == "circle":
        draw.ellipse([6 + o, 6 + o, 54, 54], fill=col)
    elif shape == "triangle":
        draw.polygon([(32, 4 + o), (4 + o, 58), (60 - o, 58)], fill=col)
    else:
        for y in range(o % 8, 64, 12):
            draw.rectangle([0, y, 63, y + 5], fill=col)
    return img


@pytest.fixture(scope="session")
def text_encoder():
    """The default text encoder (bundled all-MiniLM-L6-v2), loaded once."""
    from encoders.text import TextEncoder

    return TextEncoder()


@pytest.fixture(scope="session")
def shapes_data(text_encoder):
    """300 coloured-shape images, their captions and the captions' MiniLM vectors (300, 384)."""
    rng = np.random.default_rng(0)
    images, texts = [], []
    for _ in range(300):
        colour = list(COLOURS)[int(rng.integers(len(COLOURS)))]
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        images.append(shape_image(colour, shape, rng))
        texts.append(f"a {colour} {shape} product")
    return images, texts, text_encoder.encode(texts)


@pytest.fixture(scope="session")
def trained_aligner(shapes_data):
    """An AlignedImageEncoder trained once on the shapes data, with its report."""
    from encoders.aligned import train_image_aligner

    images, _, vectors = shapes_data
    # one thread: on a busy shared CPU, torch's threads waiting on each other cost 10x or more
    return train_image_aligner(
        images, vectors, epochs=8, batch_size=32, holdout=0.3, seed=0, num_threads=1
    )


def _tiny_tokenizer():
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in string.ascii_lowercase + string.digits + ".,-'":
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[]), len(vocab)


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory) -> Path:
    """A randomly initialised tiny CLIP (hidden 32, 2 layers, 32x32 images) saved locally."""
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tokenizer, vocab_size = _tiny_tokenizer()
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    processor = CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
    tiny = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2}
    config = CLIPConfig(
        text_config={**tiny, "vocab_size": vocab_size, "max_position_embeddings": 40,
                     "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1},
        vision_config={**tiny, "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_clip")
    CLIPModel(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
