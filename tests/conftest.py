"""Shared helpers: the repository's paths, params with overrides, and running stages."""

from __future__ import annotations

import copy
import importlib
import importlib.util
import io
import logging
import os
import stat
import subprocess
import sys
import zipfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
_RUNNING = {"e2e": False}
USERS_THREADS = os.environ.get("OMP_NUM_THREADS")  # what a user's own run gets: unset, PyTorch's default


def _share_the_cores() -> None:
    """Under xdist, each worker and every process it starts runs PyTorch on its share of the cores, and waits at
    OpenMP's barriers asleep, not spinning: two workers each spinning on every core oversubscribe the machine (the
    regression gate's reproduction of the default took 903 s beside the other worker, about 250 s alone; a 3-epoch
    default training, 20 s alone, took 78 s beside one busy core and 33 s with passive waits, to the same model).
    Set before torch is imported; a user's settings stand."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


_share_the_cores()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Note whether the test about to run (its fixtures first) is marked e2e, for `_require_e2e`."""
    _RUNNING["e2e"] = item.get_closest_marker("e2e") is not None


# The longest modules, longest first: the suite's two workers take them before the short ones, so that neither
# is left alone with a long module at the end (pyproject.toml: `-n 2 --dist loadfile --no-loadscope-reorder`;
# without the last, xdist reorders modules by their count of tests and the gate, with 4, ran late).
LONGEST_FIRST = ["tests/test_regression.py", "tests/test_pipeline.py", "tests/training/test_train_stage.py",
                 "tests/test_pipeline_external.py", "tests/test_shared_data.py"]


def pytest_collection_modifyitems(items):
    """Run `LONGEST_FIRST` first; every other module keeps its place."""
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


def _require_e2e(what: str) -> None:
    """A test that starts a stage or dvc in a new process belongs to the e2e tier: the fast tier (`-m "not e2e"`)
    stays fast only if every such test says so."""
    assert _RUNNING["e2e"], f"{what} starts a process: mark the test (or its module) @pytest.mark.e2e"


def default_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def with_overrides(params: dict, overrides: dict) -> dict:
    """A copy of params with dotted keys replaced, e.g. {"model.arch": "vgg16"}."""
    params = copy.deepcopy(params)
    for dotted, value in overrides.items():
        *parents, last = dotted.split(".")
        node = params
        for key in parents:
            node = node[key]
        node[last] = value
    return params


TINY = {
    "data.synthetic.patients": 40,
    "data.synthetic.image_size": 96,
    "base.workers": 1,
    "filter.regions": ["all"],
    "enhance.image_size": 48,
    "enhance.score_images": 40,
    "train.epochs": 2,
    "train.batch_size": 16,
}


def tiny_params(**overrides) -> dict:
    """Params for a seconds-long run: few small synthetic patients, all regions, two epochs."""
    return with_overrides(default_params(), {**TINY, **overrides})


