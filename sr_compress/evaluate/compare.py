"""A self-contained HTML page comparing bicubic, several models/artifacts and HR image by image.

Per image: a before/after slider between any two layers (pick each side from a list), a zoom
with synchronized crops of every layer around the same point (click or drag on the slider view to
move it), and the per-image PSNR/SSIM table (protocol of ``metrics/sr.py``). Images are embedded
as PNG data URIs and the script is inline: the page needs no network and no server.

``#selftest`` in the URL runs an in-page check after load (every image decoded, slider moved to 25 %,
crops follow a new point) and writes the outcome into ``document.title`` — what the headless
browser test reads.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..data.datasets import BenchmarkSet
from ..data.imresize import bicubic_upscale_uint8
from ..metrics.sr import PROTOCOL, Protocol, evaluate_pair


@dataclass
class ComparedImage:
    name: str
    layers: list[tuple[str, np.ndarray]]  # (label, uint8 HWC at HR size), HR last
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # label -> {psnr, ssim}


def collect(upscalers: list[tuple[str, Any]], bench: BenchmarkSet, scale: int, protocol: Protocol = PROTOCOL,
            max_images: int | None = None) -> list[ComparedImage]:
    """Bicubic, every upscaler and HR for each image of ``bench`` (at most ``max_images``)."""
    out = []
    for i, (name, lr, hr) in enumerate(bench.items):
        if max_images is not None and i >= max_images:
            break
        layers = [("bicubic", bicubic_upscale_uint8(lr, scale))]
        layers += [(label, np.asarray(fn(lr))) for label, fn in upscalers]
        item = ComparedImage(name, [*layers, ("HR", hr)])
        for label, sr in layers:
            item.scores[label] = evaluate_pair(sr, hr, scale, protocol)
        out.append(item)
    return out


def _data_uri(img: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _score_table(items: list[ComparedImage], labels: list[str]) -> str:
    head = "".join(f"<th>{html.escape(lb)} PSNR</th><th>SSIM</th>" for lb in labels)
    rows = []
    for it in items:
        best = max(labels, key=lambda lb: it.scores[lb]["psnr"])
        cells = "".join(
            f"<td{' class=best' if lb == best else ''}>{it.scores[lb]['psnr']:.2f}</td><td>{it.scores[lb]['ssim']:.4f}</td>"
            for lb in labels)
        rows.append(f"<tr><td><a href='#img-{html.escape(it.name)}'>{html.escape(it.name)}</a></td>{cells}</tr>")
    means = "".join(f"<td>{np.mean([it.scores[lb]['psnr'] for it in items]):.2f}</td>"
                    f"<td>{np.mean([it.scores[lb]['ssim'] for it in items]):.4f}</td>" for lb in labels)
    rows.append(f"<tr class=mean><td>mean</td>{means}</tr>")
    return f"<table class=scores><tr><th>image</th>{head}</tr>{''.join(rows)}</table>"


def _section(idx: int, it: ComparedImage) -> str:
    labels = [lb for lb, _ in it.layers]
    opts = "".join(f"<option value={k}>{html.escape(lb)}</option>" for k, lb in enumerate(labels))
    h, w = it.layers[0][1].shape[:2]
    imgs = "".join(f"<img class='layer' data-k={k} src='{_data_uri(a)}' alt='{html.escape(lb)}'>"
                   for k, (lb, a) in enumerate(it.layers))
    crops = "".join(f"<figure><div class=crop data-k={k}></div><figcaption>{html.escape(lb)}"
                    + (f" {it.scores[lb]['psnr']:.2f} dB" if lb in it.scores else "") + "</figcaption></figure>"
                    for k, lb in enumerate(labels))
    return f"""
<section class=item id='img-{html.escape(it.name)}' data-w={w} data-h={h}>
<h2>{html.escape(it.name)} <small>{w}x{h}</small></h2>
<div class=controls>left <select class=left>{opts.replace(f"value={len(labels) - 2}>", f"value={len(labels) - 2} selected>")}</select>
 right <select class=right>{opts.replace("value=0>", "value=0 selected>")}</select>
 slider <input type=range class=slider min=0 max=100 value=50>
 zoom <select class=zoom><option>2</option><option selected>4</option><option>8</option></select></div>
