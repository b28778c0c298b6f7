"""A table of well-known checkpoints with official download URLs and checksums.

``fetch(name)`` downloads into the cache dir (``$SR_COMPRESS_CACHE`` or
``~/.cache/sr-compress/zoo``) through a temporary file, verifies the sha256 and only then
renames it into place, so a cache entry is always complete and verified. Entries whose full
sha256 we have not verified ourselves carry ``sha256=None`` (BasicSR names its files with the
first 8 hex digits of the sha256, kept as ``sha256_prefix``); fetching those needs
``allow_unverified=True`` (``sr-compress zoo fetch --allow-unverified``) and prints the digest.

The sha256 of the GitHub-hosted entries were computed from byte-identical copies of the files
(``../shared/data/weights``, see its SOURCES.md); URLs point at the exact commits.
"""

from __future__ import annotations

import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError, UserInputError
from ..hashing import sha256_file


@dataclass(frozen=True)
class ZooEntry:
    name: str
    url: str
    arch: str
    scale: int
    sha256: str | None
    description: str
    sha256_prefix: str | None = None
    filename: str | None = None
    set5_psnr: float | None = None  # published Set5 Y-PSNR of this checkpoint, where known

    @property
    def file_name(self) -> str:
        return self.filename or self.url.rstrip("/").rsplit("/", 1)[-1].split("?")[0]