def stage_env() -> dict:
    """Environment in which `python` is this interpreter and `fracture` imports from the repo."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO)
    return env


def run_stage(name: str, workdir: Path, params: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m stages.<name>` in `workdir` (writing params.yaml there first if given)."""
    _require_e2e(f"stage {name}")
    if params is not None:
        (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run([sys.executable, "-m", f"stages.{name}"], cwd=workdir, env=stage_env(),
                          capture_output=True, text=True, timeout=600)


def in_process(call: Callable[[], None], workdir: Path) -> subprocess.CompletedProcess:
    """What a process running `call` in `workdir` prints and returns, run in this one: seconds faster than a
    new interpreter importing torch again. Logs reach its stderr as a stage's do."""
    out, err = io.StringIO(), io.StringIO()
    handler, root = logging.StreamHandler(err), logging.getLogger()
    handler.setFormatter(logging.Formatter("%(message)s"))
    level, before = root.level, os.getcwd()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    os.chdir(workdir)
    code = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            call()
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
    finally:
        os.chdir(before)
        root.removeHandler(handler)
        root.setLevel(level)
    return subprocess.CompletedProcess([], code, out.getvalue(), err.getvalue())


def run_stage_here(name: str, workdir: Path, params: dict | None = None) -> subprocess.CompletedProcess:
    """As `run_stage`, in this process: for the data stages, and for any stage that stops before it trains (a train
    stage run here would leave torch's deterministic mode set for every later test)."""
    from fracture.core.errors import run_stage as stage_runner

    if params is not None:
        (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    script = importlib.import_module(f"stages.{name}")
    return in_process(lambda: stage_runner(script.main), workdir)


def study_module(name: str, folder: str = "studies"):
    """A script of studies/ (or bench/) as a module, for the suite to run its code on made-up data."""
    spec = importlib.util.spec_from_file_location(name, REPO / folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_png(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)
    return path


def radiograph_like(seed: int, size: int = 96) -> np.ndarray:
    """A textured uint8 image that passes the filter's checks."""
    rng = np.random.default_rng(seed)
    gradient = np.linspace(40, 200, size)[None, :] * np.ones((size, 1))
    return np.clip(gradient + rng.normal(0, 20, (size, size)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory) -> Path:
    """A tiny synthetic data set in MURA layout, generated once per session."""
    from fracture.data.sources.synthetic import SyntheticConfig, generate

    root = tmp_path_factory.mktemp("synthetic")
    generate(SyntheticConfig(patients=30, image_size=96, seed=7), root)
    return root


def copy_project(destination: Path, params: dict | None = None) -> Path:
    """The project's files (tracked, plus untracked ones git does not ignore) in a fresh git repo."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    for name in listed:
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    if params is not None:
        (destination / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "project copy"]):
        git(destination, *command)
    return destination


def git(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """Run git in `workdir` as a throwaway test identity; fail loudly on error."""
    return subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
                          cwd=workdir, check=True, capture_output=True, text=True)


def dvc(workdir: Path, *args: str, timeout: int = 900, every_core: bool = False) -> subprocess.CompletedProcess:
    """Run a dvc command in `workdir` with this interpreter's environment, its stages on this worker's share of
    the cores or, with `every_core`, on the threads a user's own run gets; fail loudly on error."""
    _require_e2e(f"dvc {args[0]}")
    env = stage_env()
    env.pop("PYTHONPATH")  # stages must import the copy's own package
    if every_core:
        env.pop("OMP_NUM_THREADS", None)
        if USERS_THREADS:
            env["OMP_NUM_THREADS"] = USERS_THREADS
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=workdir, env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def stages_run(output: str) -> list[str]:
    """The stages a dvc repro/exp run executed, from its log."""
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


def write_dicom(path: Path, pixels: np.ndarray, photometric: str = "MONOCHROME2", bits_stored: int = 12,
                rescale: tuple[float, float] | None = None, window: tuple[float, float] | None = None,
                with_pixels: bool = True) -> Path:
    """A minimal computed-radiography DICOM file with 16-bit unsigned pixels."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    computed_radiography = "1.2.840.10008.5.1.4.1.1.1"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = computed_radiography
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID, dataset.SOPInstanceUID = computed_radiography, meta.MediaStorageSOPInstanceUID
    dataset.Modality = "CR"
    dataset.Rows, dataset.Columns = pixels.shape
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, photometric
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, bits_stored, bits_stored - 1
    dataset.PixelRepresentation = 0
    if with_pixels:
        dataset.PixelData = pixels.astype("<u2").tobytes()
    if rescale is not None:
        dataset.RescaleSlope, dataset.RescaleIntercept = rescale
    if window is not None:
        dataset.WindowCenter, dataset.WindowWidth = window
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(path, enforce_file_format=True)
    return path


def edit_dicom(path: Path, **changes) -> Path:
    """Rewrite a DICOM file with some attributes changed (a value, or a transfer syntax)."""
    import pydicom

    dataset = pydicom.dcmread(path)
    syntax = changes.pop("TransferSyntaxUID", None)
    if syntax is not None:
        dataset.file_meta.TransferSyntaxUID = syntax
    for keyword, value in changes.items():
        setattr(dataset, keyword, value)
    dataset.save_as(path, enforce_file_format=True)
    return path


class FileServer:
    """Serves bytes on 127.0.0.1 with Range support and a given Content-Type; can cut a transfer once or answer 404."""

    def __init__(self):
        import http.server
        import threading

        self.files: dict[str, bytes] = {}
        self.types: dict[str, str] = {}  # Content-Type by path, where one is sent
        self.cut_once: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = int(self.headers["Range"].split("=")[1].split("-")[0]) if self.headers.get("Range") else 0
                self.send_response(206 if start else 200)
                if self.path in server.types:
                    self.send_header("Content-Type", server.types[self.path])
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if self.path in server.cut_once:
                    server.cut_once.discard(self.path)
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def file_server():
    server = FileServer()
    yield server
    server.close()


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in entries.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip_link(name: str, target: str):
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def zip_with_links(path: Path, entries) -> Path:
    """A zip of (name, bytes) files and (name, target text) symbolic links."""
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in entries:
            info, data = _zip_link(name, data) if isinstance(data, str) else (name, data)
            bundle.writestr(info, data)
    return path


def patch_zip_field(path: Path, offsets: tuple[int, int], value: int) -> Path:
    """Overwrite a 2-byte little-endian field (at its offset in the local and the central header) of a one-entry zip."""
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", offsets[0]), (b"PK\x01\x02", offsets[1])):
        start = data.find(signature)
        data[start + offset:start + offset + 2] = value.to_bytes(2, "little")
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="session")
def png_bomb(tmp_path_factory) -> Path:
    """A 16-bit PNG of one grey level, 9400 x 9400: under 200 kB on disk, 177 MB decoded (made once a session)."""
    return write_png(tmp_path_factory.mktemp("bomb") / "bomb.png", np.full((9400, 9400), 1000, dtype=np.uint16))
