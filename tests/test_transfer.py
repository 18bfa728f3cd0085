"""Transfer learning (issue 26): freeze, extract_features, replace_head, the study and
``glassnet transfer`` / ``glassnet export``; torchvision's weights downloaded resumably."""

from __future__ import annotations

import hashlib
import http.server
import threading

import numpy as np
import pytest

import glassnet as gn
from glassnet import nn, train
from glassnet.cli import main
from glassnet.models import weights as gw
from glassnet.study.transfer import TransferConfig, run_transfer, transfer_table


def _x(n=6, shape=(1, 28, 28), seed=0):
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


# ------------------------------------------------------------------------- the tools
def test_freeze_gives_no_gradient_and_no_update():
    model = gn.models.get("lenet5", seed=0)
    frozen = train.freeze(model, "0", "3")
    assert frozen == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert train.transfer.trainable_parameters(model)[0] == "7.weight"
    before = model.state_dict()
    y = np.arange(6) % 10
    train.fit(model, (_x(), y), epochs=2, batch_size=3, lr=1e-2, progress=False)
    after = model.state_dict()
    for key in before:
        moved = not np.array_equal(before[key], after[key])
        assert moved == (key not in frozen), key
    assert not any(p.grad.any() for n, p in model.named_parameters() if n in frozen)
    train.unfreeze(model, "0")
    assert model[0].weight.requires_grad and not model[3].weight.requires_grad
    with pytest.raises(ValueError, match="no parameters under 'features'.*0, 1, 10"):
        train.freeze(model, "features")


def test_backward_stops_below_the_first_trainable_layer():
    model = gn.models.get("lenet5", seed=0)
    train.freeze(model, "0", "3", "7", "9")
    model.set_input_grad(False)  # what fit does: the images need no gradient

    def boom(grad):
        raise AssertionError("backward ran through a frozen layer it did not need")

    for i in (0, 3, 7):  # layers below the last frozen one with parameters
        object.__setattr__(model[i], "backward", boom)
    out = model(_x(2))
    assert model.backward(np.ones_like(out)) is None
    assert model[11].weight.grad.any() and not model[9].weight.grad.any()


def test_extract_features_stops_at_the_layer_in_eval_mode():
    model = gn.models.get("lenet5", seed=0)
    model.train()
    x = _x(5)
    feats = train.extract_features(model, x, "5", batch_size=2, progress=False)
    assert model.training  # the mode is given back
    model.eval()
    expected = x
    for i in range(6):
        expected = model[i](expected)
    np.testing.assert_allclose(feats, expected.reshape(5, -1), rtol=1e-6)
    assert train.extract_features(model, x, "5", flatten=False, progress=False).shape == (
        5,
        16,
        5,
        5,
    )
    with pytest.raises(ValueError, match="no layer 'conv4'"):
        train.extract_features(model, x, "conv4", progress=False)


def test_replace_head_keeps_names_and_order():
    model = gn.models.get("resnet8", seed=0, input_shape=(3, 16, 16))
    keys = list(model.state_dict())
    head = train.replace_head(model, 4, seed=1)
    assert isinstance(head, nn.Linear) and (head.in_features, head.out_features) == (64, 4)
    assert list(model.state_dict()) == keys
    assert model(np.zeros((2, 3, 16, 16), np.float32)).shape == (2, 4)
    assert model.zoo_spec["num_classes"] == 4
    with pytest.raises(ValueError, match="num_classes"):
        train.replace_head(model, 0)