def _gh(repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


_IMDN = ("Zheng222/IMDN", "8f158e6a5ac9db6e5857d9159fd4a6c4214da574")
_PAN = ("zhaohengyuan1/PAN", "4d045d18592c5771cd3990da88f292812774e538")
_RLFN = ("bytedance/RLFN", "bccfde91bf8b2de80789ec033a029e6f2a932330")
_NTIRE22 = ("ofsoundof/NTIRE2022_ESR", "e95ba4a4916bb13d6348f7ee172827e2452e8a31")
_DCTLSA = ("zengkun301/DCTLSA", "0756bc8554e86c62f1ae4355eed0f05a8feaa2bf")
_NTIRE24 = ("Amazingren/NTIRE2024_ESR", "6404fa48dde4a4adbf241a51debdc661aef20449")

ZOO: dict[str, ZooEntry] = {e.name: e for e in [
    ZooEntry("imdn-x2", _gh(*_IMDN, "checkpoints/IMDN_x2.pth"), "imdn", 2,
             "740b39653592bd3f49955a21cd9e16f2d37f2c413368cc09327601b8fbe42ce1", "IMDN x2 (official)",
             set5_psnr=38.00),
    ZooEntry("imdn-x3", _gh(*_IMDN, "checkpoints/IMDN_x3.pth"), "imdn", 3,
             "11b1716a19bc16e5e353e1db798d476169338e631eb170c82d765559888cb028", "IMDN x3 (official)",
             set5_psnr=34.36),
    ZooEntry("imdn-x4", _gh(*_IMDN, "checkpoints/IMDN_x4.pth"), "imdn", 4,
             "e660c38221147217a136debeb99eb304d62d9c0f73ac421ed66281b619719714", "IMDN x4 (official)",
             set5_psnr=32.21),
    ZooEntry("pan-x2", _gh(*_PAN, "experiments/pretrained_models/PANx2_DF2K.pth"), "pan", 2,
             "fcf8ed48656abbaae46309ee91745684b80235a9c8b37a2d8fb0715a3ad3f00f", "PAN x2 DF2K (official)",
             set5_psnr=38.00),
    ZooEntry("pan-x3", _gh(*_PAN, "experiments/pretrained_models/PANx3_DF2K.pth"), "pan", 3,
             "86491751d73645a8816a0d6ec62ccde6b22ce5da930e36b3b87f5437167fbc89", "PAN x3 DF2K (official)",
             set5_psnr=34.40),
    ZooEntry("pan-x4", _gh(*_PAN, "experiments/pretrained_models/PANx4_DF2K.pth"), "pan", 4,
             "739fab99ee7b7058dab4d1b84aa2869bb9fc3995a1c08789c20355bee943833c", "PAN x4 DF2K (official)",
             set5_psnr=32.13),
    ZooEntry("rlfn-x2", _gh(*_RLFN, "model_zoo/rlfn_x2.pth"), "rlfn", 2,
             "eafe5d5feeb122022453595c06d79160facdc157ae88deb02a44c50f5eba2d41", "RLFN x2 (official)",
             set5_psnr=38.07),
    ZooEntry("rlfn-x4", _gh(*_RLFN, "model_zoo/rlfn_x4.pth"), "rlfn", 4,
             "8c7edb57dfc89048bafba29d591d4c27d4099964b4a9e22df23d6dc257a637c0", "RLFN x4 (official)",
             set5_psnr=32.24),
    ZooEntry("rlfn-s-x2", _gh(*_RLFN, "model_zoo/rlfn_s_x2.pth"), "rlfn", 2,
             "f5175f499f869c1b884c2552a1bcd6abd07ab352e3d8c8c9abe31b1deb60fe45", "RLFN-S x2 (official)",
             set5_psnr=38.05),
    ZooEntry("rlfn-s-x4", _gh(*_RLFN, "model_zoo/rlfn_s_x4.pth"), "rlfn", 4,
             "f769c5a88433786b2db0c2b24da6ca6c92a24c62344b9354a390f8a74388e89d", "RLFN-S x4 (official)",
             set5_psnr=32.23),
    ZooEntry("rlfn-ntire-x4", _gh(*_RLFN, "model_zoo/rlfn_ntire_x4.pth"), "rlfn", 4,
             "3c9be7b9d7a4bece9b68c83a56a1ffb38010f76413d5f215be6b4be842e18fb2",
             "RLFN NTIRE 2022 ESR entry (46 ch, 4 blocks)"),
    ZooEntry("rfdn-aim-x4", _gh(*_NTIRE22, "model_zoo/rfdn_baseline.pth"), "rfdn", 4,
             "11af8ec8ebd68689e90ef1e29044f9804c72d3bd9f7573820b7b26035782760c",
             "RFDN AIM 2020 ESR winner (= NTIRE 2022 ESR baseline)", filename="RFDN_AIM.pth"),
    ZooEntry("imdn-rtc-x2", _gh(*_IMDN, "checkpoints/model_RTC.pth"), "imdn_rtc", 2,
             "5696ca25971477a93f2a3f3b235039e30afefff1bb560efdc48c0f880635a2ab",
             "IMDN-RTC x2, 12 ch real-time IMDN (official; no published Set5)"),
    ZooEntry("imdn-rte-x2", _gh(*_IMDN, "checkpoints/model_RTE.pth"), "imdn_rte", 2,
             "4f5df6feb541d3904e1bceb9d7444bde3a8068d91c22941f4c83247663081c7d",
             "IMDN-RTE x2, 20 ch stride-2 real-time IMDN (official; no published Set5)"),
    # the snapshot SOURCES.md names is only known by its short id (40d3514f); the branch URL is safe
    # because the sha256 below is checked before the file is used
    ZooEntry("carn-m", _gh("nmhkahn/CARN-pytorch", "master", "checkpoint/carn_m.pth"), "carn_m", 4,
             "d48a759a84509351facb6b7c6d5bd6edec98b98519b8c464ee4ab44d2ba964ff",
             "CARN-M, one file with x2/x3/x4 heads (official; pick the head with --scale)"),
    ZooEntry("fmen-ntire2022-x4", _gh(*_NTIRE22, "model_zoo/team03_fmen.pth"), "fmen", 4,
             "f20cde0828068c5f50d3b64aa82c8a363fe6abc8d536d1a9fd4d09899f019bea",
             "FMEN x4, NTIRE 2022 ESR team 03 entry (re-parameterised)"),
    ZooEntry("bsrn-s-ntire2022-x4", _gh(*_NTIRE22, "model_zoo/team18_bsrn.pth"), "bsrn", 4,
             "29ac393975ec709912282da97765daf722d9efd40589f4abcb95b3a407f62e40",
             "BSRN-S x4 (156K), NTIRE 2022 ESR team 18 entry"),
    ZooEntry("dctlsa-x2", _gh(*_DCTLSA, "pretrained/X2.pt"), "spandrel:DCTLSA", 2,
             "df08c0b6dc0a034c63b6d425586ac3c13ed227db75bb0282b012b4220e943eb9", "DCTLSA x2 (official)",
             filename="DCTLSA_X2.pt"),
    ZooEntry("dctlsa-x3", _gh(*_DCTLSA, "pretrained/X3.pt"), "spandrel:DCTLSA", 3,
             "4af9979200d385177ea5284215f144a85cebf5037014af164b1efe5a5beea86d", "DCTLSA x3 (official)",
             filename="DCTLSA_X3.pt"),
    ZooEntry("dctlsa-x4", _gh(*_DCTLSA, "pretrained/X4.pt"), "spandrel:DCTLSA", 4,
             "58d822beb3a1bf1d3e5dc91371a5686debda6bdbf246a4484805bda37cb18c06", "DCTLSA x4 (official)",
             filename="DCTLSA_X4.pt"),
    ZooEntry("craft-ntire2024-x4", _gh(*_NTIRE24, "model_zoo/team34_craft.pth"), "spandrel:CRAFT", 4,
             "a3d57001df7e856be6b4e3553d77be3b038609f34db5d41b43c3e6c67756a381",
             "CRAFT x4, NTIRE 2024 ESR team 34 entry", filename="ntire2024_team34_craft_x4.pth"),
    # Google Drive ids from BasicSR's download script; file name carries sha256[:8] (BasicSR convention)
    ZooEntry("edsr-m-x4-basicsr",
             "https://drive.google.com/uc?export=download&id=1bCK6cFYU01uJudLgUUe-jgx-tZ3ikOWn", "edsr", 4,
             None, "EDSR-M x4 (64 ch, 16 blocks), BasicSR official", sha256_prefix="0c287733",
             filename="EDSR_Mx4_f64b16_DIV2K_official-0c287733.pth"),
    ZooEntry("realesr-general-x4v3",
             "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.2.5.0/realesr-general-x4v3.pth",
             "srvgg", 4, None, "Real-ESRGAN compact general x4 v3 (SRVGGNetCompact 64 ch, 32 convs)"),
]}


def cache_dir() -> Path:
    env = os.environ.get("SR_COMPRESS_CACHE")
    base = Path(env) if env else Path.home() / ".cache" / "sr-compress"
    return base / "zoo"


def is_zoo_name(name: str) -> bool:
    return name in ZOO


def get_entry(name: str) -> ZooEntry:
    try:
        return ZOO[name]
    except KeyError:
        raise UserInputError(f"unknown zoo model {name!r} (known: {', '.join(sorted(ZOO))})") from None


def _verify(entry: ZooEntry, path: Path, allow_unverified: bool) -> str:
    digest = sha256_file(path)
    if entry.sha256 is not None:
        if digest != entry.sha256:
            raise CheckpointError(f"checksum mismatch for zoo model {entry.name} ({path}): expected sha256 "
                                  f"{entry.sha256}, got {digest}; the download is corrupt or the file changed")
        return digest
    if entry.sha256_prefix is not None and not digest.startswith(entry.sha256_prefix):
        raise CheckpointError(f"checksum mismatch for zoo model {entry.name} ({path}): sha256 should start with "
                              f"{entry.sha256_prefix}, got {digest}")
    if not allow_unverified and entry.sha256_prefix is None:
        raise CheckpointError(f"zoo model {entry.name} has no known sha256; pass --allow-unverified "
                              "(allow_unverified=True) to accept it")
    return digest


def fetch(name: str, cache: str | Path | None = None, allow_unverified: bool = False,
          progress: bool = True) -> Path:
    """Path of the verified local copy of zoo model ``name``, downloading it on first use."""
    entry = get_entry(name)
    folder = Path(cache) if cache is not None else cache_dir()
    dest = folder / entry.file_name
    if dest.is_file():
        _verify(entry, dest, allow_unverified)
        return dest
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=entry.file_name + ".", suffix=".part", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                req = urllib.request.Request(entry.url, headers={"User-Agent": "sr-compress"})
                with urllib.request.urlopen(req, timeout=60) as resp:
                    total = int(resp.headers.get("Content-Length") or 0)
                    _copy(resp, out, total, f"{entry.name}", progress)
            except (urllib.error.URLError, OSError, TimeoutError) as err:
                reason = getattr(err, "reason", err)
                raise CheckpointError(f"cannot download zoo model {name} from {entry.url}: {reason} (offline? "
                                      "download it elsewhere and pass the file path instead)") from None
        digest = _verify(entry, tmp, allow_unverified)
        if entry.sha256 is None:
            print(f"{entry.name}: sha256 {digest} (not in the zoo table)", file=sys.stderr)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest


def _copy(src: object, dst: object, total: int, label: str, progress: bool) -> None:
    from tqdm import tqdm

    with tqdm(total=total or None, unit="B", unit_scale=True, desc=label, disable=not progress,
              leave=False) as bar:
        while True:
            block = src.read(1 << 16)  # type: ignore[attr-defined]
            if not block:
                break
            dst.write(block)  # type: ignore[attr-defined]
            bar.update(len(block))


def resolve(name_or_path: str | Path, allow_unverified: bool = False) -> Path:
    """A local checkpoint path: an existing file as is, a zoo name fetched (cached) first."""
    p = Path(name_or_path).expanduser()
    if p.exists():
        return p
    if is_zoo_name(str(name_or_path)):
        return fetch(str(name_or_path), allow_unverified=allow_unverified)
    raise UserInputError(f"{name_or_path} is neither an existing file nor a zoo model "
                         f"(known: {', '.join(sorted(ZOO))})")
