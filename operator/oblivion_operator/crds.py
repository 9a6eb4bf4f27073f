"""The CustomResourceDefinitions of the four kinds, read from the files that define them.

The YAML files in the repository's ``crds/`` folder are the single source of the platform's
Kubernetes API: the Helm chart, the tests and ``oblivion crds print`` all read them. An installed
wheel carries them as ``oblivion_operator/crds/`` (hatch force-include); a source or editable checkout
falls back to the repository's ``crds/`` folder.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from oblivion_operator.errors import OperatorError

logger = logging.getLogger(__name__)

GROUP = "oblivion.dev"

# One file per kind, named after the CRD; listed in the order a reader meets the kinds: the tenant
# first, then what lives inside it.
CRD_FILE_NAMES: tuple[str, ...] = (
    "workgroups.oblivion.dev.yaml",
    "projects.oblivion.dev.yaml",
    "agents.oblivion.dev.yaml",
    "toolcredentials.oblivion.dev.yaml",
)

_PACKAGED_DIR = Path(__file__).resolve().parent / "crds"
_SOURCE_DIR = Path(__file__).resolve().parents[2] / "crds"


class CrdFilesError(OperatorError):
    """The CRD files are missing or malformed; the message names the file."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={str(self.path)!r}, problem={self.problem!r})"


@dataclass(frozen=True)
class CrdSummary:
    """What `oblivion crds list` shows of one CRD."""

    name: str
    kind: str
    scope: str
    short_names: tuple[str, ...]
    versions: tuple[str, ...]


def crd_directory() -> Path:
    """The folder holding the CRD files: the wheel's copy when installed, else the checkout's."""
    for candidate in (_PACKAGED_DIR, _SOURCE_DIR):
        if (candidate / CRD_FILE_NAMES[0]).is_file():
            return candidate
    raise CrdFilesError(_PACKAGED_DIR, f"no CRD files here nor in {_SOURCE_DIR}; the installation is broken")


def crd_paths(directory: Path | None = None) -> list[Path]:
    """Paths of the four CRD files, in `CRD_FILE_NAMES` order."""
    folder = directory if directory is not None else crd_directory()
    paths = [folder / name for name in CRD_FILE_NAMES]
    for path in paths:
        if not path.is_file():
            raise CrdFilesError(path, "CRD file is missing")
    return paths


def crd_texts(directory: Path | None = None) -> list[str]:
    """The CRD files' contents exactly as written, comments included."""
    return [path.read_text(encoding="utf-8") for path in crd_paths(directory)]


def render_crd_stream(directory: Path | None = None) -> str:
    """All CRDs as one multi-document YAML stream for `kubectl apply -f -`.

    Each document is its file byte for byte; documents are separated by a `---` line.
    """
    texts = crd_texts(directory)
    return "---\n".join(text if text.endswith("\n") else text + "\n" for text in texts)


def load_crds(directory: Path | None = None) -> list[dict[str, Any]]:
    """The CRDs as parsed objects, each checked to be a CustomResourceDefinition of our group."""
    crds: list[dict[str, Any]] = []
    for path in crd_paths(directory):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise CrdFilesError(path, f"not valid YAML: {e}") from e
        if not isinstance(document, dict) or document.get("kind") != "CustomResourceDefinition":
            raise CrdFilesError(path, "not a CustomResourceDefinition")
        if document.get("spec", {}).get("group") != GROUP:
            raise CrdFilesError(path, f"group is not {GROUP}")
        crds.append(document)
    logger.debug("loaded %d CRDs from %s", len(crds), crd_paths(directory)[0].parent)
    return crds


def summarize_crd(crd: dict[str, Any]) -> CrdSummary:
    """Name, kind, scope, short names and served versions of one parsed CRD."""
    spec = crd["spec"]
    names = spec["names"]
    return CrdSummary(
        name=crd["metadata"]["name"],
        kind=names["kind"],
        scope=spec["scope"],
        short_names=tuple(names.get("shortNames", ())),
        versions=tuple(v["name"] for v in spec["versions"] if v.get("served")),
    )
