"""Fetch public datasets over HTTPS into a data directory, with progress and a clear error when offline."""

from __future__ import annotations

import logging
import os
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from biosig.datasets.catalog import DatasetSpec
from biosig.errors import BiosigError

log = logging.getLogger(__name__)

_CHUNK = 1 << 16


class DownloadError(BiosigError):
    """A dataset file could not be fetched."""


def _fetch(url: str, dest: Path, timeout: float, progress: bool) -> None:
    """Download ``url`` to ``dest`` through a temporary file, so an interrupted download leaves nothing behind."""
    tmp = dest.with_name(dest.name + ".part")
    request = urllib.request.Request(url, headers={"User-Agent": "biosig-downloader"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress, leave=False) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
        os.replace(tmp, dest)
    except urllib.error.HTTPError as exc:
        tmp.unlink(missing_ok=True)
        raise DownloadError(
            f"could not download {url}: the server answered HTTP {exc.code} ({exc.reason}); "
            f"check {url.rsplit('/', 1)[0]} or fetch the file by hand and place it at {dest}"
        ) from exc
    except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"could not download {url}: {reason}. If this machine is offline, fetch the file elsewhere and "
            f"place it at {dest}, or point --data-dir / $BIOSIG_DATA at a folder that holds the dataset"
        ) from exc


def download_dataset(
    spec: DatasetSpec,
    data_dir: Path,
    *,
    overwrite: bool = False,
    timeout: float = 30.0,
    progress: bool = True,
) -> list[Path]:
    """Download the files of ``spec`` into ``data_dir/<spec.folder>``; returns the paths written or kept.

    Files already present are kept unless ``overwrite``. Tar archives are unpacked beside themselves.
    """
    if not spec.remote:
        raise DownloadError(f"dataset {spec.name!r} has no public download; see {spec.homepage}")
    root = data_dir / spec.folder
    paths: list[Path] = []
    for remote in tqdm(spec.remote, desc=f"download {spec.name}", unit="file", disable=not progress):
        dest = root / remote.relpath
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists() and not overwrite:
            log.info("keeping existing %s", dest)
        else:
            _fetch(remote.url, dest, timeout, progress)
        if dest.suffix == ".tar":
            with tarfile.open(dest) as archive:
                archive.extractall(root, filter="data")
        paths.append(dest)
    note = root / "SOURCE.md"
    if not note.exists():  # say where the files came from, as the shared data folders do
        note.write_text(
            f"# {spec.name}\n\n{spec.description}\n\nDownloaded by `biosig data download {spec.name}` "
            f"from {spec.homepage}\nLicence: {spec.licence}\n"
        )
    return paths
