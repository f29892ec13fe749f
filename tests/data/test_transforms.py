import numpy as np
import pytest
import torch

from faceprint.data import Preprocessing


def test_eval_path_is_the_centre_window_standardised():
    pre = Preprocessing(input_size=16, crop=0.5, pad=0.25)
    assert pre.stored_size == 20
    img = np.zeros((100, 100, 3), np.uint8)
    img[25:75, 25:75] = 255  # the central half of the image
    stored = pre.from_array(img)
    assert stored.shape == (20, 20, 3)
    # crop * (1 + pad) = 62.5% of the side is stored; the white square fills the central 16 of 20 pixels.
    x = pre.to_tensor(stored)
    assert x.shape == (1, 3, 16, 16)
    assert torch.allclose(x[0, :, 1:-1, 1:-1], torch.full((3, 14, 14), (255 - 127.5) / 128))
    assert x.is_contiguous(memory_format=torch.channels_last)


def test_training_augmentation_shapes_and_flip():
    pre = Preprocessing(input_size=16, crop=0.5, pad=0.25)
    stored = np.zeros((64, 20, 20, 3), np.uint8)
    stored[:, :, :10] = 200  # left half bright
    x = pre.to_tensor(stored, train=True, generator=torch.Generator().manual_seed(0), jitter=0.0)
    assert x.shape == (64, 3, 16, 16)
    left_bright = (x[:, 0, :, 0] > 0).all(1)
    assert 0 < left_bright.sum() < 64  # some flipped, some not
    y = pre.to_tensor(stored, train=True, generator=torch.Generator().manual_seed(0), jitter=0.0)
    assert torch.equal(x, y)


def test_invalid_settings():
    with pytest.raises(ValueError):
        Preprocessing(crop=0.95, pad=0.2)
    with pytest.raises(ValueError):
        Preprocessing(alignment="magic")
