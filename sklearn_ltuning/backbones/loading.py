"""Load a frozen backbone and its tokenizer once per process, and describe its shape."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from .families import family
from .registry import BackboneSource, registered, resolve_backbone

_LOADED: dict[tuple, BackboneHandle] = {}
#: Sentences on which a backbone's own scale is measured when new prefixes are sized
#: (:attr:`BackboneHandle.prefix_rms`, LT-prefix's initial output shift).
PROBE_TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the stage.",
)
_LOCK = threading.Lock()


def cache_home():
    """Folder where converted backbones (e.g. dequantized GGUF) are kept.

    ``$SKLEARN_LTUNING_HOME`` if set, else ``$XDG_CACHE_HOME/sklearn_ltuning`` or
    ``~/.cache/sklearn_ltuning``.
    """
    env = os.environ.get("SKLEARN_LTUNING_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (
        Path(xdg).expanduser() / "sklearn_ltuning"
        if xdg
        else Path.home() / ".cache" / "sklearn_ltuning"
    )


@dataclass(frozen=True)
class BackboneShape:
    """What the methods need to know about a backbone.

    Attributes
    ----------
    model_type : str
    is_decoder : bool
        True for causal decoders (GPT-2, Llama, Qwen2, ...): pool the last real token.
    n_layers, hidden_size, n_heads, n_kv_heads, head_dim : int
        ``n_kv_heads`` is smaller than ``n_heads`` under grouped-query attention;
        prefix keys and values are sized by it.
    max_positions : int
        How many positions the input (plus any prompt) may occupy.
    cache_arg : str or None
        Name of the forward argument that takes a key/value cache (``"cache"`` or
        ``"past_key_values"``), None if there is none.
    forward_args : frozenset of str
        Keyword arguments the model's forward accepts.
    prefix_path : {"cache", "hidden"} or None
        How prefixes enter every layer: as extra keys/values through the cache, or as
        per-layer hidden states of placeholder positions (models without a cache);
        None where no prefix can enter (prompt methods only).
        See :mod:`sklearn_ltuning.backbones.injection`.
    uses_token_types : bool
        Whether segment ids (``token_type_ids``) are passed to the model.
    position_offset : int
        First position id of a real token (RoBERTa-style models start after padding_idx).
    sliding_layers : bool
        Some layers attend within a sliding window (``config.layer_types``, e.g. Gemma 2
        and 3); a cache prefix then needs its own mask to stay visible in them.
    embedding_size : int
        Width of the input embeddings, where prompts live (ALBERT's is smaller than
        ``hidden_size``).
    gateable : bool
        A cache prefix can be read through a gate: the model runs SDPA attention
        through transformers' ``AttentionInterface``, which the gated attention
        replaces (:func:`~sklearn_ltuning.backbones.injection.use_gated_attention`).
    rotary : bool
        Positions enter as rotary embeddings (the model has a ``rotary_emb``), which
        take any position id, also the negative ones a gated prompt is read at
        (:func:`~sklearn_ltuning.backbones.injection.prompt_prefix`).
    """

    model_type: str
    is_decoder: bool
    n_layers: int
    hidden_size: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    max_positions: int
    cache_arg: str | None
    forward_args: frozenset = frozenset()
    prefix_path: str = "cache"
    embedding_size: int = 0
    uses_token_types: bool = False
    position_offset: int = 0
    sliding_layers: bool = False
    gateable: bool = False
    rotary: bool = False

    @property
    def prompt_gateable(self):
        """A prompt can be read through the gate: a causal, rotary, gateable model."""
        return self.gateable and self.is_decoder and self.rotary

    def gate_needs(self, injects):
        """What this backbone lacks to read a method's virtual tokens through a gate.

        The one rule behind every refusal of a gated read (at fit, at loading a model
        folder, and in :func:`~sklearn_ltuning.backbones.injection.run_backbone`).

        Parameters
        ----------
        injects : str
            The method's ``MethodSpec.injects`` (``"prefix"``, ``"prompt"``, ...).

        Returns
        -------
        need : str or None
            None where the gate can be read (or the method injects nothing to gate);
            otherwise the requirement, phrased to follow "needs".
        """
        if injects == "prompt" and not self.prompt_gateable:
            return (
                "a causal backbone with rotary positions whose attention is SDPA through "
                f"transformers' AttentionInterface; this backbone ({self.model_type!r}) has not"
            )
        if injects == "prefix" and not self.gateable:
            return (
                "a backbone whose prefix is a key/value cache read by SDPA attention "
                f"through transformers' AttentionInterface; this backbone ({self.model_type!r}, "
                f"prefix path {self.prefix_path!r}) has not"
            )
        return None


class BackboneHandle:
    """A loaded, frozen backbone shared read-only by every estimator in the process.

    It is not a registered submodule of the trainable modules, so it is never in
    their ``state_dict``, never seen by their optimizers, and pickles as its
    source only: unpickling re-resolves the weights through :func:`load_backbone`.

    Attributes
    ----------
    source : BackboneSource
    model : transformers.PreTrainedModel
        In eval mode, every parameter with ``requires_grad=False``.
    tokenizer : transformers.PreTrainedTokenizerBase
    shape : BackboneShape
    device : torch.device
    dtype : {"float32", "bfloat16", "float16", "auto"}
        As asked for at loading (``model.dtype`` is what ``"auto"`` became).
    load_in : {"8bit", "4bit"} or None
        bitsandbytes quantization of the weights.
    """

    def __init__(
        self, source, model, tokenizer, shape, device, trust_remote_code, dtype, load_in=None
    ):
        self.source = source
        self.model = model
        self.tokenizer = tokenizer
        self.shape = shape
        self.device = device
        self.trust_remote_code = trust_remote_code
        self.dtype = dtype
        self.load_in = load_in
        #: ``"int8"`` for the prediction copy made by :func:`int8_backbone`.
        self.quantized = None
        self._fingerprint = None
        self._prefix_rms = None
        self._weights_sha256 = False

    def __getstate__(self):
        return {
            "source": self.source,
            "device": str(self.device),
            "trust_remote_code": self.trust_remote_code,
            "dtype": self.dtype,
            "load_in": self.load_in,
        }

    def __setstate__(self, state):
        other = load_backbone(
            state["source"],
            device=state["device"],
            trust_remote_code=state["trust_remote_code"],
            dtype=state.get("dtype", "float32"),
            load_in=state.get("load_in"),
        )
        self.__dict__.update(other.__dict__)

    def __repr__(self):
        extra = "" if self.dtype == "float32" else f", dtype={self.dtype}"
        extra += "" if self.load_in is None else f", load_in={self.load_in}"
        name = self.source.name or self.source.path
        return f"BackboneHandle({name!r}, device={self.device}{extra})"

    @property
    def prefix_rms(self):
        """Root-mean-square of what a prefix stands in for, per layer and part.

        Measured once on a probe sentence (its first token left out: decoders park
        massive activations on it). Cache path: the backbone's own keys and values
        at every layer (part 0: keys, part 1: values); hidden path: the hidden
        states entering every layer (one part). New L-Tuning prefixes are scaled to
        it so that, from the first step, they weigh in attention like real tokens
        do. Decoders need the per-layer, per-part figure: SmolLM2's values are about
        0.04 at layer 0 and 2 at layer 24 while its keys stay near 2, so one global
        scale would swamp the first layers with prefix values.

        Returns
        -------
        rms : torch.Tensor of shape (n_layers, n_parts)
            ``n_parts`` is 2 on the cache path, 1 on the hidden path; the prefix
            width splits evenly into the parts.
        """
        if self._prefix_rms is None:
            import torch

            enc = self.tokenizer([PROBE_TEXTS[0]], return_tensors="pt").to(self.device)
            inputs = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
            with torch.no_grad():
                if self.shape.prefix_path == "cache":
                    from transformers import DynamicCache

                    cache = DynamicCache()
                    self.model(**inputs, **{self.shape.cache_arg: cache})
                    # (batch, n_kv_heads, length, head_dim) per layer and part
                    parts = [[layer.keys, layer.values] for layer in cache.layers]
                    position_dim = 2
                else:
                    states = self.model(**inputs, output_hidden_states=True).hidden_states
                    parts = [[states[i]] for i in range(self.shape.n_layers)]
                    position_dim = 1

            def rms(t):
                if t.shape[position_dim] > 1:
                    t = t.narrow(position_dim, 1, t.shape[position_dim] - 1)
                return t.float().pow(2).mean().sqrt()

            self._prefix_rms = torch.stack(
                [torch.stack([rms(t) for t in layer]) for layer in parts]
            ).cpu()
        return self._prefix_rms

    @property
    def pad_token_id(self):
        """Id used to pad inputs: the tokenizer's pad token when the model can embed it.

        Padded positions are masked, so any embeddable id works; some tokenizers
        define a pad token outside the checkpoint's embedding table.
        """
        pad = self.tokenizer.pad_token_id
        n_rows = self.model.get_input_embeddings().num_embeddings
        return pad if pad is not None and 0 <= pad < n_rows else 0

    @property
    def position_limit(self):
        """Most positions an input may occupy: the model's, or the tokenizer's if fewer."""
        limit = self.shape.max_positions
        model_max = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(model_max, int) and 0 < model_max < 1_000_000:
            limit = min(limit, model_max)
        return limit

    @property
    def weights_sha256(self):
        """SHA-256 of the weights file (:func:`weights_sha256`), or None."""
        if self._weights_sha256 is False:
            self._weights_sha256 = weights_sha256(self.source)
        return self._weights_sha256

    @property
    def fingerprint(self):
        """SHA-256 over the config and the weights, to recognise the same backbone later.

        Where the weights live is left out (the config's ``_name_or_path`` and the
        transformers version that wrote it), so a copy of the same weights in another
        folder or on another machine has the same fingerprint.
        """
        if self._fingerprint is None:
            import json

            config = self.model.config.to_dict()
            for key in ("_name_or_path", "transformers_version"):
                config.pop(key, None)
            digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
            for name, tensor in sorted(self.model.state_dict().items()):
                digest.update(name.encode())
                digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint


def weights_sha256(source):
    """SHA-256 of the weights file a local backbone loads from, without loading it.

    The file is the GGUF file of a quantized source, else ``model.safetensors``;
    ``None`` for hub ids and for folders that keep their weights otherwise (sharded
    or legacy formats), where only the full fingerprint after loading can tell.

    Parameters
    ----------
    source : BackboneSource

    Returns
    -------
    digest : str or None
    """
    folder = Path(source.path)
    path = folder / (source.gguf_file or "model.safetensors")
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_text_model(model):
    import torch

    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if not isinstance(embeddings, torch.nn.Embedding) or not hasattr(model.config, "vocab_size"):
        raise ValueError(
            f"backbone of type {type(model).__name__} is not a text model (it has no token "
            "embedding table); sklearn_ltuning needs an encoder or decoder language model."
        )


def _shape_of(model, tokenizer):
    """Describe the model: its family's facts (:mod:`.families`) and its config's sizes."""
    config = model.config
    model_type = getattr(config, "model_type", "unknown")
    facts = family(model_type)
    n_heads = int(config.num_attention_heads)
    hidden = int(config.hidden_size)
    n_kv = int(getattr(config, "num_key_value_heads", None) or n_heads)
    head_dim = int(getattr(config, "head_dim", None) or hidden // n_heads)
    max_pos = int(getattr(config, "max_position_embeddings", None) or 512)
    offset = 0
    if facts.positions == "after_padding":
        # The embeddings' own padding_idx: MPNet fixes it at 1 whatever the config's
        # pad_token_id says; RoBERTa takes it from the config.
        padding_idx = getattr(getattr(model, "embeddings", None), "padding_idx", None)
        if padding_idx is None:
            padding_idx = getattr(config, "pad_token_id", None)
        offset = (1 if padding_idx is None else int(padding_idx)) + 1
        max_pos -= offset
    params = inspect.signature(model.forward).parameters
    cache_arg = next((a for a in ("cache", "past_key_values") if a in params), None)
    prefix_path = facts.prefix_path
    if prefix_path is None:
        prefix_path = "cache" if cache_arg is not None else "hidden"
    uses_token_types = facts.token_types
    if uses_token_types is None:
        uses_token_types = (
            "token_type_ids" in params and int(getattr(config, "type_vocab_size", 0) or 0) >= 2
        )
    # A tokenizer that makes no segment ids gives the model none, whatever it takes.
    uses_token_types = bool(uses_token_types) and "token_type_ids" in getattr(
        tokenizer, "model_input_names", ()
    )
    from .injection import GATED_ATTENTION

    return BackboneShape(
        model_type=model_type,
        is_decoder=facts.decoder,
        n_layers=int(config.num_hidden_layers),
        hidden_size=hidden,
        n_heads=n_heads,
        n_kv_heads=n_kv,
        head_dim=head_dim,
        max_positions=max_pos,
        cache_arg=cache_arg,
        forward_args=frozenset(params),
        prefix_path=None if prefix_path == "none" else prefix_path,
        embedding_size=int(model.get_input_embeddings().embedding_dim),
        uses_token_types=uses_token_types,
        position_offset=offset,
        sliding_layers="sliding_attention" in (getattr(config, "layer_types", None) or ()),
        gateable=prefix_path == "cache"
        and getattr(config, "_attn_implementation", None) in ("sdpa", GATED_ATTENTION)
        and bool(getattr(model, "_can_set_attn_implementation", lambda: False)()),
        rotary=hasattr(model, "rotary_emb"),
    )


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' weight-loading progress bars and info logs."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    level = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _gguf_folder(source, trust_remote_code):
    """Dequantize a GGUF backbone once into a safetensors folder under :func:`cache_home`."""
    import importlib.util

    from transformers import AutoModel, AutoTokenizer

    gguf_path = Path(source.path) / source.gguf_file
    stat = gguf_path.stat()
    tag = hashlib.sha256(f"{gguf_path}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    target = cache_home() / "backbones" / f"{source.name or gguf_path.stem}-{tag}"
    if (target / "config.json").is_file():
        return target
    if importlib.util.find_spec("gguf") is None:
        spec = registered(source.name) if source.name else None
        command = spec.install if spec else "pip install 'sklearn-ltuning[gguf]'"
        raise ImportError(
            f"Backbone {source.name or gguf_path.name!r} is a GGUF file, which needs the "
            f"'gguf' extra to be read once (converted into {cache_home()}). Install it: "
            f"{command}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    try:
        quantized = AutoModel.from_pretrained(
            source.path, gguf_file=source.gguf_file, trust_remote_code=trust_remote_code
        )
        tokenizer = AutoTokenizer.from_pretrained(source.path, gguf_file=source.gguf_file)
        # transformers refuses to save a model loaded from GGUF; the dequantized
        # weights go into a plain model of the same config, which saves normally.
        config = quantized.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModel.from_config(config, trust_remote_code=trust_remote_code)
        model.load_state_dict(quantized.state_dict())
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def load_backbone(
    backbone, *, device="cpu", trust_remote_code=False, dtype="float32", load_in=None
):
    """Load (or reuse) a frozen backbone and its tokenizer.

    Within one process, each (source, device, dtype, quantization) is loaded once;
    later calls, such as the clones fitted by ``GridSearchCV``, get the same read-only
    handle.

    Parameters
    ----------
    backbone : str, os.PathLike or BackboneSource
        See :func:`~sklearn_ltuning.backbones.resolve_backbone`.
    device : str or torch.device, default="cpu"
        ``"auto"``: CUDA when available, else the CPU.
    trust_remote_code : bool, default=False
        Passed to ``from_pretrained``; off unless the user turns it on.
    dtype : {"float32", "bfloat16", "float16", "auto"}, default="float32"
        The weights' dtype (``"auto"``: the checkpoint's own). Trained maps stay
        float32 whatever it is.
    load_in : {"8bit", "4bit"}, default=None
        Quantize the weights with bitsandbytes while loading (CUDA and the
        ``bitsandbytes`` package required).

    Returns
    -------
    handle : BackboneHandle
    """
    import torch

    source = backbone if isinstance(backbone, BackboneSource) else resolve_backbone(backbone)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a torch device ({exc}); use 'cpu', 'cuda', "
            "'cuda:0', 'mps' or 'auto'."
        ) from None
    _check_loading_options(dtype, load_in, device)
    key = (source.key, str(device), bool(trust_remote_code), dtype, load_in)
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
        handle = _load_uncached(source, device, trust_remote_code, dtype, load_in)
        _LOADED[key] = handle
        return handle


#: ``dtype`` names and the torch dtypes they load as.
DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16", "auto": "auto"}


def _check_loading_options(dtype, load_in, device):
    """Refuse a dtype or quantization this machine cannot load, naming the fix."""
    import importlib.util

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}; got {dtype!r}.")
    if load_in is None:
        return
    if load_in not in ("8bit", "4bit"):
        raise ValueError(f"load_in must be None, '8bit' or '4bit'; got {load_in!r}.")
    if device.type != "cuda":
        raise ValueError(
            f"load_in={load_in!r} quantizes the backbone with bitsandbytes, which needs a "
            f"CUDA GPU; this backbone would load on {device}. Use device='cuda' on a GPU "
            "machine, or load_in=None here (dtype='bfloat16' halves the memory instead)."
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ValueError(
            f"load_in={load_in!r} needs the bitsandbytes package: pip install bitsandbytes"
        )


def _load_uncached(source, device, trust_remote_code, dtype="float32", load_in=None):
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = source.path
    kwargs = {"dtype": dtype if dtype == "auto" else getattr(torch, DTYPES[dtype])}
    if load_in is not None:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_8bit=load_in == "8bit",
            load_in_4bit=load_in == "4bit",
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        kwargs["device_map"] = {"": device}  # quantized weights cannot be moved afterwards
    with quiet_transformers():
        if source.gguf_file:
            path = str(_gguf_folder(source, trust_remote_code))
        try:
            model = AutoModel.from_pretrained(path, trust_remote_code=trust_remote_code, **kwargs)
        except (OSError, ValueError, KeyError) as exc:
            spec = registered(source.name) if source.name else None
            if spec is not None and path == spec.hub_id:
                # The weights package is missing and the hub copy is out of reach.
                raise ValueError(
                    f"Backbone {source.name!r} needs its weights package {spec.package!r}, "
                    f"which is not installed (and the hub copy {spec.hub_id} could not be "
                    f"loaded offline). Install it: {spec.install}"
                ) from None
            raise ValueError(
                f"Could not load backbone {source.name or source.path!r} from {path!r}: {exc}"
            ) from exc
        _check_text_model(model)
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"Backbone {source.name or source.path!r} has no usable tokenizer at {path!r}: "
                f"{exc}"
            ) from exc
    shape = _shape_of(model, tokenizer)
    if shape.prefix_path == "hidden":
        from .injection import install_hidden_prefix_hooks

        if not install_hidden_prefix_hooks(model):
            shape = replace(shape, prefix_path=None)
    if tokenizer.pad_token is None:
        # Decoders often ship without a pad token; padded positions are masked anyway.
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    tokenizer.padding_side = "right"
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    if load_in is None:
        model.to(device)
    return BackboneHandle(
        source, model, tokenizer, shape, device, trust_remote_code, dtype, load_in
    )


def int8_backbone(handle):
    """An int8 copy of a CPU backbone for prediction (dynamic quantization), once per process.

    The linear layers that read the hidden state (attention projections, the first
    feed-forward layer: ``in_features == hidden_size``) get int8 weights (per output
    channel) and activations quantized on the fly; the feed-forward down-projections,
    which read the wide activations after the nonlinearity with their outliers, stay
    float. On MiniLM-L6 quantizing those too moved the pooled embeddings to a cosine of
    0.93 with the float ones, against 0.985 without them (``BENCHMARKS.md``, "int8").
    A fresh load, not a copy of ``handle.model``: wrappers installed on the float
    model's layers must not reach the copy.

    Parameters
    ----------
    handle : BackboneHandle
        A float backbone on the CPU.

    Returns
    -------
    handle : BackboneHandle
        Same source, shape and tokenizer; ``quantized == "int8"``.
    """
    import warnings

    import torch

    if handle.device.type != "cpu" or handle.load_in is not None:
        raise ValueError(
            "predict_quantization='int8' quantizes the backbone for CPU prediction; this "
            f"model's backbone is on {handle.device}"
            + ("" if handle.load_in is None else f" and loaded in {handle.load_in}")
            + ". Use predict_quantization=None (on a GPU, dtype='bfloat16' is the fast path)."
        )
    key = ("int8", handle.source.key, handle.dtype, handle.trust_remote_code)
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
        fresh = _load_uncached(handle.source, handle.device, handle.trust_remote_code, "float32")
        d = handle.shape.hidden_size
        with warnings.catch_warnings():
            # PyTorch marks this API deprecated in favour of torchao, whose int8 path
            # has no CPU kernels here (20 times slower than float on MiniLM); this one
            # still runs, and faster than float.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
            except ImportError as exc:
                raise ValueError(
                    "predict_quantization='int8' needs PyTorch's dynamic quantization "
                    f"(torch.ao.quantization), which this PyTorch lacks: {exc}"
                ) from None
            spec = {
                name: per_channel_dynamic_qconfig
                for name, module in fresh.model.named_modules()
                if isinstance(module, torch.nn.Linear) and module.in_features == d
            }
            quantize_dynamic(fresh.model, spec, dtype=torch.qint8, inplace=True)
        fresh.quantized = "int8"
        _LOADED[key] = fresh
        return fresh


def clear_backbone_cache():
    """Forget every loaded backbone (frees memory once no estimator holds it)."""
    with _LOCK:
        _LOADED.clear()