# ------------------------------------------------------------------------- the study
@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A digits-cnn-pool trained briefly by glassnet train (the 'pretrained' network)."""
    out = tmp_path_factory.mktemp("runs") / "digits"
    code = main(
        ["train", "--model", "cnn-pool", "--dataset", "digits", "--epochs", "2",
         "--val-size", "100", "--out", str(out), "--no-progress"]
    )  # fmt: skip
    assert code == 0
    return out


def test_run_transfer_rows_and_table(digits_run):
    from glassnet.study.train_run import load_model

    model = load_model(digits_run / "model.safetensors")
    cfg = TransferConfig(dataset="digits", per_class=(3, 6), steps=4, val_size=100)
    lines = []
    result = run_transfer(model, cfg, log=lines.append, progress=False)
    assert [(r["mode"], r["per_class"]) for r in result["rows"]] == [
        (m, n) for n in (3, 6) for m in ("scratch", "head", "finetune")
    ]
    assert all(r["train_images"] == 10 * r["per_class"] for r in result["rows"])
    assert all(0 <= r["test_accuracy"] <= 1 for r in result["rows"])
    assert result["layer"] == "5" and result["head"] == "6"  # the ReLU before the classifier
    table = transfer_table(result)
    assert table.splitlines()[0] == "| images per class | scratch | head | finetune |"
    assert len(table.splitlines()) == 4
    # the pretrained network is not changed by the study
    again = load_model(digits_run / "model.safetensors")
    for key, value in again.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[key], value)
    with pytest.raises(ValueError, match="unknown mode"):
        TransferConfig(modes=("linear",)).validate()


def test_cli_transfer_and_export(digits_run, tmp_path, capsys):
    out = tmp_path / "study"
    argv = [
        "transfer", str(digits_run / "model.safetensors"), "--dataset", "digits",
        "--per-class", "4", "--steps", "3", "--val-size", "100", "--modes", "head,scratch",
        "--out", str(out), "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "normalising as the pretrained network's data, digits" in printed
    assert "| images per class | head | scratch |" in printed
    assert (out / "transfer.json").exists() and (out / "transfer.md").exists()
    assert main(argv) == 2  # one study per folder
    assert "already holds a transfer study" in capsys.readouterr().err
    assert main(argv[:-3] + ["--per-class", "0"]) == 2
    assert "positive counts" in capsys.readouterr().err
    assert main(argv[:-3] + ["--layer", "conv9"]) == 2
    assert "no layer 'conv9'" in capsys.readouterr().err

    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    onnx_path = tmp_path / "m.onnx"
    assert main(["export", str(digits_run / "model.safetensors"), "--onnx", str(onnx_path)]) == 0
    from glassnet.study.train_run import load_model

    model = load_model(digits_run / "model.safetensors").eval()
    x = _x(3, (1, 8, 8))
    got = ort.InferenceSession(str(onnx_path)).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, model(x), atol=1e-5)
    # a zoo name needs weights; its weights may be a safetensors file
    assert main(["export", "alexnet", "--onnx", str(tmp_path / "a.onnx")]) == 2
    assert "--weights FILE (torchvision's alexnet-owt-7be5be79.pth) or --download" in (
        capsys.readouterr().err
    )
    assert main(["export", "alexnet-owt-7be5be79.pth", "--onnx", str(tmp_path / "a.onnx")]) == 2
    assert "name the zoo model and pass the file with --weights" in capsys.readouterr().err
    gn.save(gn.models.get("lenet5", num_classes=3), tmp_path / "l.safetensors")
    argv = ["export", "lenet5", "--weights", str(tmp_path / "l.safetensors"), "--onnx"]
    assert main([*argv, str(tmp_path / "l.onnx")]) == 0
    assert "lenet5, input 'input' (N, 1, 28, 28)" in capsys.readouterr().out


# ------------------------------------------------------------------------- weights
class _RangeHandler(http.server.BaseHTTPRequestHandler):
    body = b""
    ranges: list = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        start = 0
        header = self.headers.get("Range")
        type(self).ranges.append(header)
        if header:
            start = int(header.split("=")[1].rstrip("-"))
            self.send_response(206)
        else:
            self.send_response(200)
        data = self.body[start:]
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_download_weights_verifies_and_resumes(server, tmp_path):
    body = np.random.default_rng(0).bytes(300_000)
    _RangeHandler.body, _RangeHandler.ranges = body, []
    url = f"http://127.0.0.1:{server.server_port}/net-abcd.pth"
    good = gw.PretrainedWeights("net", url, hashlib.sha256(body).hexdigest()[:8])
    # an interrupted download: its first bytes are in the .part file
    (tmp_path / "net-abcd.pth.part").write_bytes(body[:100_000])
    path = gw.download_weights(good, tmp_path, progress=False)
    assert path == tmp_path / "net-abcd.pth" and path.read_bytes() == body
    assert _RangeHandler.ranges == ["bytes=100000-"]
    assert not (tmp_path / "net-abcd.pth.part").exists()
    assert gw.download_weights(good, tmp_path, progress=False) == path  # there: checked only
    assert len(_RangeHandler.ranges) == 1
    bad = gw.PretrainedWeights("net", url.replace("abcd", "efgh"), "00000000")
    with pytest.raises(OSError, match="does not start with 00000000.*discarded"):
        gw.download_weights(bad, tmp_path, progress=False)
    assert not list(tmp_path.glob("net-efgh*"))
    path.write_bytes(b"damaged")
    with pytest.raises(OSError, match="damaged"):
        gw.download_weights(good, tmp_path, progress=False)


def test_torchvision_urls_and_pretrained_from_a_file(tmp_path):
    assert gw.PRETRAINED["alexnet"].filename == "alexnet-owt-7be5be79.pth"
    assert (
        gw.PRETRAINED["resnet18"].url == "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    )
    with pytest.raises(FileNotFoundError, match="download=True"):
        gn.models.pretrained("resnet18", folder=tmp_path)
    source = gn.models.get("resnet18", input_shape=(3, 32, 32), seed=3)
    gn.save(source, tmp_path / "r.safetensors")
    model = gn.models.pretrained(
        "resnet18", tmp_path / "r.safetensors", input_shape=(3, 32, 32), num_classes=4
    )
    assert model.fc.out_features == 4
    np.testing.assert_array_equal(model.conv1.weight.data, source.conv1.weight.data)