<div class=view><div class=stack>{imgs}<div class=bar></div><div class=mark></div></div></div>
<div class=crops>{crops}</div>
</section>"""


_CSS = """
body{font:14px system-ui,sans-serif;margin:16px;background:#fafafa;color:#222}
table.scores{border-collapse:collapse;margin:8px 0 24px}
.scores td,.scores th{border:1px solid #ccc;padding:3px 8px;text-align:right}
.scores td:first-child{text-align:left} .best{font-weight:bold;background:#e6f4e6} .mean{background:#eee}
.item{margin-bottom:32px} .controls{margin:6px 0}
.view{max-width:100%;overflow:auto} .stack{position:relative;display:inline-block;cursor:crosshair}
.stack img{display:block;image-rendering:pixelated} .stack img.layer{position:absolute;top:0;left:0}
.stack img.layer.base{position:relative} .stack img.hidden{display:none}
.bar{position:absolute;z-index:3;top:0;bottom:0;width:2px;background:#ff0;box-shadow:0 0 2px #000;pointer-events:none}
.mark{position:absolute;z-index:3;border:2px solid #f0f;pointer-events:none}
.crops{display:flex;flex-wrap:wrap;gap:8px} figure{margin:0}
.crop{width:192px;height:192px;border:1px solid #888;image-rendering:pixelated;background-repeat:no-repeat}
figcaption{text-align:center;font-size:12px}
"""

_JS = r"""
function setup(sec){
  const w=+sec.dataset.w,h=+sec.dataset.h, layers=[...sec.querySelectorAll('img.layer')];
  const L=sec.querySelector('.left'),R=sec.querySelector('.right'),S=sec.querySelector('.slider');
  const Z=sec.querySelector('.zoom'),bar=sec.querySelector('.bar'),mark=sec.querySelector('.mark');
  const stack=sec.querySelector('.stack'); sec.point=[w/2,h/2];
  function draw(){
    const l=+L.value,r=+R.value,p=+S.value;
    layers.forEach((im,k)=>{im.className='layer'+(k===r?' base':'')+(k!==l&&k!==r?' hidden':'');
      im.style.clipPath=''; im.style.zIndex=k===l?2:1;});
    if(l!==r){layers[l].style.clipPath='inset(0 '+(100-p)+'% 0 0)';}
    bar.style.left=p+'%';
    const z=+Z.value,cw=192/z,[cx,cy]=sec.point;
    mark.style.left=(cx-cw/2)/w*100+'%'; mark.style.top=(cy-cw/2)/h*100+'%';
    mark.style.width=cw/w*100+'%'; mark.style.height=cw/h*100+'%';
    sec.querySelectorAll('.crop').forEach(c=>{const im=layers[+c.dataset.k];
      c.style.backgroundImage='url('+im.src+')'; c.style.backgroundSize=(w*z)+'px '+(h*z)+'px';
      c.style.backgroundPosition=(96-cx*z)+'px '+(96-cy*z)+'px';});
  }
  function pick(ev){const b=stack.getBoundingClientRect();
    sec.point=[(ev.clientX-b.left)/b.width*w,(ev.clientY-b.top)/b.height*h]; draw();}
  stack.addEventListener('mousedown',ev=>{pick(ev);stack.onmousemove=e=>{if(e.buttons)pick(e)}});
  [L,R,S,Z].forEach(x=>x.addEventListener('input',draw)); sec.draw=draw; draw();
}
function selftest(){
  const secs=[...document.querySelectorAll('section.item')],imgs=[...document.images];
  const decoded=imgs.filter(i=>i.complete&&i.naturalWidth>0).length;
  let moved=0;
  secs.forEach(sec=>{const S=sec.querySelector('.slider');S.value=25;S.dispatchEvent(new Event('input'));
    sec.point=[+sec.dataset.w/3,+sec.dataset.h/3];sec.draw();
    const l=sec.querySelectorAll('img.layer')[+sec.querySelector('.left').value];
    if(l.style.clipPath.includes('75%')&&sec.querySelector('.bar').style.left==='25%')moved++;});
  const ok=imgs.length>0&&decoded===imgs.length&&moved===secs.length;
  document.title=(ok?'SELFTEST OK':'SELFTEST FAIL')+' images='+imgs.length+' decoded='+decoded+
    ' sections='+secs.length+' slider_moved='+moved;
  document.getElementById('selftest-result').textContent=document.title;
}
window.addEventListener('load',()=>{document.querySelectorAll('section.item').forEach(setup);
  if(location.hash==='#selftest')selftest();});
"""


def render_page(items: list[ComparedImage], title: str, protocol_text: str) -> str:
    """The whole page as one HTML string (no external resources)."""
    labels = list(items[0].scores) if items else []
    body = "".join(_section(i, it) for i, it in enumerate(items))
    meta = html.escape(json.dumps({"layers": [lb for lb, _ in items[0].layers] if items else []}))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<meta name=sr-compare content='{meta}'><style>{_CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(protocol_text)}. Left/right pick the two sides of the "
            "slider; click or drag on the image to move the zoomed crops.</p>"
            f"{_score_table(items, labels)}{body}<pre id=selftest-result></pre><script>{_JS}</script></body></html>")


def load_labelled(models: Sequence[str], scale: int | None, device: str = "cpu",
                  tile: int | None = None) -> tuple[list[tuple[str, Any]], int | None]:
    """Upscalers for ``NAME=PATH`` (or ``PATH``) specs, with unique labels; the scale they agree on."""
    from .sr_eval import load_upscaler

    upscalers: list[tuple[str, Any]] = []
    for spec in models:
        label, sep, path = spec.partition("=")
        if not sep or "/" in label:
            label, path = "", spec
        fn, s, _info = load_upscaler(path, scale, device, tile)
        scale = scale or s
        label = label or Path(path).stem or path
        taken = {lb for lb, _ in upscalers} | {"bicubic", "HR"}
        base, k = label, 2
        while label in taken:  # two models with one name would share a column
            label, k = f"{base}-{k}", k + 1
        upscalers.append((label, fn))
    return upscalers, scale


def write_compare_page(upscalers: list[tuple[str, Any]], data: str | Path, scale: int, out: Path,
                       max_images: int = 12) -> int:
    """Write the comparison page of ``upscalers`` on the benchmark folder ``data``; return its image count."""
    from ..data.datasets import dataset_name, load_benchmark
    from ..metrics.sr import PROTOCOL

    bench = load_benchmark(data, scale)
    items = collect(upscalers, bench, scale, max_images=max_images)
    page = render_page(items, f"{dataset_name(data)} x{scale}: {', '.join(lb for lb, _ in upscalers)}",
                       f"PSNR/SSIM: {PROTOCOL.describe(scale)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return len(items)


COMPARE_PAGE = "validation_compare.html"


def write_worst_compare(directory: str | Path, data: Sequence[str | Path], result: dict[str, Any],
                        tile: int | None = None, max_images: int = 12) -> Path | None:
    """The comparison page (bicubic, PyTorch reference, every artifact, HR) of the worst image's dataset.

    The worst image's entry in ``validation.md``/``.json`` then links to its section of the page, so
    the largest deviation can be looked at, not only read as a number. None if no artifact ran.
    """
    from ..backends import read_manifest
    from ..data.datasets import dataset_name
    from .validate import json_default, render_markdown

    worst = result.get("worst_image")
    if not worst:
        return None
    manifest = read_manifest(directory)
    root = manifest.root or Path(directory)
    folder = next((p for p in data if dataset_name(p) == worst["dataset"]), None)
    if folder is None:
        return None
    ran = {a["name"] for a in result["artifacts"]}  # skipped artifacts (missing runtime) stay off the page
    specs = [f"{a.name}={root / a.path}" for a in manifest.artifacts if a.name in ran]
    if manifest.reference and (root / manifest.reference["path"]).is_file():
        specs.insert(0, f"pytorch={root / manifest.reference['path']}")
    upscalers, _ = load_labelled(specs, manifest.scale, tile=tile)
    out = root / COMPARE_PAGE
    write_compare_page(upscalers, folder, manifest.scale, out, max_images)
    worst["compare"] = f"{COMPARE_PAGE}#img-{worst['image']}"
    (root / "validation.json").write_text(json.dumps(result, indent=2, default=json_default) + "\n")
    (root / "validation.md").write_text(render_markdown(result))
    return out
