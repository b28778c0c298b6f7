"""Model zoo with local file:// URLs (no network), and the info/zoo CLI verbs."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import torch

from sr_compress.cli import cli, run_cli
from sr_compress.errors import CheckpointError, UserInputError
from sr_compress.models import zoo
from sr_compress.models.load import load_model, save_model
from sr_compress.models.students import build_student


@pytest.fixture()
def local_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path, str]:
    src = tmp_path / "remote" / "tiny_x2.pth"
    src.parent.mkdir()
    save_model(build_student("srvgg:c4b1", 2), src)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    entry = zoo.ZooEntry("tiny-x2", src.as_uri(), "srvgg", 2, digest, "test entry")
    monkeypatch.setitem(zoo.ZOO, entry.name, entry)
    monkeypatch.setenv("SR_COMPRESS_CACHE", str(tmp_path / "cache"))
    return entry.name, src, digest


def test_fetch_verifies_and_caches(local_entry: tuple[str, Path, str], tmp_path: Path) -> None:
    name, src, digest = local_entry
    path = zoo.fetch(name, progress=False)
    assert path.parent == tmp_path / "cache" / "zoo" and path.read_bytes() == src.read_bytes()
    assert list(path.parent.iterdir()) == [path]  # no temporary files left
    src.unlink()  # second call is served from the cache
    assert zoo.fetch(name, progress=False) == path
    desc = load_model(name)
    assert desc.arch == "srvgg" and desc.source == f"zoo:{name}" and desc.source_sha256 == digest


def test_checksum_mismatch_leaves_nothing(local_entry: tuple[str, Path, str], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    name, src, _ = local_entry
    monkeypatch.setitem(zoo.ZOO, name, zoo.ZooEntry(name, src.as_uri(), "srvgg", 2, "0" * 64, "bad"))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        zoo.fetch(name, progress=False)
    assert not any((tmp_path / "cache" / "zoo").iterdir())


def test_unverified_entries_need_opt_in(local_entry: tuple[str, Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    name, src, digest = local_entry
    monkeypatch.setitem(zoo.ZOO, name, zoo.ZooEntry(name, src.as_uri(), "srvgg", 2, None, "no hash"))
    with pytest.raises(CheckpointError, match="allow-unverified"):
        zoo.fetch(name, progress=False)
    assert zoo.fetch(name, allow_unverified=True, progress=False).is_file()
    monkeypatch.setitem(zoo.ZOO, name, zoo.ZooEntry(name, src.as_uri(), "srvgg", 2, None, "prefix",
                                                    sha256_prefix=digest[:8], filename="other.pth"))
    assert zoo.fetch(name, progress=False).name == "other.pth"


def test_offline_error_is_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(zoo.ZOO, "gone", zoo.ZooEntry("gone", (tmp_path / "missing.pth").as_uri(), "srvgg", 2,
                                                      "0" * 64, "missing"))
    with pytest.raises(CheckpointError, match="cannot download zoo model gone"):
        zoo.fetch("gone", cache=tmp_path / "c", progress=False)
    with pytest.raises(UserInputError, match="unknown zoo model"):
        zoo.fetch("no-such-model")


def test_zoo_table_is_well_formed() -> None:
    for e in zoo.ZOO.values():
        assert e.url.startswith("https://")
        assert e.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", e.sha256), (e.name, e.sha256)
        assert e.scale in (2, 3, 4)


def test_cli_zoo_list_and_fetch(local_entry: tuple[str, Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    name, _, _ = local_entry
    assert run_cli(cli, ["zoo", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert any(r["name"] == "imdn-x4" and r["sha256"] for r in rows)
    assert run_cli(cli, ["zoo", "fetch", name]) == 0
    assert Path(capsys.readouterr().out.strip()).is_file()
    assert run_cli(cli, ["zoo", "fetch", "nope"]) == 2


def test_cli_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = save_model(build_student("rlfn:c8b1", 4), tmp_path / "student.pth")
    assert run_cli(cli, ["info", str(p), "--json", "--size", "32"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["arch"] == "rlfn" and info["scale"] == 4 and info["macs"] > 0 and info["params"] > 0
    assert run_cli(cli, ["info", str(p)]) == 0
    assert "MACs @ 256x256 LR" in capsys.readouterr().out
    torch.save({"x": torch.zeros(1)}, tmp_path / "junk.pth")
    assert run_cli(cli, ["info", str(tmp_path / "junk.pth")]) == 2
    assert "junk.pth" in capsys.readouterr().err
