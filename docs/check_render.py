"""Render built documentation pages in headless Chromium and check they are not blank.

Usage (after ``make -C docs html``)::

    python docs/check_render.py [--chromium /usr/bin/chromium] [--out docs/_build/screenshots]

Serves ``docs/_build/html`` on a loopback port, takes a screenshot of each page
with Chromium (``--headless --screenshot``), and fails when a page is missing or its
screenshot is (nearly) a single colour.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
from PIL import Image

HTML = Path(__file__).parent / "_build" / "html"
PAGES = [
    "index.html",
    "quickstart.html",
    "user_guide.html",
    "auto_examples/index.html",
    "auto_examples/plot_convergence.html",
    "api.html",
    "gen_modules/sklearn_ltuning.LTuningClassifier.html",
    "results.html",
    "benchmarks.html",
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1200,1600",
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", default=str(HTML.parent / "screenshots"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    failed = []
    for page in PAGES:
        if not (HTML / page).is_file():
            failed.append(f"{page}: not built")
            continue
        png = out / (page.replace("/", "__").removesuffix(".html") + ".png")
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run(
                [
                    args.chromium,
                    *FLAGS,
                    f"--user-data-dir={profile}",
                    f"--screenshot={png}",
                    f"http://127.0.0.1:{port}/{page}",
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
        grey = np.asarray(Image.open(png).convert("L"), dtype=float)
        dark = float((grey < 128).mean())
        status = "ok" if grey.std() > 15 and 0.005 < dark < 0.6 else "BLANK?"
        if status != "ok":
            failed.append(f"{page}: looks blank (std {grey.std():.1f}, dark share {dark:.3f})")
        print(f"{status:7} {page:55} -> {png} (std {grey.std():.1f}, text share {dark:.3f})")
    server.shutdown()
    for line in failed:
        print("FAILED", line, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
